//! Namespaces: their definitions (handlers, middleware) and their live sockets.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    sync::Arc,
};

use dashmap::DashMap;
use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;

use super::{
    broadcast::{BroadcastOperator, IntoRooms},
    cluster::{
        AwaitingAcks, BoxedServerHandler, ClusterAdapter, ClusterError, ClusterPacket,
        FetchedSocket, ServerResponses,
    },
    event::{BoxedHandler, BoxedMiddleware},
    gate::EventGate,
    rooms::{BroadcastOptions, Room, RoomIndex},
    socket::{client_room, EmitError, Socket},
};
use crate::{
    config::Config,
    wire::{
        codec::{self, Codec, Frames},
        payload::{Payload, SocketId},
    },
};

/// A refusal from connection middleware. Socket.IO clients receive it as `connect_error`
/// with `err.message` and `err.data`; plain WebSocket clients as a close with the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    pub message: String,
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Attaches structured data (`err.data` on the client).
    pub fn with_data(mut self, data: impl Serialize) -> ConnectError {
        self.data = serde_json::to_value(data).ok();
        self
    }

    /// The CONNECT_ERROR body: `{"message": ..., "data": ...}`, in the reference order.
    pub(crate) fn body(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct Body<'a> {
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
        }
        Body {
            message: &self.message,
            data: self.data.as_ref(),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// The connection lifecycle events a namespace can have handlers for (weroll's event list,
/// in Rust names). The shakehand events fire from the `$init` session handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lifecycle {
    /// A socket joined the namespace (weroll's `connection`).
    Connect,
    /// A socket left the namespace, for whatever reason (`disconnect`).
    Disconnect,
    /// The client asked to shake hands (`shakeHandStart`).
    ShakehandStart,
    /// The handshake was processed; `Data<bool>` says whether it succeeded
    /// (`shakeHandComplete`).
    ShakehandComplete,
    /// The handshake succeeded, or no handshake is required (`shakeHandSuccess`).
    ShakehandSuccess,
    /// The handshake failed or timed out (`shakeHandFail`).
    ShakehandFail,
}

impl Lifecycle {
    const ALL: [Lifecycle; 6] = [
        Lifecycle::Connect,
        Lifecycle::Disconnect,
        Lifecycle::ShakehandStart,
        Lifecycle::ShakehandComplete,
        Lifecycle::ShakehandSuccess,
        Lifecycle::ShakehandFail,
    ];

    /// The name handlers of this event see as their `Event`.
    pub fn event_name(self) -> &'static str {
        match self {
            Lifecycle::Connect => "connection",
            Lifecycle::Disconnect => "disconnect",
            Lifecycle::ShakehandStart => "shakeHandStart",
            Lifecycle::ShakehandComplete => "shakeHandComplete",
            Lifecycle::ShakehandSuccess => "shakeHandSuccess",
            Lifecycle::ShakehandFail => "shakeHandFail",
        }
    }

    pub(crate) fn index(self) -> usize {
        Lifecycle::ALL
            .iter()
            .position(|l| *l == self)
            .expect("listed in ALL")
    }
}

/// What a handler is registered for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// An event sent by clients.
    Event(Cow<'static, str>),
    /// A connection lifecycle event.
    Lifecycle(Lifecycle),
    /// Events no other handler takes.
    Fallback,
}

/// What a namespace does: its handlers and middleware. Dynamic namespaces share one.
#[derive(Default)]
pub(crate) struct NamespaceDef {
    pub(crate) handlers: HashMap<Arc<str>, BoxedHandler>,
    pub(crate) lifecycle: [Option<BoxedHandler>; 6],
    pub(crate) fallback: Option<BoxedHandler>,
    pub(crate) middleware: Vec<BoxedMiddleware>,
    /// Handlers of server-side events from other nodes (`serverSideEmit`).
    pub(crate) server_events: HashMap<Arc<str>, BoxedServerHandler>,
    /// A feature's check of every socket and event of this namespace (weroll's `$init`):
    /// the namespace's own, or the server-wide one, settled by `RealtimeBuilder::build`.
    pub(crate) gate: Option<Arc<dyn EventGate>>,
}

impl NamespaceDef {
    /// The handler for a lifecycle event, if any.
    pub(crate) fn lifecycle(&self, event: Lifecycle) -> Option<&BoxedHandler> {
        self.lifecycle[event.index()].as_ref()
    }
}

/// Server-wide things every namespace can reach.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) state: http::Extensions,
    /// Server-wide connection middleware, run before each namespace's own.
    pub(crate) middleware: Vec<BoxedMiddleware>,
    /// Every handler task that awaits, so a graceful shutdown can wait for them.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// The cluster this node is part of, if any.
    pub(crate) cluster: Option<Arc<dyn ClusterAdapter>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("middleware", &self.middleware.len())
            .finish()
    }
}

/// What follows an event's arguments: an ack request, or a recovery offset (never both: an
/// event that waits for an ack is not recoverable).
#[derive(Clone, Copy)]
enum Tail<'a> {
    None,
    Ack(u64),
    Offset(&'a str),
}

/// Called when the last user of a dynamic namespace left, with the namespace's name.
pub(crate) type EmptyHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A live namespace: its sockets and rooms.
pub struct Namespace {
    name: Arc<str>,
    pub(crate) def: Arc<NamespaceDef>,
    sockets: DashMap<SocketId, Socket>,
    /// Room membership on this node.
    pub(crate) rooms: RoomIndex,
    pub(crate) shared: Arc<Shared>,
    /// Ack ids of this namespace's packets, shared by all its sockets as in socket.io, so
    /// one broadcast packet (one encoding) can carry one ack id to every recipient.
    next_ack: std::sync::atomic::AtomicU64,
    /// Sockets of this namespace that are connected or being admitted. Counted for dynamic
    /// namespaces, which are removed when it drops to zero (see `on_empty`).
    users: std::sync::atomic::AtomicUsize,
    /// For a dynamic namespace that is removed once empty: how to remove it.
    on_empty: Option<EmptyHook>,
    /// Connection state recovery's log of broadcasts and dropped sockets, when it is on.
    pub(crate) recovery: Option<super::recovery::RecoveryLog>,
    /// Whether recovery's history and sessions live in the cluster adapter's store rather
    /// than in `recovery`'s memory (see [`ClusterAdapter::stores_sessions`]): then a client
    /// may come back to any node.
    recovery_in_cluster: bool,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: &str,
        def: Arc<NamespaceDef>,
        shared: Arc<Shared>,
        on_empty: Option<EmptyHook>,
    ) -> Arc<Namespace> {
        Arc::new(Namespace {
            name: Arc::from(name),
            def,
            sockets: DashMap::new(),
            rooms: RoomIndex::new(),
            shared: shared.clone(),
            next_ack: std::sync::atomic::AtomicU64::new(0),
            users: std::sync::atomic::AtomicUsize::new(0),
            on_empty,
            recovery: shared
                .config
                .connection_state_recovery
                .clone()
                .map(super::recovery::RecoveryLog::new),
            recovery_in_cluster: shared.config.connection_state_recovery.is_some()
                && shared.cluster.as_ref().is_some_and(|c| c.stores_sessions()),
        })
    }

    /// Counts a new socket as a user. Called while the server's namespace table is locked,
    /// so that a namespace found there cannot be removed before its new user is counted.
    pub(crate) fn add_user(&self) {
        self.users.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// A socket left for good (disconnected, or refused while being admitted).
    pub(crate) fn remove_user(&self) {
        let left = self.users.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) - 1;
        if left == 0 {
            if let Some(on_empty) = &self.on_empty {
                on_empty(&self.name);
            }
        }
    }

    /// Whether no socket is connected to, or joining, this namespace.
    pub(crate) fn unused(&self) -> bool {
        self.users.load(std::sync::atomic::Ordering::Acquire) == 0
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of connected sockets (on this node).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// A connected socket by id.
    pub fn socket(&self, id: SocketId) -> Option<Socket> {
        self.sockets.get(&id).map(|s| s.clone())
    }

    /// Every connected socket (on this node).
    pub fn sockets(&self) -> Vec<Socket> {
        self.sockets.iter().map(|s| s.clone()).collect()
    }

    /// Every room with at least one member on this node (see [`Namespace::all_rooms`] for
    /// the whole cluster).
    pub fn rooms(&self) -> Vec<Room> {
        self.rooms.all_rooms()
    }

    /// A fresh ack id for a packet of this namespace.
    pub(crate) fn next_ack_id(&self) -> u64 {
        self.next_ack
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The cluster adapter, unless there is none.
    pub(crate) fn cluster(&self) -> Option<&Arc<dyn ClusterAdapter>> {
        self.shared.cluster.as_ref()
    }

    pub(crate) fn insert_socket(&self, socket: Socket) {
        self.sockets.insert(socket.id(), socket);
    }

    pub(crate) fn remove_socket(&self, id: SocketId) {
        self.sockets.remove(&id);
    }

    /// Broadcast to the given rooms.
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).to(rooms)
    }

    /// A broadcast to every socket of the namespace, to narrow down:
    /// `ns.broadcast().to("a").except("b").emit(..)`.
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default())
    }

    /// A broadcast to the sockets of this node only, even with a cluster adapter.
    pub fn local(self: &Arc<Self>) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// A broadcast whose acks are awaited for at most `timeout` (see
    /// [`BroadcastOperator::emit_with_ack`]).
    pub fn timeout(self: &Arc<Self>, timeout: std::time::Duration) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).timeout(timeout)
    }

    /// Every socket of the namespace on every node: id, rooms, handshake and data.
    pub async fn fetch_sockets(self: &Arc<Self>) -> Result<Vec<FetchedSocket>, ClusterError> {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default())
            .fetch_sockets()
            .await
    }

    /// Every room with a member on any node, the room of each socket's own id included (as
    /// socket.io's `allRooms()` lists them).
    pub async fn all_rooms(self: &Arc<Self>) -> Result<Vec<Room>, ClusterError> {
        let mut rooms = self.local_rooms();
        if let Some(cluster) = self.cluster() {
            let mut seen: HashSet<Room> = rooms.iter().cloned().collect();
            for room in cluster.all_rooms(&self.name).await? {
                if seen.insert(room.clone()) {
                    rooms.push(room);
                }
            }
        }
        Ok(rooms)
    }

    /// The rooms with a member on this node, socket-id rooms included.
    pub(crate) fn local_rooms(&self) -> Vec<Room> {
        let mut rooms = self.rooms.all_rooms();
        rooms.extend(self.sockets.iter().map(|s| Room::from(s.key().as_str())));
        rooms
    }

    /// How many nodes serve this namespace, this one included (1 without a cluster).
    pub async fn server_count(&self) -> Result<usize, ClusterError> {
        match self.cluster() {
            Some(cluster) => cluster.server_count(&self.name).await,
            None => Ok(1),
        }
    }

    /// Emits a server-side event to the other nodes of the cluster (socket.io's
    /// `serverSideEmit`); their `on_server_event` handlers receive it. Without a cluster there
    /// is nobody to receive it.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let packet = self.cluster_packet(event, Payload::from_value(serde_json::to_value(data)?));
        if let Some(cluster) = self.cluster() {
            cluster.server_side_emit(&packet);
        }
        Ok(())
    }

    /// Emits a server-side event to the other nodes and waits for each one's answer (at
    /// most the adapter's request timeout; on timeout, the answers that came). Without a
    /// cluster there are no other nodes: no answers.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<ServerResponses, ClusterError> {
        let payload = Payload::from_value(
            serde_json::to_value(data)
                .map_err(|e| ClusterError::Unavailable(e.to_string().into()))?,
        );
        match self.cluster() {
            Some(cluster) => {
                cluster
                    .server_side_emit_with_ack(&self.cluster_packet(event, payload))
                    .await
            }
            None => Ok(ServerResponses::default()),
        }
    }

    pub(crate) fn cluster_packet(&self, event: &str, payload: Payload) -> ClusterPacket {
        ClusterPacket {
            nsp: self.name.clone(),
            event: event.to_owned(),
            payload,
        }
    }

    /// Whether connection state recovery keeps its history and sessions in the cluster
    /// adapter's store (a client may come back to any node).
    pub(crate) fn recovery_in_cluster(&self) -> bool {
        self.recovery_in_cluster
    }

    /// Delivers a broadcast the cluster stored under `offset` to the local sockets `opts`
    /// selects: with recovery on, encoded once with the offset appended (what Socket.IO
    /// clients remember). Without an offset (not stored), delivered as any broadcast.
    pub(crate) fn deliver_stored(
        &self,
        event: &str,
        payload: &Payload,
        opts: &BroadcastOptions,
        offset: Option<&str>,
    ) -> Result<usize, EmitError> {
        let recipients = self.recipients(opts);
        match offset {
            Some(offset) if self.recovery.is_some() && !opts.volatile => {
                let with_offset = payload.clone().arg(offset)?;
                let sio = self.encode(Codec::SocketIo, event, &with_offset, None)?;
                self.send_frames(
                    &recipients,
                    &sio,
                    event,
                    payload,
                    Tail::Offset(offset),
                    false,
                );
            }
            _ => self.deliver_to(&recipients, event, payload, opts.volatile, None)?,
        }
        Ok(recipients.len())
    }

    /// Delivers an event to the local sockets `opts` selects. Returns how many it reached.
    pub(crate) fn deliver(
        &self,
        event: &str,
        payload: &Payload,
        opts: &BroadcastOptions,
    ) -> Result<usize, EmitError> {
        match &self.recovery {
            // Recoverable: encoded once with its offset appended (for Socket.IO clients,
            // which remember it), and kept for the sockets that may come back; its
            // recipients are picked under the log's lock (see `RecoveryLog`). (With the
            // history in the cluster, offsets come from there: `deliver_stored`.)
            Some(log) if !opts.volatile && !self.recovery_in_cluster => {
                let (recipients, sio, offset) = log.record(event, payload, opts, |offset| {
                    let recipients = self.recipients(opts);
                    let offset = offset.to_string();
                    let with_offset = payload.clone().arg(&offset)?;
                    let sio = self.encode(Codec::SocketIo, event, &with_offset, None)?;
                    Ok::<_, EmitError>(((recipients, sio.clone(), offset), sio))
                })?;
                self.send_frames(
                    &recipients,
                    &sio,
                    event,
                    payload,
                    Tail::Offset(&offset),
                    false,
                );
                Ok(recipients.len())
            }
            _ => {
                let recipients = self.recipients(opts);
                self.deliver_to(&recipients, event, payload, opts.volatile, None)?;
                Ok(recipients.len())
            }
        }
    }

    /// A recoverable event for a plain WebSocket client: its arguments, then
    /// `{"$offset": offset}` (the plain form of the offset Socket.IO clients get as a bare
    /// last argument; see the plain WebSocket docs).
    pub(crate) fn encode_plain_recoverable(
        &self,
        event: &str,
        payload: &Payload,
        offset: &str,
    ) -> Result<Frames, EmitError> {
        let with_offset = payload
            .clone()
            .arg(serde_json::json!({ "$offset": offset }))?;
        self.encode(Codec::Plain, event, &with_offset, None)
    }

    fn encode(
        &self,
        codec: Codec,
        event: &str,
        payload: &Payload,
        ack_id: Option<u64>,
    ) -> Result<Frames, EmitError> {
        Ok(codec::encode_event(
            codec,
            &self.name,
            event,
            payload.raw_args(),
            payload.binary(),
            ack_id,
        )?)
    }

    /// Sends `sio` to the Socket.IO recipients, and `payload` encoded for plain clients to
    /// the plain ones (encoded only if there is one), with its ack id or its recovery
    /// offset in the plain form (see `encode_plain_recoverable`).
    fn send_frames(
        &self,
        recipients: &[Socket],
        sio: &Frames,
        event: &str,
        payload: &Payload,
        tail: Tail<'_>,
        volatile: bool,
    ) {
        // Encoded when a recipient needs it: without the offset, and with it for plain
        // clients that asked for recovery's plain form.
        let plain: std::sync::OnceLock<Option<Frames>> = std::sync::OnceLock::new();
        let plain_with_offset: std::sync::OnceLock<Option<Frames>> = std::sync::OnceLock::new();
        for socket in recipients {
            let frames = match (socket.codec(), tail) {
                (Codec::SocketIo, _) => Some(sio),
                (Codec::Plain, Tail::Offset(offset)) if socket.plain_offsets() => plain_with_offset
                    .get_or_init(|| self.encode_plain_recoverable(event, payload, offset).ok())
                    .as_ref(),
                (Codec::Plain, _) => plain
                    .get_or_init(|| {
                        let ack_id = match tail {
                            Tail::Ack(id) => Some(id),
                            _ => None,
                        };
                        self.encode(Codec::Plain, event, payload, ack_id).ok()
                    })
                    .as_ref(),
            };
            if let Some(frames) = frames {
                socket.deliver(frames, volatile);
            }
        }
    }

    /// Delivers an event to `recipients`: encoded once per codec in use, the bytes shared by
    /// every recipient. Fails before delivering anything if the payload cannot be encoded.
    fn deliver_to(
        &self,
        recipients: &[Socket],
        event: &str,
        payload: &Payload,
        volatile: bool,
        ack_id: Option<u64>,
    ) -> Result<(), EmitError> {
        let sio = self.encode(Codec::SocketIo, event, payload, ack_id)?;
        let tail = match ack_id {
            Some(id) => Tail::Ack(id),
            None => Tail::None,
        };
        self.send_frames(recipients, &sio, event, payload, tail, volatile);
        tracing::trace!(
            ns = %self.name,
            event,
            recipients = recipients.len(),
            "broadcast"
        );
        Ok(())
    }

    /// Delivers an event whose recipients ack it: one ack id for all (one encoding), each
    /// recipient's ack (its first argument) sent to `acks`.
    pub(crate) fn deliver_with_ack(
        &self,
        event: &str,
        payload: &Payload,
        opts: &BroadcastOptions,
        acks: super::cluster::AckSink,
    ) -> Result<AwaitingAcks, EmitError> {
        let id = self.next_ack_id();
        let recipients = self.recipients(opts);
        // Registered before sending, so that no ack can arrive before it is awaited.
        for socket in &recipients {
            socket.expect_broadcast_ack(id, acks.clone());
        }
        let awaiting = AwaitingAcks {
            id,
            sockets: recipients,
        };
        self.deliver_to(&awaiting.sockets, event, payload, opts.volatile, Some(id))?;
        Ok(awaiting)
    }

    /// Broadcast to every socket except those in the given rooms.
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).except(rooms)
    }

    /// Broadcast to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).emit(event, data)
    }

    /// Sends `event` to every socket whose client id is `client_id` (see
    /// [`Socket::set_client_id`]); a socket that never set one answers to its socket id.
    pub fn send_to<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        client_id: &str,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let mut rooms: Vec<Room> = vec![client_room(client_id)];
        if SocketId::parse(client_id).is_some() {
            rooms.push(Room::from(client_id));
        }
        self.to(rooms).emit(event, data)
    }

    /// Broadcast a payload (several arguments, binary) to every socket of the namespace.
    pub fn emit_payload(self: &Arc<Self>, event: &str, payload: &Payload) -> Result<(), EmitError> {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default())
            .emit_payload(event, payload)
    }

    /// The local sockets selected by `opts`, each once.
    ///
    /// Resolved in two short steps, each under its own lock and none held afterwards: the
    /// excepted sockets once per broadcast, then the recipients. Delivery happens on the
    /// returned snapshot, so a broadcast to a large room never holds up joins, leaves or
    /// other broadcasts, and never takes a lock a second time from inside another.
    pub(crate) fn recipients(&self, opts: &BroadcastOptions) -> Vec<Socket> {
        let excluded: HashSet<SocketId> = if opts.except.is_empty() {
            HashSet::new()
        } else {
            let mut set: HashSet<SocketId> = self.rooms.members(&opts.except).into_iter().collect();
            // Each socket is implicitly in the room named by its id.
            set.extend(opts.except.iter().filter_map(|r| SocketId::parse(r)));
            set
        };
        let skip = |id: SocketId| opts.except_socket == Some(id) || excluded.contains(&id);
        if opts.rooms.is_empty() {
            return self
                .sockets
                .iter()
                .filter(|s| !skip(*s.key()))
                .map(|s| s.value().clone())
                .collect();
        }
        let mut ids = self.rooms.members(&opts.rooms);
        // `io.to(socket_id)`: a socket id room reaches that socket, once.
        let id_rooms: SmallVec<[SocketId; 2]> = opts
            .rooms
            .iter()
            .filter_map(|r| SocketId::parse(r))
            .collect();
        if !id_rooms.is_empty() {
            let mut seen: HashSet<SocketId> = ids.iter().copied().collect();
            ids.extend(id_rooms.into_iter().filter(|id| seen.insert(*id)));
        }
        ids.into_iter()
            .filter(|id| !skip(*id))
            .filter_map(|id| self.sockets.get(&id).map(|s| s.value().clone()))
            .collect()
    }
}
