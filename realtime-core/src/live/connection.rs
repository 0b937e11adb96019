//! One connection's Socket.IO state, and the dispatch of its inbound packets.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use bytes::Bytes;
use serde_json::{Map, Value};
use smallvec::SmallVec;

use super::{
    core::Core,
    event::{BoxedMiddleware, EventContext, ReplyTo},
    inbox::{Inbox, InboxBounds},
    namespace::{ConnectError, Lifecycle, Shared},
    request::RequestHead,
    socket::Socket,
};
use crate::{
    client_log::Preview,
    engine::{CloseReason, EngineHandler, EngineSession, Message, Protocol},
    ratelimit::{Bucket, Verdict},
    wire::{
        codec::Codec,
        engineio::Frame,
        payload::Payload,
        socketio::{self as packet, PacketData, PacketKind},
    },
};

/// A binary packet whose attachments are still arriving.
#[derive(Debug)]
struct PartialPacket {
    nsp: String,
    ack_id: Option<u64>,
    data: PacketData,
    expected: usize,
    binary: Vec<Bytes>,
    /// Tells this packet from a later one, for the timeout watching it.
    number: u64,
}

/// One connection (Engine.IO session or plain WebSocket): its sockets, one per namespace.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) session: Arc<EngineSession>,
    pub(crate) request: RequestHead,
    pub(crate) codec: Codec,
    sockets: Mutex<SmallVec<[Socket; 1]>>,
    /// Boxed: rare, and an idle connection should not carry its size.
    partial: Mutex<Option<Box<PartialPacket>>>,
    /// Binary packets started so far (numbers them for their timeout).
    partials_started: std::sync::atomic::AtomicU64,
    /// Namespaces whose CONNECT is being admitted (middleware running): they count against
    /// `max_namespaces_per_connection` like joined ones.
    admitting: std::sync::atomic::AtomicUsize,
    /// The handlers of this connection waiting to start; see [`super::inbox`].
    pub(crate) inbox: Arc<Inbox>,
    /// Set once any namespace accepted the client (the connect timeout stops mattering).
    joined: AtomicBool,
    /// Set once the connection is cut off for flooding: what it sends next is dropped.
    pub(crate) cut_off: AtomicBool,
    /// The connection's event rate limit bucket, when a limit is configured.
    rate: Option<Box<Mutex<Bucket>>>,
    /// How many more warnings this connection may cause in the log for now.
    pub(crate) warnings: crate::client_log::WarnBudget,
    /// Wakes the connect-timeout watcher when the client joins, so it ends (and frees its
    /// timer) at once instead of lingering for the rest of `connect_timeout`.
    joined_notify: tokio::sync::Notify,
    /// A plain WebSocket client that asked for connection state recovery's plain form
    /// (`?recover=1`, or coming back with `?pid=&offset=`): it gets the `$session` frame
    /// and `{"$offset"}` elements. Others (raw-text pages, clients that do not know the
    /// form) see the plain protocol unchanged.
    pub(crate) plain_recovery: bool,
}

impl Connection {
    pub(crate) fn new(
        session: Arc<EngineSession>,
        request: RequestHead,
        codec: Codec,
        shared: &Shared,
    ) -> Arc<Connection> {
        let config = &shared.config;
        let plain_recovery = codec == Codec::Plain
            && config.connection_state_recovery.is_some()
            && (request.query("recover").as_deref() == Some("1") || request.query("pid").is_some());
        Arc::new(Connection {
            plain_recovery,
            session,
            request,
            codec,
            sockets: Mutex::new(SmallVec::new()),
            partial: Mutex::new(None),
            partials_started: std::sync::atomic::AtomicU64::new(0),
            admitting: std::sync::atomic::AtomicUsize::new(0),
            inbox: Arc::new(Inbox::new(
                InboxBounds {
                    in_flight: config.max_handlers_in_flight,
                    waiting: config.max_events_waiting,
                },
                shared.tasks.clone(),
            )),
            joined: AtomicBool::new(false),
            cut_off: AtomicBool::new(false),
            rate: config
                .event_rate_limit
                .map(|limit| Box::new(Mutex::new(Bucket::new(limit)))),
            warnings: crate::client_log::WarnBudget::default(),
            joined_notify: tokio::sync::Notify::new(),
        })
    }

    fn lock_sockets(&self) -> std::sync::MutexGuard<'_, SmallVec<[Socket; 1]>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Namespaces joined or being joined.
    fn namespace_count(&self) -> usize {
        self.lock_sockets().len() + self.admitting.load(Ordering::Acquire)
    }

    /// This client's socket in namespace `nsp`.
    pub(crate) fn socket(&self, nsp: &str) -> Option<Socket> {
        self.lock_sockets().iter().find(|s| s.ns() == nsp).cloned()
    }

    /// Adds a socket unless one exists for its namespace already; returns whether it did.
    fn add_socket(&self, socket: Socket) -> bool {
        let mut sockets = self.lock_sockets();
        if sockets.iter().any(|s| s.ns() == socket.ns()) {
            return false;
        }
        sockets.push(socket);
        if !self.joined.swap(true, Ordering::AcqRel) {
            self.joined_notify.notify_one();
        }
        true
    }

    pub(crate) fn remove_socket(&self, nsp: &str) -> Option<Socket> {
        let mut sockets = self.lock_sockets();
        let i = sockets.iter().position(|s| s.ns() == nsp)?;
        Some(sockets.swap_remove(i))
    }

    /// Disconnects every socket of the connection (it closed).
    pub(crate) fn close_all(&self, reason: CloseReason) {
        let sockets = std::mem::take(&mut *self.lock_sockets());
        for socket in sockets {
            socket.on_disconnect(reason.as_str());
        }
    }

    /// Takes a token from the connection's rate limit bucket for one event.
    pub(crate) fn rate_verdict(&self) -> Verdict {
        match &self.rate {
            None => Verdict::Allow,
            Some(bucket) => bucket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(std::time::Instant::now()),
        }
    }

    /// Queues a Socket.IO packet for this client.
    fn send_text(&self, text: String) {
        let _ = self.session.send(Frame::message_prefixed(text));
    }

    /// Closes the connection if no namespace accepted it within `timeout`.
    pub(crate) fn watch_connect_timeout(self: &Arc<Self>, timeout: std::time::Duration) {
        let client = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {
                    if !client.joined.load(Ordering::Acquire) {
                        tracing::debug!(sid = %client.session.sid(), "no namespace joined within connect_timeout");
                        client.session.close(CloseReason::ConnectTimeout);
                    }
                }
                _ = client.joined_notify.notified() => {}
                _ = client.session.closed() => {}
            }
        });
    }
}

/// The Socket.IO layer as the engine sees it.
#[derive(Debug, Clone)]
pub(crate) struct SocketIoLayer(pub(crate) Arc<Core>);

impl EngineHandler for SocketIoLayer {
    type Conn = Arc<Connection>;

    fn on_open(
        &self,
        session: Arc<EngineSession>,
        request: &http::request::Parts,
    ) -> Arc<Connection> {
        let client = Connection::new(
            session,
            RequestHead::from_request(request),
            Codec::SocketIo,
            &self.0.shared,
        );
        client.watch_connect_timeout(self.0.shared.config.connect_timeout);
        if client.session.protocol() == Protocol::V3 {
            // socket.io-client 2.x never asks for the main namespace: the server connects it
            // at once (as the reference server does for Engine.IO v3 clients).
            if let Err(err) = self.0.connect(&client, "/", None) {
                tracing::debug!(%err, "could not connect a v3 client to /");
            }
        }
        client
    }

    fn on_message(&self, client: &Arc<Connection>, message: Message<'_>) -> Result<(), String> {
        match message {
            Message::Text(text) => {
                let mut partial = client.partial.lock().unwrap_or_else(|e| e.into_inner());
                if partial.is_some() {
                    return Err("text packet while binary attachments were expected".into());
                }
                let p =
                    packet::parse(text).map_err(|e| format!("invalid Socket.IO packet: {e}"))?;
                if p.kind.is_binary() && p.attachments > 0 {
                    let number = client.partials_started.fetch_add(1, Ordering::Relaxed);
                    *partial = Some(Box::new(PartialPacket {
                        nsp: p.nsp.to_owned(),
                        ack_id: p.ack_id,
                        data: p.data,
                        expected: p.attachments,
                        binary: Vec::with_capacity(p.attachments),
                        number,
                    }));
                    drop(partial);
                    watch_attachments(
                        client,
                        number,
                        self.0.shared.config.binary_attachment_timeout,
                    );
                    return Ok(());
                }
                drop(partial);
                self.dispatch(client, p.nsp, p.ack_id, p.data, Vec::new())
            }
            Message::Binary(bytes) => {
                let mut guard = client.partial.lock().unwrap_or_else(|e| e.into_inner());
                let Some(partial) = guard.as_mut() else {
                    return Err("binary frame without a binary packet announcing it".into());
                };
                partial.binary.push(bytes);
                if partial.binary.len() < partial.expected {
                    return Ok(());
                }
                let p = guard.take().expect("checked above");
                drop(guard);
                let args = match &p.data {
                    PacketData::Event { args, .. } | PacketData::Ack(args) => args,
                    _ => return Err("attachments on a packet that cannot carry them".into()),
                };
                packet::check_raw_placeholders(args, p.binary.len()).map_err(|e| e.to_string())?;
                self.dispatch(client, &p.nsp, p.ack_id, p.data, p.binary)
            }
        }
    }

    fn on_close(&self, client: &Arc<Connection>, reason: CloseReason) {
        client.close_all(reason);
    }

    fn ready(&self, client: &Arc<Connection>) -> impl std::future::Future<Output = ()> + Send {
        let inbox = Arc::clone(&client.inbox);
        async move { inbox.ready().await }
    }
}

/// Closes the connection if the binary packet numbered `number` has not received all its
/// attachments within `timeout`: a partial packet holds up to ten attachments of
/// `max_payload` bytes each, and a client must not be able to park them for ever.
fn watch_attachments(client: &Arc<Connection>, number: u64, timeout: std::time::Duration) {
    let client = Arc::downgrade(client);
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let Some(client) = client.upgrade() else {
            return;
        };
        let stuck = client
            .partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|p| p.number == number);
        if stuck {
            tracing::warn!(sid = %client.session.sid(), ?timeout, "binary packet's attachments did not all arrive in time: closing");
            client.session.close(CloseReason::ParseError);
        }
    });
}

impl SocketIoLayer {
    /// Routes one complete packet to its namespace's socket.
    fn dispatch(
        &self,
        client: &Arc<Connection>,
        nsp: &str,
        ack_id: Option<u64>,
        data: PacketData,
        binary: Vec<Bytes>,
    ) -> Result<(), String> {
        match data {
            PacketData::Connect(_) if client.session.protocol() == Protocol::V3 => {
                // Socket.IO v4 (socket.io-client 2.x): the query rides in the namespace,
                // `/admin?token=x`, and becomes the auth object; there is no auth payload.
                let (nsp, auth) = legacy_connect_target(nsp);
                if nsp == "/" && client.socket("/").is_some() {
                    return Ok(()); // connected implicitly already
                }
                self.0.connect(client, nsp, Some(auth))
            }
            PacketData::Connect(auth) => self.0.connect(client, nsp, auth),
            PacketData::Disconnect => {
                if let Some(socket) = client.remove_socket(nsp) {
                    socket.on_disconnect("client namespace disconnect");
                }
                Ok(())
            }
            PacketData::Event { event, args } => {
                let socket = client.socket(nsp).ok_or_else(|| {
                    format!(
                        "event for namespace {:?}, which the client has not joined",
                        Preview(nsp)
                    )
                })?;
                let payload = Payload::from_raw(args, binary);
                socket.dispatch_event(event, payload, ack_id.map(ReplyTo::Ack));
                Ok(())
            }
            PacketData::Ack(args) => {
                let socket = client.socket(nsp).ok_or_else(|| {
                    format!(
                        "ack for namespace {:?}, which the client has not joined",
                        Preview(nsp)
                    )
                })?;
                let id = ack_id.ok_or("ack packet without an ack id")?;
                socket.on_ack(id, Payload::from_raw(args, binary));
                Ok(())
            }
            PacketData::ConnectError(_) => Err("CONNECT_ERROR is a server → client packet".into()),
        }
    }
}

/// The namespace and auth object of a Socket.IO v4 (2.x client) CONNECT: `/admin?a=1&b=2` is
/// namespace `/admin` with auth `{"a":"1","b":"2"}` (the reference server's reading of it).
fn legacy_connect_target(nsp: &str) -> (&str, Map<String, Value>) {
    match nsp.split_once('?') {
        None => (nsp, Map::new()),
        Some((path, query)) => {
            let auth = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            (path, auth)
        }
    }
}

impl Core {
    /// A client asks to join namespace `nsp`: run its middleware, then accept or refuse.
    pub(crate) fn connect(
        self: &Arc<Self>,
        client: &Arc<Connection>,
        nsp: &str,
        auth: Option<Map<String, Value>>,
    ) -> Result<(), String> {
        if client.socket(nsp).is_some() {
            return Err(format!("second CONNECT to namespace {:?}", Preview(nsp)));
        }
        let max = self.shared.config.max_namespaces_per_connection;
        if client.namespace_count() >= max {
            tracing::debug!(nsp = %Preview(nsp), max, "CONNECT refused: too many namespaces on one connection");
            refuse(
                client,
                nsp,
                &ConnectError::new("too many namespaces on one connection"),
            );
            return Ok(());
        }
        let socket = match self.new_socket(client, nsp, auth) {
            NewSocket::Ready(socket) => socket,
            NewSocket::Refused => return Ok(()),
            NewSocket::LookingUp(lookup) => {
                client.admitting.fetch_add(1, Ordering::AcqRel);
                let client = Arc::clone(client);
                tokio::spawn(async move {
                    let socket = lookup.socket(&client).await;
                    admit(Arc::clone(&client), socket).await;
                    client.admitting.fetch_sub(1, Ordering::AcqRel);
                });
                return Ok(());
            }
        };
        if socket.namespace().def.middleware.is_empty() && self.shared.middleware.is_empty() {
            // No middleware: accept synchronously, so an event the client sends right after
            // our CONNECT reply is guaranteed to find its socket.
            accept(client, socket);
        } else {
            client.admitting.fetch_add(1, Ordering::AcqRel);
            let client = Arc::clone(client);
            tokio::spawn(async move {
                admit(Arc::clone(&client), socket).await;
                client.admitting.fetch_sub(1, Ordering::AcqRel);
            });
        }
        Ok(())
    }

    /// Joins namespace `nsp` and returns once the socket is accepted or refused (plain
    /// WebSocket connections, which join exactly one namespace as they open).
    pub(crate) async fn connect_and_wait(
        self: &Arc<Self>,
        client: &Arc<Connection>,
        nsp: &str,
        auth: Option<Map<String, Value>>,
    ) {
        let socket = match self.new_socket(client, nsp, auth) {
            NewSocket::Ready(socket) => socket,
            NewSocket::Refused => return,
            NewSocket::LookingUp(lookup) => lookup.socket(client).await,
        };
        admit(Arc::clone(client), socket).await;
    }

    /// A socket for `nsp`: a new one, one recovered from this node's memory, one being
    /// recovered from the cluster's store, or none after refusing an unknown namespace.
    fn new_socket(
        &self,
        client: &Arc<Connection>,
        nsp: &str,
        auth: Option<Map<String, Value>>,
    ) -> NewSocket {
        let Some(ns) = self.namespace_for(nsp) else {
            tracing::debug!(nsp = %Preview(nsp), "CONNECT to unknown namespace");
            refuse(client, nsp, &ConnectError::new("Invalid namespace"));
            return NewSocket::Refused;
        };
        let Some((pid, offset)) = recovery_request(&ns, auth.as_ref()) else {
            return NewSocket::Ready(Socket::new(ns, Arc::clone(client), auth));
        };
        if let Some(cluster) = ns.cluster().filter(|_| ns.recovery_in_cluster()) {
            let restoring = cluster.restore_session(ns.name(), &pid, &offset);
            return NewSocket::LookingUp(SessionLookup {
                ns,
                auth,
                offset,
                restoring,
            });
        }
        let restored = ns.recovery.as_ref().and_then(|log| log.take(&pid, &offset));
        NewSocket::Ready(match restored {
            Some(restored) => restored_socket(ns, client, auth, restored),
            None => Socket::new(ns, Arc::clone(client), auth),
        })
    }
}

/// What [`Core::new_socket`] makes of a CONNECT.
enum NewSocket {
    Ready(Socket),
    Refused,
    LookingUp(SessionLookup),
}

/// A socket whose session is being looked up in the cluster's store.
struct SessionLookup {
    ns: Arc<super::namespace::Namespace>,
    auth: Option<Map<String, Value>>,
    /// The client's last offset.
    offset: String,
    restoring: super::cluster::ClusterFuture<Option<super::cluster::SessionState>>,
}

impl SessionLookup {
    /// The recovered socket, or a new one when there was nothing to recover.
    async fn socket(self, client: &Arc<Connection>) -> Socket {
        let SessionLookup {
            ns,
            auth,
            offset,
            restoring,
        } = self;
        let found = restoring.await;
        match found.and_then(|s| super::recovery::Restored::from_cluster(s, &offset)) {
            Some(restored) => restored_socket(ns, client, auth, restored),
            None => Socket::new(ns, Arc::clone(client), auth),
        }
    }
}

/// Connection state recovery: the `pid` and `offset` of the CONNECT's auth, when recovery
/// is on and both are there.
fn recovery_request(
    ns: &super::namespace::Namespace,
    auth: Option<&Map<String, Value>>,
) -> Option<(String, String)> {
    ns.recovery.as_ref()?;
    let auth = auth?;
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth.get("offset")?.as_str()?;
    Some((pid.to_owned(), offset.to_owned()))
}

/// A socket that comes back: its old id, rooms and data, marked recovered, with what it
/// missed waiting to go out before its CONNECT reply (see `accept`).
fn restored_socket(
    ns: Arc<super::namespace::Namespace>,
    client: &Arc<Connection>,
    auth: Option<Map<String, Value>>,
    restored: super::recovery::Restored,
) -> Socket {
    let saved = restored.socket;
    let Some(id) = crate::wire::payload::SocketId::parse(&saved.sid) else {
        return Socket::new(ns, Arc::clone(client), auth);
    };
    let socket = Socket::with_id(id, ns, Arc::clone(client), auth);
    socket.insert_extension(super::socket::Restoring(Arc::new(std::sync::Mutex::new(
        Some(saved.clone()),
    ))));
    let own = saved.sid.as_str();
    socket.join(
        saved
            .rooms
            .into_iter()
            .filter(|r| &**r != own)
            .collect::<Vec<_>>(),
    );
    if let Some(data) = saved.data {
        socket.insert_extension(super::socket::SocketData(Arc::new(data)));
    }
    socket.insert_extension(super::socket::Pid(restored.pid));
    socket.insert_extension(super::socket::Recovered);
    socket.insert_extension(super::socket::ReplayFrom(restored.from));
    tracing::debug!(socket = %socket.id(), ns = socket.ns(), "socket recovered");
    socket
}

/// A recovered socket that is not admitted after all (refused by middleware, or its
/// connection closed first) puts the state it was restored from back, so that its client
/// can still recover on its next try (as in socket.io, whose `restoreSession` leaves the
/// session in place). Once admitted, the state is dropped instead.
fn settle_restoring(socket: &Socket, admitted: bool) {
    let Some(super::socket::Restoring(state)) = socket.extension::<super::socket::Restoring>()
    else {
        return;
    };
    let Some(saved) = state.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    if admitted {
        return;
    }
    let (ns, Some(super::socket::Pid(pid))) =
        (socket.namespace(), socket.extension::<super::socket::Pid>())
    else {
        return;
    };
    match (
        &ns.recovery,
        ns.cluster().filter(|_| ns.recovery_in_cluster()),
    ) {
        // Taken from the cluster's store: stored again, for the whole window.
        (Some(log), Some(cluster)) => cluster.save_session(
            ns.name(),
            super::cluster::SessionState {
                sid: saved.sid,
                pid: pid.to_string(),
                rooms: saved.rooms.iter().map(|r| r.to_string()).collect(),
                data: saved.data.unwrap_or(Value::Null),
            },
            log.max_disconnection_duration(),
        ),
        (Some(log), None) => log.put_back(&pid, saved),
        (None, _) => {}
    }
}

/// Runs the connection middleware for a socket joining its namespace, server-wide first, in
/// the order added; the first refusal wins.
async fn run_middleware(socket: &Socket) -> Result<(), ConnectError> {
    let ns = socket.namespace();
    let chain: Vec<BoxedMiddleware> = ns
        .shared
        .middleware
        .iter()
        .chain(&ns.def.middleware)
        .cloned()
        .collect();
    for middleware in chain {
        let auth = Value::Object(socket.auth().clone());
        let ctx = EventContext::new(
            socket.clone(),
            Arc::from("connect"),
            Payload::from_value(auth),
            None,
        );
        middleware(ctx).await?;
    }
    Ok(())
}

/// Admits a socket: its middleware accept it, or refuse it.
async fn admit(client: Arc<Connection>, socket: Socket) {
    let skip = socket.recovered()
        && socket
            .namespace()
            .recovery
            .as_ref()
            .is_some_and(|log| log.skip_middlewares());
    let checked = if skip {
        Ok(())
    } else {
        run_middleware(&socket).await
    };
    if let Err(err) = checked {
        tracing::debug!(ns = socket.ns(), error = %err, "connection refused by middleware");
        refuse(&client, socket.ns(), &err);
        socket.retire(); // rooms its middleware may have joined
        settle_restoring(&socket, false);
        return;
    }
    accept(&client, socket);
}

/// Sends CONNECT_ERROR (or, to a plain client, closes with the message).
pub(crate) fn refuse(client: &Connection, nsp: &str, err: &ConnectError) {
    match client.codec {
        Codec::SocketIo if client.session.protocol() == Protocol::V3 => {
            // A 2.x client emits `error` with the packet's data: the reference server sends
            // the refusal's data if it has any, else its message.
            let body = err
                .data
                .clone()
                .unwrap_or_else(|| Value::String(err.message.clone()));
            if let Ok(text) = packet::encode(PacketKind::ConnectError, 0, nsp, None, &body) {
                client.send_text(text);
            }
        }
        Codec::SocketIo => {
            if let Ok(text) = packet::encode(PacketKind::ConnectError, 0, nsp, None, &err.body()) {
                client.send_text(text);
            }
        }
        Codec::Plain => {
            let frame = serde_json::to_string(&("$error", err.body()))
                .expect("a CONNECT_ERROR body serializes");
            let _ = client.session.send(Frame::Text(frame.into()));
            client.session.close(CloseReason::ForcedClose);
        }
    }
}

/// Makes the socket live: visible to the namespace, answered with CONNECT, then announced to
/// the connect handler. The order matters: the reply is queued before anything the connect
/// handler emits, and the socket is registered before the client can act on the reply. A
/// recovered socket first gets what it missed (see `replay_from_memory`).
pub(crate) fn accept(client: &Arc<Connection>, socket: Socket) {
    if client.session.is_closed() || !client.add_socket(socket.clone()) {
        socket.retire();
        settle_restoring(&socket, false);
        return;
    }
    if !socket.mark_connected() {
        client.remove_socket(socket.ns());
        settle_restoring(&socket, false);
        return;
    }
    // Connected: from here on a drop saves the socket's state afresh (`on_disconnect`).
    settle_restoring(&socket, true);
    match socket.extension::<super::socket::ReplayFrom>() {
        None => {
            socket.namespace().insert_socket(socket.clone());
            if still_live(client, &socket) {
                reply_connect(client, &socket);
                announce(&socket);
            }
        }
        Some(super::socket::ReplayFrom(super::recovery::Offset::Memory(after))) => {
            let missed = replay_from_memory(&socket, after);
            if still_live(client, &socket) {
                socket.release(|| send_replay(client, &socket, &missed));
                announce(&socket);
            }
        }
        Some(super::socket::ReplayFrom(super::recovery::Offset::Cluster(after))) => {
            let client = Arc::clone(client);
            tokio::spawn(async move {
                let missed = replay_from_cluster(&socket, &after).await;
                if still_live(&client, &socket) {
                    socket.release(|| send_replay(&client, &socket, &missed));
                    announce(&socket);
                }
            });
        }
    }
}

/// After a socket joined its namespace: whether it is still there to be answered (it may
/// have been disconnected, or its connection closed, meanwhile; then it is cleaned up).
fn still_live(client: &Arc<Connection>, socket: &Socket) -> bool {
    if !socket.connected() {
        // Disconnected before it joined: its cleanup ran before the insert.
        socket.namespace().remove_socket(socket.id());
        return false;
    }
    if client.session.is_closed() {
        // The connection closed while middleware ran; its cleanup may have missed us.
        client.remove_socket(socket.ns());
        socket.on_disconnect(
            client
                .session
                .close_reason()
                .unwrap_or(CloseReason::TransportClose)
                .as_str(),
        );
        return false;
    }
    true
}

/// What a recovered socket missed, and its CONNECT reply: the missed broadcasts first for a
/// Socket.IO client (as socket.io does), the `$session` frame first for a plain one (so it
/// knows it was recovered before the replay).
fn send_replay(client: &Arc<Connection>, socket: &Socket, missed: &[crate::wire::codec::Frames]) {
    if client.codec == Codec::Plain {
        reply_connect(client, socket);
    }
    for frames in missed {
        socket.deliver_missed(frames);
    }
    if client.codec != Codec::Plain {
        reply_connect(client, socket);
    }
}

/// A recovered socket's own rooms, its id's first.
fn all_rooms(socket: &Socket) -> Vec<super::rooms::Room> {
    let mut rooms = vec![super::rooms::Room::from(socket.id().as_str())];
    rooms.extend(socket.rooms());
    rooms
}

/// Makes a recovered socket a recipient of what comes next, holding it back until its
/// replay is out (see [`Socket::hold`]).
fn join_held(socket: &Socket) {
    socket.hold();
    socket.namespace().insert_socket(socket.clone());
}

/// Joins a recovered socket to its namespace in step with the broadcasts, and reads what it
/// missed since `after` from this node's memory: each broadcast reaches it once, live if
/// sent after it joined, else replayed.
fn replay_from_memory(socket: &Socket, after: u64) -> Vec<crate::wire::codec::Frames> {
    let ns = socket.namespace().clone();
    let Some(log) = &ns.recovery else {
        join_held(socket);
        return Vec::new();
    };
    let missed = log.replay(after, &all_rooms(socket), || join_held(socket));
    let codec = socket.codec();
    missed
        .into_iter()
        .filter_map(|m| match codec {
            Codec::SocketIo => Some(m.frames),
            Codec::Plain => skip_unencodable(
                &ns,
                &m.event,
                ns.encode_plain_recoverable(&m.event, &m.payload, &m.offset),
            ),
        })
        .collect()
}

/// The same from the cluster's store: the adapter joins the socket in step with the
/// broadcasts it delivers here (see [`ClusterAdapter::replay`](super::cluster::ClusterAdapter::replay)).
async fn replay_from_cluster(socket: &Socket, after: &str) -> Vec<crate::wire::codec::Frames> {
    let ns = socket.namespace().clone();
    let Some(cluster) = ns.cluster().cloned() else {
        join_held(socket);
        return Vec::new();
    };
    let joining = socket.clone();
    let packets = cluster
        .replay(
            ns.name(),
            &all_rooms(socket),
            after,
            Box::new(move || join_held(&joining)),
        )
        .await;
    let codec = socket.codec();
    packets
        .iter()
        .filter_map(|p| skip_unencodable(&ns, &p.event, encode_stored(&ns, codec, p)))
        .collect()
}

/// A stored broadcast (its offset its last argument) encoded for a client of `codec`.
fn encode_stored(
    ns: &super::namespace::Namespace,
    codec: Codec,
    packet: &super::cluster::ClusterPacket,
) -> Result<crate::wire::codec::Frames, super::socket::EmitError> {
    let payload = &packet.payload;
    match codec {
        Codec::SocketIo => Ok(crate::wire::codec::encode_event(
            Codec::SocketIo,
            ns.name(),
            &packet.event,
            payload.raw_args(),
            payload.binary(),
            None,
        )?),
        Codec::Plain => {
            let mut without = payload.clone();
            let offset: String = payload.get(payload.len().saturating_sub(1))?;
            without.truncate(payload.len().saturating_sub(1));
            ns.encode_plain_recoverable(&packet.event, &without, &offset)
        }
    }
}

fn skip_unencodable(
    ns: &super::namespace::Namespace,
    event: &str,
    encoded: Result<crate::wire::codec::Frames, super::socket::EmitError>,
) -> Option<crate::wire::codec::Frames> {
    encoded
        .map_err(|err| tracing::warn!(ns = ns.name(), event, %err, "a missed broadcast cannot be encoded; skipped"))
        .ok()
}

/// Sends the CONNECT reply: with recovery on, it carries the private id a client comes
/// back with. A plain client gets it as `["$session", {sid, pid, recovered}]`, only with
/// recovery on and when it asked for it (it has no CONNECT otherwise).
fn reply_connect(client: &Arc<Connection>, socket: &Socket) {
    if client.codec == Codec::Plain && !client.plain_recovery {
        // No CONNECT in the plain protocol, and no pid: the client cannot come back.
        return;
    }
    let pid = socket.namespace().recovery.as_ref().map(|_| {
        match socket.extension::<super::socket::Pid>() {
            Some(super::socket::Pid(pid)) => pid,
            None => {
                let pid: Arc<str> = Arc::from(crate::wire::payload::SocketId::new().as_str());
                socket.insert_extension(super::socket::Pid(pid.clone()));
                pid
            }
        }
    });
    match client.codec {
        // Socket.IO v4 (2.x clients): a bare CONNECT, no sid.
        Codec::SocketIo if client.session.protocol() == Protocol::V3 => {
            client.send_text(packet::header(PacketKind::Connect, 0, socket.ns(), None));
        }
        Codec::SocketIo => {
            let reply = match pid {
                Some(pid) => serde_json::json!({ "sid": socket.id().as_str(), "pid": &*pid }),
                None => serde_json::json!({ "sid": socket.id().as_str() }),
            };
            if let Ok(text) = packet::encode(PacketKind::Connect, 0, socket.ns(), None, &reply) {
                client.send_text(text);
            }
        }
        Codec::Plain => {
            if let Some(pid) = pid {
                let frame = serde_json::json!([
                    "$session",
                    { "sid": socket.id().as_str(), "pid": &*pid, "recovered": socket.recovered() }
                ]);
                let _ = client.session.send(Frame::Text(frame.to_string().into()));
            }
        }
    }
}

/// Announces the socket to its connect handler.
fn announce(socket: &Socket) {
    tracing::debug!(socket = %socket.id(), ns = socket.ns(), "socket connected");
    socket.run_lifecycle(Lifecycle::Connect, Value::Object(socket.auth().clone()));
    if let Some(gate) = &socket.namespace().def.gate {
        gate.on_connected(socket);
    }
}
