//! [`Socket`]: one client connected to one namespace. What handlers talk to.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::{
    broadcast::{BroadcastOperator, IntoRooms},
    cluster::{AckEvent, AckSink, Handshake, SocketDetails},
    connection::Connection,
    event::{BoxedHandler, EventContext, ReplyTo},
    gate::Admission,
    inbox::Job,
    namespace::{Lifecycle, Namespace},
    request::RequestHead,
    rooms::{BroadcastOptions, Room},
};
use crate::{
    engine::{CloseReason, EngineSession, SendError},
    ratelimit::Verdict,
    wire::{
        codec::{self, Codec, Frames},
        engineio::Frame,
        payload::{error_payload, Payload, SocketId},
        socketio::{self as packet, One},
    },
};

/// A socket's life: admitted by middleware (it may join rooms already), live, then gone
/// for good. Rooms and client ids of a gone socket cannot change any more.
mod phase {
    pub(super) const CONNECTING: u8 = 0;
    pub(super) const CONNECTED: u8 = 1;
    pub(super) const GONE: u8 = 2;
}

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    #[error("could not serialize the payload: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("too many binary attachments ({0}, at most {max})", max = packet::MAX_ATTACHMENTS)]
    TooManyAttachments(usize),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("the socket is disconnected")]
    Disconnected,
}

impl From<crate::wire::codec::EncodeError> for EmitError {
    fn from(err: crate::wire::codec::EncodeError) -> EmitError {
        match err {
            crate::wire::codec::EncodeError::Serialize(e) => EmitError::Serialize(e),
            crate::wire::codec::EncodeError::TooManyAttachments(n) => {
                EmitError::TooManyAttachments(n)
            }
        }
    }
}

/// Why a server → client ack did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    #[error("no ack within {0:?}")]
    Timeout(Duration),
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    #[error("the ack's arguments did not match the expected type: {0}")]
    Decode(#[from] serde_json::Error),
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// One client in one namespace. Cheap to clone; clones are the same socket.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

/// A socket's own handlers, by event (see `Socket::on`).
type Listeners = HashMap<Arc<str>, BoxedHandler>;

pub(crate) struct SocketInner {
    pub(crate) id: SocketId,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) conn: Arc<Connection>,
    auth: Map<String, Value>,
    /// Where the socket is in its life (see [`phase`]). Changes under `membership`.
    phase: AtomicU8,
    /// Server → client acks awaiting their reply. Empty (no allocation) when none are.
    acks: Mutex<HashMap<u64, AckWaiter>>,
    extensions: Mutex<http::Extensions>,
    /// weroll's clientID once set (a user id after login); the socket id until then. Its
    /// lock also serializes every room change of the socket with its retirement, so a
    /// `join` racing a disconnect can never re-insert the departed socket into a room.
    membership: Mutex<Option<Arc<str>>>,
    /// Where the socket is in the `$init` handshake, and the events waiting for it.
    /// State a feature's [`EventGate`](super::gate::EventGate) keeps per socket (the
    /// `$init` handshake's progress), set once.
    pub(crate) gate_state: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
    /// Handlers this socket alone has (`socket.on(..)` in a connect handler), ahead of the
    /// namespace's. `None` (no allocation) for the sockets that never add one.
    pub(crate) listeners: Mutex<Option<Box<Listeners>>>,
    /// Whether `listeners` may hold any: spares every event of the other sockets the lock.
    has_listeners: std::sync::atomic::AtomicBool,
    /// Whether broadcasts to this socket are held back (in its [`Held`] extension) until
    /// what it missed while away has been sent: a recovered socket between joining its
    /// namespace and its replay. One load per delivery for every other socket.
    holding: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("ns", &self.ns())
            .finish()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Socket {
    pub(crate) fn new(
        ns: Arc<Namespace>,
        conn: Arc<Connection>,
        auth: Option<Map<String, Value>>,
    ) -> Socket {
        Socket::with_id(SocketId::new(), ns, conn, auth)
    }

    /// A socket with a given id: a recovered one keeps the id it had.
    pub(crate) fn with_id(
        id: SocketId,
        ns: Arc<Namespace>,
        conn: Arc<Connection>,
        auth: Option<Map<String, Value>>,
    ) -> Socket {
        Socket(Arc::new(SocketInner {
            id,
            ns,
            conn,
            auth: auth.unwrap_or_default(),
            phase: AtomicU8::new(phase::CONNECTING),
            acks: Mutex::new(HashMap::new()),
            extensions: Mutex::new(http::Extensions::new()),
            membership: Mutex::new(None),
            gate_state: std::sync::OnceLock::new(),
            listeners: Mutex::new(None),
            has_listeners: std::sync::atomic::AtomicBool::new(false),
            holding: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The socket id (also the name of a room only this socket is in).
    pub fn id(&self) -> SocketId {
        self.0.id
    }

    /// The id of the underlying connection (the Engine.IO session id), shared by the
    /// connection's sockets in every namespace.
    pub fn connection_id(&self) -> &str {
        self.0.conn.session.sid()
    }

    /// The namespace name, e.g. `/` or `/chat`.
    pub fn ns(&self) -> &str {
        self.0.ns.name()
    }

    /// The namespace this socket belongs to.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.0.ns
    }

    /// The HTTP request that opened the connection: headers, URI and query, peer address
    /// (socket.io's `socket.handshake`).
    pub fn request(&self) -> &RequestHead {
        &self.0.conn.request
    }

    /// The auth object the client sent with its CONNECT (`io({ auth: {...} })`); empty if
    /// it sent none.
    pub fn auth(&self) -> &Map<String, Value> {
        &self.0.auth
    }

    /// Which protocol the client speaks (Socket.IO or plain WebSocket).
    pub fn codec(&self) -> Codec {
        self.0.conn.codec
    }

    /// Whether recoverable events reach this plain WebSocket client with their offset
    /// (`{"$offset"}`): it asked for connection state recovery's plain form.
    pub(crate) fn plain_offsets(&self) -> bool {
        self.0.conn.plain_recovery
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.0.phase.load(Ordering::Acquire) == phase::CONNECTED
    }

    /// Locks the socket's membership; see [`SocketInner::membership`]. While it is held
    /// the socket's phase cannot change.
    fn lock_membership(&self) -> std::sync::MutexGuard<'_, Option<Arc<str>>> {
        self.0.membership.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_gone(&self) -> bool {
        self.0.phase.load(Ordering::Acquire) == phase::GONE
    }

    /// The connection's budget of warnings in the log (see `client_log`).
    pub(crate) fn warnings(&self) -> &crate::client_log::WarnBudget {
        &self.0.conn.warnings
    }

    pub(crate) fn session(&self) -> &EngineSession {
        &self.0.conn.session
    }

    /// Sends `event` with one argument to this client.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        if let Some(to_me) = self.kept_for_recovery() {
            return to_me.emit(event, data);
        }
        self.send_frames(codec::encode_event_one(
            self.codec(),
            self.ns(),
            event,
            data,
            None,
        )?)
    }

    /// Sends `event` with any number of arguments and binary attachments.
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        if let Some(to_me) = self.kept_for_recovery() {
            return to_me.emit_payload(event, payload);
        }
        self.send_frames(codec::encode_event(
            self.codec(),
            self.ns(),
            event,
            payload.raw_args(),
            payload.binary(),
            None,
        )?)
    }

    /// With connection state recovery on, what is sent to this client alone is kept for its
    /// return like any broadcast (as in socket.io, where `socket.emit` then becomes a
    /// broadcast to the socket's own room): a broadcast to this socket, on this node only
    /// unless recovery's history lives in the cluster.
    fn kept_for_recovery(&self) -> Option<super::broadcast::BroadcastOperator> {
        let ns = &self.0.ns;
        if ns.recovery.is_none() || !self.connected() {
            return None;
        }
        let to_me = ns.to(self.id());
        Some(if ns.recovery_in_cluster() {
            to_me
        } else {
            to_me.local()
        })
    }

    /// Sends `event` and drops it if the client's queue is full, without closing the client
    /// (for data that is stale by the time a slow client would read it: positions, ticks).
    pub fn emit_volatile<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let frames = codec::encode_event_one(self.codec(), self.ns(), event, data, None)?;
        self.deliver(&frames, true);
        Ok(())
    }

    /// Sends `event` and waits for the client's ack, with the configured default timeout
    /// (5 s unless changed). The reply's first argument is deserialized into `R`.
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        let timeout = self.0.ns.shared.config.ack_timeout;
        self.emit_with_ack_timeout(event, data, timeout).await
    }

    /// [`Socket::emit_with_ack`] with an explicit timeout.
    pub async fn emit_with_ack_timeout<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<R, AckError> {
        let reply = self
            .ack_round_trip(timeout, |id| {
                codec::encode_event(self.codec(), self.ns(), event, &One(data), &[], Some(id))
            })
            .await?;
        Ok(reply.get(0)?)
    }

    /// Sends a payload (several arguments, binary) and waits for the whole ack reply.
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> Result<Payload, AckError> {
        self.ack_round_trip(timeout, |id| {
            codec::encode_event(
                self.codec(),
                self.ns(),
                event,
                payload.raw_args(),
                payload.binary(),
                Some(id),
            )
        })
        .await
    }

    async fn ack_round_trip(
        &self,
        timeout: Duration,
        encode: impl FnOnce(u64) -> Result<Frames, codec::EncodeError>,
    ) -> Result<Payload, AckError> {
        if !self.connected() {
            return Err(AckError::Disconnected);
        }
        let id = self.0.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        self.lock_acks().insert(id, AckWaiter::One(tx));
        // Removes the pending entry however this future ends (reply, timeout, or dropped).
        struct Pending<'a>(&'a Socket, u64);
        impl Drop for Pending<'_> {
            fn drop(&mut self) {
                self.0.lock_acks().remove(&self.1);
            }
        }
        let _pending = Pending(self, id);
        self.send_frames(encode(id).map_err(EmitError::from)?)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => Err(AckError::Timeout(timeout)),
        }
    }

    fn lock_acks(&self) -> std::sync::MutexGuard<'_, HashMap<u64, AckWaiter>> {
        self.0.acks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Awaits this socket's ack of broadcast packet `id`, to be sent to `acks`.
    pub(crate) fn expect_broadcast_ack(&self, id: u64, acks: AckSink) {
        self.lock_acks().insert(id, AckWaiter::Broadcast(acks));
    }

    /// Stops awaiting the ack `id` (its broadcast timed out).
    pub(crate) fn forget_ack(&self, id: u64) {
        self.lock_acks().remove(&id);
    }

    /// Delivers a client's ACK to the waiting `emit_with_ack`. Unknown ids are ignored (the
    /// wait may have timed out already).
    pub(crate) fn on_ack(&self, id: u64, mut payload: Payload) {
        let waiter = self.lock_acks().remove(&id);
        match waiter {
            Some(AckWaiter::One(tx)) => {
                let _ = tx.send(payload);
            }
            Some(AckWaiter::Broadcast(acks)) => {
                // socket.io's broadcast acks carry the first argument of each client's ack.
                payload.truncate(1);
                let _ = acks.send(AckEvent::Response(payload));
            }
            None => {
                tracing::debug!(socket = %self.id(), id, "ack for no pending emit (timed out?)")
            }
        }
    }

    /// Stores application data with the socket (socket.io's `socket.data`): what
    /// `fetch_sockets` shows of it on every node, so keep it small (a user id and name).
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(data)?;
        self.insert_extension(SocketData(Arc::new(value)));
        Ok(())
    }

    /// The data stored with [`Socket::set_data`], deserialized; `None` if none was stored
    /// or it is not a `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Option<T> {
        let data = self.extension::<SocketData>()?;
        T::deserialize(&*data.0).ok()
    }

    /// What `fetch_sockets` reports of this socket, in socket.io's format.
    pub fn details(&self) -> SocketDetails {
        let mut rooms = vec![self.id().as_str().to_owned()];
        rooms.extend(self.rooms().iter().map(|r| r.to_string()));
        SocketDetails {
            id: self.id().as_str().to_owned(),
            handshake: handshake(self.request(), self.auth()),
            rooms,
            data: self
                .extension::<SocketData>()
                .map(|d| (*d.0).clone())
                // socket.io's default `socket.data`.
                .unwrap_or_else(|| Value::Object(Map::new())),
        }
    }

    /// Answers an event: the client's ack, or a plain client's raw text frame.
    pub(crate) fn send_reply(&self, to: ReplyTo, payload: &Payload) -> Result<(), EmitError> {
        let frames = match to {
            ReplyTo::Ack(id) => codec::encode_ack(
                self.codec(),
                self.ns(),
                id,
                payload.raw_args(),
                payload.binary(),
            )?,
            ReplyTo::RawText => codec::encode_raw_text_reply(payload.raw_args(), payload.binary())?,
        };
        self.send_frames(frames)
    }

    /// Answers an event that will not reach a handler: its error ack, or the `$error` event
    /// with `{"event", "error"}`.
    pub(crate) fn refuse_event(&self, event: &str, reply_to: Option<ReplyTo>, message: &str) {
        match reply_to {
            Some(to) => {
                let _ = self.send_reply(to, &error_payload(serde_json::Value::from(message)));
            }
            None => {
                let event = crate::client_log::preview(event);
                let body = crate::wire::payload::ErrorEvent {
                    event: &event,
                    error: message,
                };
                let _ = self.emit("$error", &body);
            }
        }
    }

    pub(crate) fn send_frames(&self, frames: Frames) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        Ok(self.session().send_all(&frames)?)
    }

    /// Queues already-encoded frames (a broadcast's shared bytes).
    pub(crate) fn deliver(&self, frames: &[Frame], volatile: bool) {
        if self.0.holding.load(Ordering::Acquire) && self.held_back(frames, volatile) {
            return;
        }
        self.deliver_now(frames, volatile);
    }

    fn deliver_now(&self, frames: &[Frame], volatile: bool) {
        if volatile {
            self.session().send_all_volatile(frames);
        } else {
            let _ = self.session().send_all(frames);
        }
    }

    /// Holds back broadcasts to this socket until [`release`](Self::release): set before a
    /// recovered socket joins its namespace, so that what reaches it from then on goes out
    /// after what it missed.
    pub(crate) fn hold(&self) {
        self.insert_extension(Held(Arc::new(Mutex::new(Some(Vec::new())))));
        self.0.holding.store(true, Ordering::Release);
    }

    /// Keeps `frames` for [`release`](Self::release) if broadcasts are held back; `false`
    /// when they no longer are (the caller sends them).
    fn held_back(&self, frames: &[Frame], volatile: bool) -> bool {
        let Some(Held(held)) = self.extension::<Held>() else {
            return false;
        };
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(queue) => {
                queue.push((frames.iter().cloned().collect(), volatile));
                true
            }
            None => false,
        }
    }

    /// Runs `first` (which sends what the socket missed, and its CONNECT reply), then sends
    /// the broadcasts held back meanwhile, in order, and stops holding. Broadcasts arriving
    /// during this wait for it, so none can overtake.
    pub(crate) fn release(&self, first: impl FnOnce()) {
        let Some(Held(held)) = self.extension::<Held>() else {
            first();
            return;
        };
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        first();
        for (frames, volatile) in held.take().unwrap_or_default() {
            self.deliver_now(&frames, volatile);
        }
        self.0.holding.store(false, Ordering::Release);
    }

    /// Sends frames now, past any hold (a recovered socket's missed broadcasts).
    pub(crate) fn deliver_missed(&self, frames: &[Frame]) {
        self.deliver_now(frames, false);
    }

    /// weroll's `clientID`: the id [`Socket::send_to`] reaches this socket by. It is the
    /// socket id until [`Socket::set_client_id`] gives it another (a user id once the user is
    /// known, so that every connection of that user shares it).
    pub fn client_id(&self) -> Arc<str> {
        let id = self.lock_membership();
        id.clone().unwrap_or_else(|| Arc::from(self.id().as_str()))
    }

    /// Gives this socket a client id shared with other connections (all of one user's
    /// devices, say); `send_to(client_id, ...)` then reaches every one of them.
    ///
    /// Atomic: of two concurrent calls, one wins and the socket is in exactly one client
    /// room. Does nothing once the socket has disconnected.
    pub fn set_client_id(&self, client_id: impl Into<Arc<str>>) {
        let client_id = client_id.into();
        let mut current = self.lock_membership();
        if self.is_gone() {
            return;
        }
        let adapter = &self.0.ns.rooms;
        if let Some(previous) = current.replace(client_id.clone()) {
            adapter.leave(self.id(), &[client_room(&previous)]);
        }
        adapter.join(self.id(), &[client_room(&client_id)]);
    }

    /// Sends `event` to every socket of this namespace whose client id is `client_id`
    /// (weroll's `sendTo`): each connection of a user on three devices gets it once.
    pub fn send_to<T: Serialize + ?Sized>(
        &self,
        client_id: &str,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.0.ns.send_to(client_id, event, data)
    }

    /// Joins rooms; awaitable like weroll's `enterRoom`, so code stays the same when a
    /// cluster adapter has to reach other nodes.
    pub async fn enter_room(&self, rooms: impl IntoRooms) {
        self.join(rooms)
    }

    /// Leaves rooms; the awaitable counterpart of [`Socket::enter_room`].
    pub async fn leave_room(&self, rooms: impl IntoRooms) {
        self.leave(rooms)
    }

    /// Joins one or more rooms. Middleware may already do so; once the socket has
    /// disconnected it does nothing.
    pub fn join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        let _membership = self.lock_membership();
        if !self.is_gone() {
            self.0.ns.rooms.join(self.id(), &rooms);
        }
    }

    /// Leaves one or more rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        let _membership = self.lock_membership();
        if !self.is_gone() {
            self.0.ns.rooms.leave(self.id(), &rooms);
        }
    }

    /// Leaves every room.
    pub fn leave_all(&self) {
        let _membership = self.lock_membership();
        if !self.is_gone() {
            self.0.ns.rooms.leave_all(self.id());
        }
    }

    /// The rooms this socket joined (its own-id room not included).
    pub fn rooms(&self) -> Vec<Room> {
        self.0.ns.rooms.rooms_of(self.id())
    }

    /// Broadcast to the given rooms, except this socket: `socket.to("room").emit(...)`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Broadcast to every socket of the namespace except this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(
            self.0.ns.clone(),
            BroadcastOptions {
                except_socket: Some(self.id()),
                ..BroadcastOptions::default()
            },
        )
    }

    /// Broadcast to the given rooms, this socket included if it is a member.
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(self.0.ns.clone(), BroadcastOptions::default()).to(rooms)
    }

    /// Stores a value on the socket for later handlers (the identity a middleware found...).
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.0
            .extensions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(value);
    }

    /// A value stored with [`Socket::insert_extension`].
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0
            .extensions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get::<T>()
            .cloned()
    }

    /// Shared state registered with `RealtimeBuilder::state`.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.ns.shared.state.get::<T>().cloned()
    }

    /// Disconnects the socket from its namespace (the client's `disconnect` event fires with
    /// reason `io server disconnect`). The connection stays open for other namespaces.
    pub fn disconnect(&self) {
        if !self.connected() {
            return;
        }
        match self.codec() {
            Codec::SocketIo => {
                let text = packet::header(packet::PacketKind::Disconnect, 0, self.ns(), None);
                let _ = self.session().send(Frame::message_prefixed(text));
            }
            Codec::Plain => self.session().close(CloseReason::ForcedClose),
        }
        self.0.conn.remove_socket(self.ns());
        self.on_disconnect("server namespace disconnect");
    }

    /// Refuses a plain WebSocket connection: it closes with 1008 (policy violation) and
    /// `reason`. Socket.IO connections are not affected (they leave the namespace instead).
    pub(crate) fn refuse_connection(&self, reason: &str) {
        if self.codec() == Codec::Plain {
            self.session()
                .close_with_detail(CloseReason::PolicyViolation, reason);
        }
    }

    /// Closes the whole underlying connection (every namespace of this client).
    pub fn close_connection(&self) {
        self.session().close(CloseReason::ForcedClose);
    }

    /// Marks the socket connected. Returns false if it was retired meanwhile (refused, or
    /// its connection closed while middleware ran).
    pub(crate) fn mark_connected(&self) -> bool {
        let _membership = self.lock_membership();
        self.0
            .phase
            .compare_exchange(
                phase::CONNECTING,
                phase::CONNECTED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Ends the socket's life, exactly once: it is gone from every room and no later room
    /// change can bring it back. Returns whether it was connected (rather than still being
    /// admitted, or gone already).
    pub(crate) fn retire(&self) -> bool {
        let _membership = self.lock_membership();
        let previous = self.0.phase.swap(phase::GONE, Ordering::AcqRel);
        if previous != phase::GONE {
            self.0.ns.rooms.leave_all(self.id());
        }
        drop(_membership);
        if previous != phase::GONE {
            self.0.ns.remove_user();
        }
        previous == phase::CONNECTED
    }

    /// Cleans up after the socket left, whatever the cause, exactly once: rooms, namespace
    /// membership, pending acks; then runs the namespace's disconnect handler.
    pub(crate) fn on_disconnect(&self, reason: &'static str) {
        // What connection state recovery keeps, read before retiring empties the rooms.
        let saved = self.recovery_state(reason);
        if !self.retire() {
            return;
        }
        if let (Some((pid, rooms, data)), Some(log)) = (saved, &self.0.ns.recovery) {
            let ns = &self.0.ns;
            match ns.cluster().filter(|_| ns.recovery_in_cluster()) {
                Some(cluster) => cluster.save_session(
                    ns.name(),
                    super::cluster::SessionState {
                        sid: self.id().as_str().to_owned(),
                        pid: pid.to_string(),
                        rooms: rooms.iter().map(|r| r.to_string()).collect(),
                        data: data.unwrap_or(Value::Null),
                    },
                    log.max_disconnection_duration(),
                ),
                None => log.save(&pid, self.id().as_str().to_owned(), rooms, data),
            }
        }
        tracing::debug!(socket = %self.id(), ns = self.ns(), reason, "socket disconnected");
        let ns = &self.0.ns;
        ns.remove_socket(self.id());
        self.lock_acks().clear();
        self.run_lifecycle(Lifecycle::Disconnect, Value::from(reason));
    }

    /// The private id, rooms (its own id's first) and data connection state recovery keeps
    /// for a socket that drops for `reason`, when recovery is on and the reason is one a
    /// client comes back from (as in socket.io: not a deliberate disconnect).
    fn recovery_state(&self, reason: &str) -> Option<(Arc<str>, Vec<Room>, Option<Value>)> {
        self.0.ns.recovery.as_ref()?;
        const RECOVERABLE: [&str; 5] = [
            "transport close",
            "transport error",
            "ping timeout",
            "forced close",
            "server shutting down",
        ];
        if !RECOVERABLE.contains(&reason) || !self.connected() {
            return None;
        }
        let Pid(pid) = self.extension::<Pid>()?;
        let mut rooms = vec![Room::from(self.id().as_str())];
        rooms.extend(self.rooms());
        let data = self.extension::<SocketData>().map(|d| (*d.0).clone());
        Some((pid, rooms, data))
    }

    /// Whether this socket is a client coming back with connection state recovery: same
    /// id, rooms and data as before it dropped, and the broadcasts it missed delivered
    /// before its CONNECT reply (socket.io's `socket.recovered`).
    pub fn recovered(&self) -> bool {
        self.extension::<Recovered>().is_some()
    }

    /// Runs `step` after every handler queued so far for this connection has started, and
    /// before any queued later.
    pub(crate) fn in_order(&self, step: impl FnOnce() + Send + 'static) {
        self.0.conn.inbox.push(Job::step(step));
    }

    /// Queues the namespace's handler for a lifecycle event, if it has one, with `data` as
    /// its payload (`Data<T>`) and the event's name as its `Event`.
    pub(crate) fn run_lifecycle(&self, event: Lifecycle, data: Value) {
        if let Some(handler) = self.0.ns.def.lifecycle(event) {
            let ctx = EventContext::new(
                self.clone(),
                Arc::from(event.event_name()),
                Payload::from_value(data),
                None,
            );
            self.0.conn.inbox.push(Job::lifecycle(handler.clone(), ctx));
        }
    }

    /// Admits an event (rate limit, the `$init` gate) and queues its handler; handlers of a
    /// connection start in arrival order, off its I/O task (see `live::inbox`), and a
    /// handler that awaits never holds up the connection (it can await acks from the same
    /// client).
    pub(crate) fn dispatch_event(
        &self,
        event: String,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) {
        let def = &self.0.ns.def;
        let (event, payload) =
            if event == "m" && !def.handlers.contains_key("m") && self.listener("m").is_none() {
                unwrap_compact(event, payload)
            } else {
                (event, payload)
            };
        let client = &self.0.conn;
        if self.session().is_closed() || client.cut_off.load(Ordering::Acquire) {
            return; // the rest of what arrived with the packet that closed it
        }
        match client.rate_verdict() {
            Verdict::Allow => {}
            verdict => {
                // Refused in the connection's order: after the answers of the events before.
                let cut_off =
                    verdict == Verdict::CutOff && !client.cut_off.swap(true, Ordering::AcqRel);
                if cut_off {
                    tracing::warn!(socket = %self.id(), "client keeps flooding past its rate limit: disconnecting");
                }
                let socket = self.clone();
                self.in_order(move || {
                    socket.refuse_event(&event, reply_to, "rate limit exceeded");
                    if cut_off {
                        socket.close_connection();
                    }
                });
                return;
            }
        }
        let (event, payload, reply_to) = match &self.0.ns.def.gate {
            None => (event, payload, reply_to),
            Some(gate) => match gate.admit(self, event, payload, reply_to) {
                Admission::Dispatch(event, payload, reply_to) => (event, payload, reply_to),
                Admission::Handled => return,
            },
        };
        self.route_event(event, payload, reply_to);
    }

    /// This socket's own handler for `event`, if it added one.
    fn listener(&self, event: &str) -> Option<(Arc<str>, BoxedHandler)> {
        if !self.0.has_listeners.load(Ordering::Acquire) {
            return None;
        }
        let listeners = self.0.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let (name, handler) = listeners.as_ref()?.get_key_value(event)?;
        Some((name.clone(), handler.clone()))
    }

    /// Adds (or replaces) this socket's own handler for `event`; see `Socket::on`.
    pub(crate) fn add_listener(&self, event: &str, handler: BoxedHandler) {
        let mut listeners = self.0.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners
            .get_or_insert_with(Default::default)
            .insert(Arc::from(event), handler);
        self.0.has_listeners.store(true, Ordering::Release);
    }

    /// Removes this socket's own handler for `event`; whether it had one.
    pub fn off(&self, event: &str) -> bool {
        let mut listeners = self.0.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let removed = listeners
            .as_mut()
            .is_some_and(|map| map.remove(event).is_some());
        if listeners.as_ref().is_some_and(|map| map.is_empty()) {
            *listeners = None;
        }
        removed
    }

    /// Queues an admitted event; its handler is chosen when it starts (see `resolve_event`).
    pub(crate) fn route_event(&self, event: String, payload: Payload, reply_to: Option<ReplyTo>) {
        self.0
            .conn
            .inbox
            .push(Job::event(self.clone(), event, payload, reply_to));
    }

    /// The handler of an event about to start: this socket's own (`Socket::on`), the
    /// namespace's, or the fallback. Chosen at start, not on arrival, so that listeners a
    /// connect handler adds before its first await (it starts first) catch the events right
    /// behind the CONNECT, as in socket.io. Without a handler, answers an ack request with
    /// the error (in order: this runs in the connection's order).
    pub(crate) fn resolve_event(
        &self,
        event: String,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) -> Option<(BoxedHandler, EventContext)> {
        if let Some((name, handler)) = self.listener(&event) {
            return Some((
                handler,
                EventContext::new(self.clone(), name, payload, reply_to),
            ));
        }
        let def = &self.0.ns.def;
        let (name, handler) = match def.handlers.get_key_value(event.as_str()) {
            Some((name, handler)) => (name.clone(), handler),
            None => match &def.fallback {
                Some(handler) => (Arc::from(event), handler),
                None => {
                    let event = crate::client_log::preview(&event);
                    tracing::debug!(socket = %self.id(), %event, "no handler for event");
                    // A raw text frame's implicit reply is not a question to answer.
                    if let Some(ReplyTo::Ack(id)) = reply_to {
                        let message = format!("no handler for event {event:?}");
                        let error = error_payload(message.into());
                        let _ = self.send_reply(ReplyTo::Ack(id), &error);
                    }
                    return None;
                }
            },
        };
        let ctx = EventContext::new(self.clone(), name, payload, reply_to);
        Some((handler.clone(), ctx))
    }
}

/// A waiting server → client ack.
enum AckWaiter {
    /// `emit_with_ack` on this socket.
    One(oneshot::Sender<Payload>),
    /// A broadcast with acks; many sockets share the sink.
    Broadcast(AckSink),
}

/// The value of `Socket::set_data`, kept with the socket's extensions (no cost to sockets
/// without data).
#[derive(Clone)]
pub(crate) struct SocketData(pub(crate) Arc<Value>);

/// socket.io's `socket.handshake` for a connection's request and a socket's auth.
fn handshake(request: &RequestHead, auth: &Map<String, Value>) -> Handshake {
    let mut headers = Map::new();
    for name in request.headers.keys() {
        let joined = request
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        headers.insert(name.as_str().to_owned(), Value::String(joined));
    }
    let query = request
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    Handshake {
        xdomain: request.headers.contains_key(http::header::ORIGIN),
        headers,
        time: crate::dates::js_date_string(request.issued),
        address: request
            .remote_addr
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        secure: false,
        issued: crate::dates::millis_since_epoch(request.issued) as f64,
        url: request
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        query,
        auth: auth.clone(),
    }
}

/// The internal room holding the sockets of one client id.
pub(crate) fn client_room(client_id: &str) -> Room {
    Room::from(format!("$client:{client_id}"))
}

/// weroll's compact form `["m", [event, ...args]]` → `(event, args)`. Anything else is left
/// as the event `m`.
fn unwrap_compact(event: String, mut payload: Payload) -> (String, Payload) {
    use crate::wire::socketio::{is_reserved, raw_event_name, RawArg};
    let Some(first) = payload.raw(0) else {
        return (event, payload);
    };
    let Ok(mut inner) = serde_json::from_str::<Vec<RawArg>>(first.get()) else {
        return (event, payload);
    };
    let Some(name) = inner
        .first()
        .and_then(|n| raw_event_name(n))
        .filter(|n| !is_reserved(n))
    else {
        return (event, payload);
    };
    inner.remove(0);
    payload.splice_first(inner);
    (name, payload)
}

/// A socket's private id for connection state recovery (sent in its CONNECT reply as `pid`).
#[derive(Clone)]
pub(crate) struct Pid(pub(crate) Arc<str>);

/// Marks a socket recovered (see [`Socket::recovered`]).
#[derive(Clone)]
pub(crate) struct Recovered;

/// The state a recovered socket was restored from, until it is admitted: put back in the
/// recovery log if it is not (see `RecoveryLog::put_back`).
#[derive(Clone)]
pub(crate) struct Restoring(pub(crate) Arc<Mutex<Option<super::recovery::SavedSocket>>>);

/// Where a recovered socket's replay starts: the last offset it saw.
#[derive(Clone)]
pub(crate) struct ReplayFrom(pub(crate) super::recovery::Offset);

/// Broadcasts held back while a recovered socket's missed ones are sent (see
/// [`Socket::hold`]); `None` once released.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
struct Held(Arc<Mutex<Option<Vec<(crate::wire::codec::Frames, bool)>>>>);
