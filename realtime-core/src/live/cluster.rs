//! The seam between this node and a cluster of nodes.
//!
//! A broadcast walks this node's [`RoomIndex`](super::rooms::RoomIndex) synchronously and
//! delivers to the local recipients; everything that must reach other nodes is handed to a
//! [`ClusterAdapter`]: one per server, asynchronous, owning its connections (Redis for
//! [`RedisAdapter`](crate::cluster::RedisAdapter)). The adapter sees packets in a
//! codec-neutral form ([`ClusterPacket`]: each node encodes for its own clients) and reaches
//! back into this node through [`LocalNode`], to deliver other nodes' broadcasts and answer
//! their requests.
//!
//! Without an adapter a server is a cluster of one: every call below works and answers for
//! this node alone, so handler code does not change when a cluster is turned on.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Weak},
    time::Duration,
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{
    core::Core,
    event::BoxFuture,
    namespace::Namespace,
    rooms::{BroadcastOptions, Room},
    socket::{EmitError, Socket},
};
use crate::wire::payload::{Payload, SocketId};

/// A future an adapter returns: owned, so callers need not keep the adapter borrowed.
pub type ClusterFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a cluster operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Some nodes did not answer in time.
    #[error("{missing} of {expected} other nodes did not answer within {timeout:?}")]
    Timeout {
        timeout: Duration,
        expected: usize,
        missing: usize,
    },
    /// The cluster's transport (Redis) cannot be reached; this node's part still works.
    #[error("the cluster is unreachable: {0}")]
    Unavailable(Arc<str>),
}

/// An event crossing nodes: the namespace, the event and its arguments (binary attachments
/// included). No ack id: each node numbers its own acks.
#[derive(Debug, Clone)]
pub struct ClusterPacket {
    pub nsp: Arc<str>,
    pub event: String,
    pub payload: Payload,
}

/// What the requester of a broadcast with acks learns, from this node and the others.
#[derive(Debug)]
#[non_exhaustive]
pub enum AckEvent {
    /// One node sent the broadcast to this many clients (each owes one ack).
    Clients(usize),
    /// There are this many other nodes, each of which will report [`AckEvent::Clients`].
    Servers(usize),
    /// A client's ack: its first argument, as socket.io's broadcast acks carry.
    Response(Payload),
}

/// Where acks of a broadcast are sent. Unbounded, but never holds more than one message
/// per recipient and one per node.
pub type AckSink = mpsc::UnboundedSender<AckEvent>;

/// A socket as other nodes see it: what socket.io's `fetchSockets()` returns (Node's
/// `RemoteSocket` has the same fields, and Node nodes send and accept this very shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SocketDetails {
    /// The socket id.
    pub id: String,
    /// The HTTP request that opened the connection, in socket.io's format.
    pub handshake: Handshake,
    /// The rooms the socket is in, its own id first (socket.io's `socket.rooms`).
    #[serde(default)]
    pub rooms: Vec<String>,
    /// What the application stored with [`Socket::set_data`] (`socket.data` in Node).
    #[serde(default)]
    pub data: Value,
}

/// socket.io's `socket.handshake`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Handshake {
    /// Request headers, lower-case names; repeated headers joined with `, `.
    pub headers: Map<String, Value>,
    /// When the connection opened, as JavaScript's `Date#toString`.
    pub time: String,
    /// The peer's IP address.
    pub address: String,
    /// Whether the request was cross-origin (had an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection was encrypted.
    pub secure: bool,
    /// When the connection opened, in milliseconds since the epoch.
    pub issued: f64,
    /// The request path and query.
    pub url: String,
    /// The query parameters.
    pub query: Map<String, Value>,
    /// The `auth` object of the client's CONNECT.
    pub auth: Map<String, Value>,
}

/// A server-side event from another node (`serverSideEmit`), as its handler receives it.
pub struct ServerEvent {
    pub(crate) namespace: Arc<Namespace>,
    pub(crate) event: String,
    pub(crate) payload: Payload,
    pub(crate) reply: Option<ServerReply>,
}

/// Sends a node's answer to a `server_side_emit_with_ack` back to the asking node.
pub type ServerReply = Box<dyn FnOnce(Payload) + Send>;

impl std::fmt::Debug for ServerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvent")
            .field("namespace", &self.namespace.name())
            .field("event", &self.event)
            .field("wants_reply", &self.reply.is_some())
            .finish()
    }
}

impl ServerEvent {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The namespace the event was emitted in.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.namespace
    }

    /// The event's arguments.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The first argument, deserialized.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.payload.get(0)
    }

    /// Whether the sending node waits for an answer.
    pub fn wants_reply(&self) -> bool {
        self.reply.is_some()
    }

    /// Answers the sending node (once; socket.io carries one value per node). Does nothing if
    /// it did not ask for an answer.
    pub fn reply<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        let payload = Payload::from_value(serde_json::to_value(value)?);
        if let Some(reply) = self.reply.take() {
            reply(payload);
        }
        Ok(())
    }
}

/// Answers of the other nodes to a server-side emit with ack.
#[derive(Debug, Clone, Default)]
pub struct ServerResponses {
    /// One answer per node that answered.
    pub responses: Vec<Payload>,
    /// How many nodes were asked.
    pub expected: usize,
}

impl ServerResponses {
    /// Whether every node answered.
    pub fn complete(&self) -> bool {
        self.responses.len() >= self.expected
    }

    /// Each answer's value, deserialized.
    pub fn values<T: DeserializeOwned>(&self) -> Result<Vec<T>, serde_json::Error> {
        self.responses.iter().map(|p| p.get(0)).collect()
    }
}

/// What a socket that dropped leaves for its return, when connection state recovery keeps
/// it in the cluster's store (socket.io's `Session`: Node nodes write and read this shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionState {
    /// Its socket id.
    pub sid: String,
    /// Its private id: what the client presents to come back.
    pub pid: String,
    /// Its rooms, its own id's first.
    pub rooms: Vec<String>,
    /// Its application data ([`Socket::set_data`]); `null` when it has none.
    #[serde(default)]
    pub data: Value,
}

/// Delivers a broadcast on this node without an offset: what an adapter that stores
/// broadcasts calls when it cannot store one (see [`ClusterAdapter::broadcast_stored`]).
pub type Undelivered = Box<dyn FnOnce() + Send>;

/// The cross-node work of a cluster: one per server, shared by its namespaces.
///
/// Fire-and-forget operations (`broadcast`, `add_sockets`, ...) are synchronous and must be
/// cheap: encode once and hand the message to a bounded publisher. Requests return owned
/// futures. Every operation concerns the *other* nodes: the namespace has already done this
/// node's part when it calls the adapter.
pub trait ClusterAdapter: Send + Sync + 'static {
    /// Starts the adapter (connects, subscribes) in the background; called once, from
    /// `build()`, inside a Tokio runtime. `node` is how other nodes' messages reach this one.
    fn start(&self, node: LocalNode) -> Result<(), ClusterError>;
    /// Resolves once the adapter receives other nodes' messages (or fails to within its
    /// request timeout). Serving waits for it, so the first clients miss nothing.
    fn ready(&self) -> ClusterFuture<Result<(), ClusterError>>;
    /// Stops: unsubscribes and closes the adapter's connections.
    fn close(&self) -> ClusterFuture<()>;

    /// A namespace came into being on this node (a fixed one at start, or a dynamic one).
    fn add_namespace(&self, nsp: &str);
    /// A dynamic namespace was removed from this node.
    fn remove_namespace(&self, nsp: &str);

    /// Sends a broadcast to the other nodes.
    fn broadcast(&self, packet: &ClusterPacket, opts: &BroadcastOptions);
    /// Sends a broadcast whose recipients ack it; each other node reports how many clients
    /// it reached, then their acks, to `acks`, for at most `timeout`.
    fn broadcast_with_ack(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
        acks: AckSink,
    );
    /// Makes the sockets `opts` selects on other nodes join `rooms`.
    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]);
    /// Makes the sockets `opts` selects on other nodes leave `rooms`.
    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]);
    /// Disconnects the sockets `opts` selects on other nodes (`close`: their whole
    /// connection).
    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool);
    /// The sockets `opts` selects on other nodes.
    fn fetch_sockets(
        &self,
        nsp: &str,
        opts: &BroadcastOptions,
    ) -> ClusterFuture<Result<Vec<SocketDetails>, ClusterError>>;
    /// The rooms of other nodes.
    fn all_rooms(&self, nsp: &str) -> ClusterFuture<Result<Vec<Room>, ClusterError>>;
    /// Emits a server-side event to the other nodes.
    fn server_side_emit(&self, packet: &ClusterPacket);
    /// Emits a server-side event to the other nodes and gathers one answer from each; on
    /// timeout, the answers that came.
    fn server_side_emit_with_ack(
        &self,
        packet: &ClusterPacket,
    ) -> ClusterFuture<Result<ServerResponses, ClusterError>>;
    /// How many nodes serve `nsp`, this one included.
    fn server_count(&self, nsp: &str) -> ClusterFuture<Result<usize, ClusterError>>;

    /// Whether this adapter keeps broadcasts and sessions for connection state recovery
    /// across nodes (a client may come back to any node). When it does and recovery is on,
    /// recoverable broadcasts go through [`broadcast_stored`](Self::broadcast_stored) and
    /// sessions through [`save_session`](Self::save_session),
    /// [`restore_session`](Self::restore_session) and [`replay`](Self::replay); otherwise
    /// each node keeps its own history in memory (a client must come back to the same
    /// node).
    fn stores_sessions(&self) -> bool {
        false
    }
    /// Stores a recoverable broadcast and sends it to every node, this one included: the
    /// adapter delivers it here through [`LocalNode::broadcast_stored`] with the offset it
    /// was stored under, in the store's order (so every node's clients see one offset per
    /// broadcast). If it cannot be stored, `undelivered` delivers it here without one.
    fn broadcast_stored(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        undelivered: Undelivered,
    ) {
        self.broadcast(packet, opts);
        undelivered();
    }
    /// Keeps a dropped socket's session for `ttl`.
    fn save_session(&self, nsp: &str, session: SessionState, ttl: Duration) {
        let _ = (nsp, session, ttl);
    }
    /// Takes the session saved under `pid` (a session is restored once), if the broadcast
    /// at `offset` is still stored (else the client would miss what was dropped): `None`
    /// makes the client a new socket.
    fn restore_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
    ) -> ClusterFuture<Option<SessionState>> {
        let _ = (nsp, pid, offset);
        Box::pin(async { None })
    }
    /// Runs `join` (which makes a recovered socket a recipient of what this node delivers
    /// next) in step with [`LocalNode::broadcast_stored`] deliveries, once this node has
    /// delivered the broadcast at `after` (the client's last offset, which it may have got
    /// from a node further ahead); then reads the broadcasts after `after` up to the last one
    /// delivered here before `join` that a socket in `rooms` would have received, in order,
    /// each with its offset as its last argument. So every broadcast reaches the socket
    /// once, live or replayed. `join` must be called exactly once.
    fn replay(
        &self,
        nsp: &str,
        rooms: &[Room],
        after: &str,
        join: Box<dyn FnOnce() + Send>,
    ) -> ClusterFuture<Vec<ClusterPacket>> {
        let _ = (nsp, rooms, after);
        join();
        Box::pin(async { Vec::new() })
    }
}

/// This node, as its cluster adapter sees it: how other nodes' broadcasts and requests are
/// carried out here. Cheap to clone; does nothing once the server is gone.
#[derive(Clone)]
pub struct LocalNode {
    core: Weak<Core>,
}

impl std::fmt::Debug for LocalNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNode").finish_non_exhaustive()
    }
}

impl LocalNode {
    pub(crate) fn new(core: &Arc<Core>) -> LocalNode {
        LocalNode {
            core: Arc::downgrade(core),
        }
    }

    fn namespace(&self, nsp: &str) -> Option<Arc<Namespace>> {
        self.core.upgrade()?.get(nsp)
    }

    /// The namespaces that exist on this node now.
    pub fn namespaces(&self) -> Vec<Arc<str>> {
        match self.core.upgrade() {
            Some(core) => core.namespace_names(),
            None => Vec::new(),
        }
    }

    /// Whether `room` has a member here: a joined room, or the id of a local socket.
    pub fn has_room(&self, nsp: &str, room: &str) -> bool {
        self.namespace(nsp).is_some_and(|ns| {
            ns.rooms.has_room(room)
                || SocketId::parse(room).is_some_and(|id| ns.socket(id).is_some())
        })
    }

    /// Whether recoverable broadcasts of `nsp` wait for the offset the cluster stores them
    /// under before they are delivered here (connection state recovery is on, with its
    /// history in the cluster).
    pub fn recovers_in_cluster(&self, nsp: &str) -> bool {
        self.namespace(nsp)
            .is_some_and(|ns| ns.recovery_in_cluster())
    }

    /// Delivers another node's broadcast to the recipients here.
    pub fn broadcast(&self, packet: &ClusterPacket, opts: &BroadcastOptions) {
        if let Some(ns) = self.namespace(&packet.nsp) {
            if let Err(err) = ns.deliver(&packet.event, &packet.payload, opts) {
                tracing::warn!(ns = %packet.nsp, event = %packet.event, %err, "cannot deliver a broadcast from another node");
            }
        }
    }

    /// Delivers another node's broadcast that the cluster stored under `offset` (see
    /// [`ClusterAdapter::broadcast_stored`]): with connection state recovery on, each
    /// recipient here gets that offset with it.
    pub fn broadcast_stored(&self, packet: &ClusterPacket, opts: &BroadcastOptions, offset: &str) {
        if let Some(ns) = self.namespace(&packet.nsp) {
            if let Err(err) = ns.deliver_stored(&packet.event, &packet.payload, opts, Some(offset))
            {
                tracing::warn!(ns = %packet.nsp, event = %packet.event, %err, "cannot deliver a broadcast from another node");
            }
        }
    }

    /// Delivers another node's broadcast with acks: returns how many clients it reached
    /// here and where their acks (first arguments) arrive, until `timeout`.
    pub fn broadcast_with_ack(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> (usize, mpsc::UnboundedReceiver<AckEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let Some(ns) = self.namespace(&packet.nsp) else {
            return (0, rx);
        };
        match ns.deliver_with_ack(&packet.event, &packet.payload, opts, tx) {
            Ok(waiting) => {
                let count = waiting.count();
                waiting.forget_after(timeout);
                (count, rx)
            }
            Err(err) => {
                tracing::warn!(ns = %packet.nsp, event = %packet.event, %err, "cannot deliver a broadcast from another node");
                (0, rx)
            }
        }
    }

    /// Makes the sockets `opts` selects here join `rooms`.
    pub fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        if let Some(ns) = self.namespace(nsp) {
            for socket in ns.recipients(opts) {
                socket.join(rooms.to_vec());
            }
        }
    }

    /// Makes the sockets `opts` selects here leave `rooms`.
    pub fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        if let Some(ns) = self.namespace(nsp) {
            for socket in ns.recipients(opts) {
                socket.leave(rooms.to_vec());
            }
        }
    }

    /// Disconnects the sockets `opts` selects here (`close`: their whole connection).
    pub fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        if let Some(ns) = self.namespace(nsp) {
            for socket in ns.recipients(opts) {
                if close {
                    socket.close_connection();
                } else {
                    socket.disconnect();
                }
            }
        }
    }

    /// The sockets `opts` selects here.
    pub fn fetch_sockets(&self, nsp: &str, opts: &BroadcastOptions) -> Vec<SocketDetails> {
        match self.namespace(nsp) {
            Some(ns) => ns.recipients(opts).iter().map(Socket::details).collect(),
            None => Vec::new(),
        }
    }

    /// The rooms here.
    pub fn all_rooms(&self, nsp: &str) -> Vec<Room> {
        self.namespace(nsp)
            .map(|ns| ns.local_rooms())
            .unwrap_or_default()
    }

    /// Runs this node's handler for another node's server-side event; `reply` sends the
    /// answer back when the sender waits for one. Without a handler, no answer is sent (the
    /// sender times out, as with Node).
    pub fn server_side_emit(&self, packet: ClusterPacket, reply: Option<ServerReply>) {
        let Some(ns) = self.namespace(&packet.nsp) else {
            return;
        };
        let Some(handler) = ns.def.server_events.get(packet.event.as_str()).cloned() else {
            tracing::debug!(ns = %packet.nsp, event = %packet.event, "no handler for a server-side event");
            return;
        };
        let event = ServerEvent {
            namespace: ns.clone(),
            event: packet.event,
            payload: packet.payload,
            reply,
        };
        crate::live::event::start(handler(event), &ns.shared.tasks);
    }
}

/// A server-side event handler, type-erased.
pub(crate) type BoxedServerHandler = Arc<dyn Fn(ServerEvent) -> BoxFuture<()> + Send + Sync>;

/// The acks of a broadcast, from every recipient on every node, as they arrive; ends when
/// every recipient answered or the timeout passed.
///
/// ```no_run
/// # async fn f(ns: std::sync::Arc<realtime_core::Namespace>) {
/// let acks = ns.timeout(std::time::Duration::from_secs(5)).emit_with_ack("poll", &"ready?").unwrap();
/// let answers = acks.collect().await;
/// println!("{} of {} answered", answers.responses.len(), answers.expected);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "acks arrive only while this is polled"]
pub struct BroadcastAcks {
    rx: mpsc::UnboundedReceiver<AckEvent>,
    deadline: tokio::time::Instant,
    /// Recipients counted so far, on every node that reported.
    expected: usize,
    received: usize,
    /// Other nodes still to report their recipients; `None` until the count is known.
    servers_pending: Option<usize>,
    /// Node reports that came before the number of nodes was known.
    servers_reported: usize,
    timed_out: bool,
    /// Forgets the local acks still awaited when this is dropped.
    _local: Option<AwaitingAcks>,
}

/// Every ack a broadcast got.
#[derive(Debug, Clone, Default)]
pub struct AckResponses {
    /// One per recipient that answered: its first argument.
    pub responses: Vec<Payload>,
    /// How many recipients owe an ack, counted on every node that reported.
    pub expected: usize,
    /// Whether the timeout ended the wait (some recipient or node did not answer).
    pub timed_out: bool,
}

impl AckResponses {
    /// Each response, deserialized.
    pub fn values<T: DeserializeOwned>(&self) -> Result<Vec<T>, serde_json::Error> {
        self.responses.iter().map(|p| p.get(0)).collect()
    }
}

impl BroadcastAcks {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<AckEvent>,
        timeout: Duration,
        local: AwaitingAcks,
        other_servers: Option<usize>,
    ) -> BroadcastAcks {
        BroadcastAcks {
            rx,
            deadline: tokio::time::Instant::now() + timeout,
            expected: local.count(),
            received: 0,
            servers_pending: other_servers,
            servers_reported: 0,
            timed_out: false,
            _local: Some(local),
        }
    }

    /// How many recipients owe an ack, as far as known now.
    pub fn expected(&self) -> usize {
        self.expected
    }

    fn complete(&self) -> bool {
        self.servers_pending == Some(0) && self.received >= self.expected
    }

    /// The next ack (the recipient's first argument), or `None` once all arrived or the
    /// timeout passed.
    pub async fn next(&mut self) -> Option<Payload> {
        loop {
            if self.complete() || self.timed_out {
                return None;
            }
            match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
                Ok(Some(AckEvent::Response(payload))) => {
                    self.received += 1;
                    return Some(payload);
                }
                Ok(Some(AckEvent::Clients(n))) => {
                    self.expected += n;
                    match &mut self.servers_pending {
                        Some(pending) => *pending = pending.saturating_sub(1),
                        None => self.servers_reported += 1,
                    }
                }
                Ok(Some(AckEvent::Servers(n))) => {
                    self.servers_pending = Some(n.saturating_sub(self.servers_reported));
                }
                // Every sender is gone: nothing more can come.
                Ok(None) => {
                    self.timed_out = !self.complete();
                    return None;
                }
                Err(_) => {
                    self.timed_out = true;
                    return None;
                }
            }
        }
    }

    /// Waits for every ack (or the timeout) and returns them.
    pub async fn collect(mut self) -> AckResponses {
        let mut responses = Vec::new();
        while let Some(payload) = self.next().await {
            responses.push(payload);
        }
        AckResponses {
            responses,
            expected: self.expected,
            timed_out: self.timed_out,
        }
    }
}

/// The local recipients of a broadcast with acks, until they answer. Dropping it forgets
/// the acks still awaited, so a recipient that never answers leaves nothing behind.
pub(crate) struct AwaitingAcks {
    pub(crate) id: u64,
    pub(crate) sockets: Vec<Socket>,
}

impl std::fmt::Debug for AwaitingAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitingAcks")
            .field("id", &self.id)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl AwaitingAcks {
    pub(crate) fn count(&self) -> usize {
        self.sockets.len()
    }

    /// Forgets the acks still awaited once `timeout` passed (for broadcasts of other nodes,
    /// whose waiting side is elsewhere).
    pub(crate) fn forget_after(self, timeout: Duration) {
        if self.sockets.is_empty() {
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            drop(self);
        });
    }
}

impl Drop for AwaitingAcks {
    fn drop(&mut self) {
        for socket in &self.sockets {
            socket.forget_ack(self.id);
        }
    }
}

/// A socket found by `fetch_sockets`, on this node or another: its details, and the
/// operations that work wherever it is (socket.io's `RemoteSocket`).
#[derive(Debug, Clone)]
pub struct FetchedSocket {
    details: SocketDetails,
    ns: Arc<Namespace>,
    local: Option<Socket>,
}

impl FetchedSocket {
    pub(crate) fn new(ns: Arc<Namespace>, details: SocketDetails, local: Option<Socket>) -> Self {
        FetchedSocket { details, ns, local }
    }

    /// The socket id.
    pub fn id(&self) -> &str {
        &self.details.id
    }

    /// The socket's rooms, its own id first.
    pub fn rooms(&self) -> &[String] {
        &self.details.rooms
    }

    /// The request that opened its connection.
    pub fn handshake(&self) -> &Handshake {
        &self.details.handshake
    }

    /// Its application data (see [`Socket::set_data`]), deserialized.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.details.data)
    }

    /// All of its details.
    pub fn details(&self) -> &SocketDetails {
        &self.details
    }

    /// The socket itself when it is connected to this node.
    pub fn local(&self) -> Option<&Socket> {
        self.local.as_ref()
    }

    fn only_me(&self) -> super::broadcast::BroadcastOperator {
        self.ns.to(Room::from(self.details.id.as_str()))
    }

    /// Sends it an event, wherever it is connected.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        match &self.local {
            Some(socket) => socket.emit(event, data),
            None => self.only_me().emit(event, data),
        }
    }

    /// Makes it join rooms, wherever it is connected.
    pub fn join(&self, rooms: impl super::broadcast::IntoRooms) {
        match &self.local {
            Some(socket) => socket.join(rooms),
            None => self.only_me().join(rooms),
        }
    }

    /// Makes it leave rooms, wherever it is connected.
    pub fn leave(&self, rooms: impl super::broadcast::IntoRooms) {
        match &self.local {
            Some(socket) => socket.leave(rooms),
            None => self.only_me().leave(rooms),
        }
    }

    /// Disconnects it from the namespace, wherever it is connected.
    pub fn disconnect(&self) {
        match &self.local {
            Some(socket) => socket.disconnect(),
            None => self.only_me().disconnect(),
        }
    }
}
