//! Engine.IO v4: sessions over HTTP long-polling and WebSocket, the upgrade between them,
//! and the server-driven heartbeat.
//!
//! The engine knows nothing of Socket.IO. It hands every inbound message to an
//! [`EngineHandler`] and offers each session's [`EngineSession::send`] for the way back; the
//! Socket.IO layer (`live::connection`) is one such handler, the conformance example's bare
//! echo is another.
//!
//! With `Config::allow_eio3` the engine also speaks Engine.IO v3 (socket.io-client 2.x):
//! the protocol is decided once per session at its handshake, and only the framing
//! (`wire::eio3`) and the heartbeat's direction differ; see [`crate::docs::legacy_clients`].

mod polling;
pub mod session;
mod websocket;

use std::sync::Arc;

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use dashmap::DashMap;
use http::{header, Method, StatusCode};

pub use crate::wire::engineio::{Frame, PacketType};
pub use session::{CloseReason, EngineSession, Protocol, SendError, Sid, TransportKind};

use crate::{config::Config, websocket::WebSocketUpgrade, wire::engineio::Packet};

/// An inbound Engine.IO message, handed to the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Text(&'a str),
    Binary(Bytes),
}

/// What the engine calls as sessions open, receive messages and close.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session state of the layer above, created when the session opens.
    type Conn: Send + Sync + 'static;

    /// A session opened. `request` is the head of the handshake request.
    fn on_open(&self, session: Arc<EngineSession>, request: &http::request::Parts) -> Self::Conn;

    /// A message arrived. An `Err` is a protocol violation: the engine logs it with the
    /// given reason and closes the session.
    fn on_message(&self, conn: &Self::Conn, message: Message<'_>) -> Result<(), String>;

    /// The session closed; called exactly once per session.
    fn on_close(&self, conn: &Self::Conn, reason: CloseReason);

    /// Resolves once the layer above can take another message from this session. Until
    /// then the engine reads nothing more from it (a WebSocket is not read, a polling POST
    /// is not answered): backpressure on a client that sends faster than its handlers run.
    /// By default always ready.
    fn ready(&self, _conn: &Self::Conn) -> impl std::future::Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// A live session and the upper layer's state for it.
#[derive(Debug)]
pub(crate) struct Entry<C> {
    pub(crate) session: Arc<EngineSession>,
    pub(crate) conn: C,
}

/// The Engine.IO server: the session table and the HTTP entry point.
pub struct Engine<H: EngineHandler> {
    pub(crate) config: Arc<Config>,
    pub(crate) handler: H,
    sessions: DashMap<Sid, Arc<Entry<H::Conn>>>,
}

impl<H: EngineHandler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

/// What a handshake request settled for its session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handshake {
    pub(crate) protocol: Protocol,
    /// A v3 client that takes no binary (`b64=1`).
    pub(crate) base64_only: bool,
}

/// The JSON errors of the reference server: `{"code":N,"message":"..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl EngineError {
    fn message(self) -> &'static str {
        match self {
            EngineError::UnknownTransport => "Transport unknown",
            EngineError::UnknownSid => "Session ID unknown",
            EngineError::BadHandshakeMethod => "Bad handshake method",
            EngineError::BadRequest => "Bad request",
            EngineError::Forbidden => "Forbidden",
            EngineError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    pub(crate) fn response(self) -> Response {
        self.response_with(self.message())
    }

    pub(crate) fn response_with(self, message: &str) -> Response {
        tracing::debug!(code = self as u8, message, "refusing Engine.IO request");
        let status = if self == EngineError::Forbidden {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = serde_json::json!({ "code": self as u8, "message": message }).to_string();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// The query parameters Engine.IO requests carry (percent-decoded, like every query the
/// server reads).
#[derive(Debug, Default)]
struct EngineQuery {
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
    /// Engine.IO v3: the client takes no binary (`b64=1`).
    b64: bool,
    /// Engine.IO v3: JSONP polling (`j=<n>`), which this server does not offer.
    jsonp: bool,
}

impl EngineQuery {
    fn parse(query: &str) -> EngineQuery {
        let mut q = EngineQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*k {
                "EIO" => &mut q.eio,
                "transport" => &mut q.transport,
                "sid" => &mut q.sid,
                "b64" => {
                    q.b64 = true;
                    continue;
                }
                "j" => {
                    q.jsonp = true;
                    continue;
                }
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        q
    }

    /// The protocol revision asked for: `EIO=4` or `EIO=3`. (The reference server counts
    /// anything but 4 as 3; here a missing or unknown revision is refused either way.)
    fn protocol(&self) -> Option<Protocol> {
        match self.eio.as_deref() {
            Some("4") => Some(Protocol::V4),
            Some("3") => Some(Protocol::V3),
            _ => None,
        }
    }
}

impl<H: EngineHandler> Engine<H> {
    /// A new engine with `config`, handing messages to `handler`.
    pub fn new(config: Arc<Config>, handler: H) -> Arc<Self> {
        Arc::new(Engine {
            config,
            handler,
            sessions: DashMap::new(),
        })
    }

    /// Routes for this engine at `config.path` (with and without the trailing slash), for a
    /// bare Engine.IO server. The Socket.IO server mounts its engine itself.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let path = self.config.normalized_path();
        let engine = Arc::clone(self);
        let handle = axum::routing::any(move |req: Request| engine.clone().handle(req));
        axum::Router::new()
            .route(&path, handle.clone())
            .route(path.trim_end_matches('/'), handle)
    }

    /// The upper layer's handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Closes every session (server shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        for entry in self.sessions.iter() {
            entry.session.close(reason);
        }
    }

    /// Serves one HTTP request to the Engine.IO path.
    pub async fn handle(self: Arc<Self>, request: Request) -> Response {
        let (mut parts, body) = request.into_parts();
        let query = EngineQuery::parse(parts.uri.query().unwrap_or(""));

        let transport = match query.transport.as_deref() {
            Some("polling") if self.config.polling => TransportKind::Polling,
            Some("websocket") if self.config.websocket => TransportKind::WebSocket,
            _ => return EngineError::UnknownTransport.response(),
        };

        if let Some(sid) = query.sid.as_deref() {
            let Some(entry) = self.sessions.get(sid).map(|e| Arc::clone(e.value())) else {
                return EngineError::UnknownSid.response();
            };
            if query.protocol() != Some(entry.session.protocol()) {
                tracing::debug!(
                    sid,
                    "request of another protocol revision than the session's"
                );
                return EngineError::BadRequest.response();
            }
            if entry.session.ping_expired() {
                entry.session.close(CloseReason::PingTimeout);
            }
            if entry.session.is_closed() {
                // After a deliberate server-side close a polling client still gets what was
                // queued, then the close packet; otherwise the session is gone as far as
                // clients can tell.
                let session = &entry.session;
                let last_poll = transport == TransportKind::Polling
                    && parts.method == Method::GET
                    && session
                        .close_reason()
                        .is_some_and(CloseReason::owes_polling_client_a_last_poll)
                    && !session
                        .close_delivered
                        .load(std::sync::atomic::Ordering::Acquire);
                if !last_poll {
                    return EngineError::UnknownSid.response();
                }
            }
            return match (transport, &parts.method) {
                (TransportKind::Polling, &Method::GET) => polling::poll(&entry).await,
                (TransportKind::Polling, &Method::POST) => {
                    let binary = parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .is_some_and(|t| t.as_bytes() == b"application/octet-stream");
                    polling::post(&self, &entry, body, binary).await
                }
                (TransportKind::Polling, _) => EngineError::BadRequest.response(),
                (TransportKind::WebSocket, _) => {
                    match WebSocketUpgrade::from_request(&mut parts, self.config.max_payload) {
                        Ok(ws) => websocket::upgrade(self, entry, ws),
                        Err(_) => EngineError::BadRequest.response(),
                    }
                }
            };
        }

        if parts.method != Method::GET {
            return EngineError::BadHandshakeMethod.response();
        }
        let protocol = match query.protocol() {
            Some(Protocol::V3) if self.config.allow_eio3 => {
                if query.jsonp {
                    return EngineError::BadRequest.response_with("JSONP polling is not supported");
                }
                Protocol::V3
            }
            Some(Protocol::V4) => Protocol::V4,
            _ => return EngineError::UnsupportedProtocolVersion.response(),
        };
        let handshake = Handshake {
            protocol,
            base64_only: query.b64,
        };
        if let Some(allow) = &self.config.allow_request {
            if let Err(message) = allow(&parts) {
                tracing::debug!(%message, "handshake refused by allow_request");
                return EngineError::Forbidden.response_with(&message);
            }
        }
        match transport {
            TransportKind::Polling => polling::handshake(self, &parts, handshake),
            TransportKind::WebSocket => {
                match WebSocketUpgrade::from_request(&mut parts, self.config.max_payload) {
                    Ok(ws) => websocket::handshake(self, parts, ws, handshake),
                    Err(_) => EngineError::BadRequest.response(),
                }
            }
        }
    }

    /// Creates a session and registers it. The caller sends the open packet.
    fn open(
        &self,
        transport: TransportKind,
        request: &http::request::Parts,
        handshake: Handshake,
    ) -> Arc<Entry<H::Conn>> {
        let sid = session::new_sid();
        let session = Arc::new(EngineSession::with_protocol(
            sid.clone(),
            transport,
            session::QueueBound::from_config(&self.config),
            handshake.protocol,
            handshake.base64_only,
        ));
        let conn = self.handler.on_open(Arc::clone(&session), request);
        let entry = Arc::new(Entry { session, conn });
        self.sessions.insert(sid, Arc::clone(&entry));
        tracing::debug!(sid = %entry.session.sid(), ?transport, protocol = ?handshake.protocol, "session opened");
        entry
    }

    /// The open packet: `0{"sid":...,"upgrades":[...],"pingInterval":...,...}`.
    fn open_packet(&self, sid: &str, transport: TransportKind) -> String {
        let upgrades: &[&str] = if transport == TransportKind::Polling && self.config.websocket {
            &["websocket"]
        } else {
            &[]
        };
        // A struct, to keep the reference server's key order.
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Open<'a> {
            sid: &'a str,
            upgrades: &'a [&'a str],
            ping_interval: u64,
            ping_timeout: u64,
            max_payload: usize,
        }
        let json = serde_json::to_string(&Open {
            sid,
            upgrades,
            ping_interval: self.config.ping_interval.as_millis() as u64,
            ping_timeout: self.config.ping_timeout.as_millis() as u64,
            max_payload: self.config.max_payload,
        })
        .expect("the open packet serializes");
        format!("0{json}")
    }

    /// Runs a session's heartbeat until it closes, then unregisters it and tells the handler.
    async fn drive(self: Arc<Self>, entry: Arc<Entry<H::Conn>>) {
        let session = &entry.session;
        let (interval, timeout) = (self.config.ping_interval, self.config.ping_timeout);
        match session.protocol() {
            Protocol::V4 => session.heartbeat(interval, timeout).await,
            Protocol::V3 => session.heartbeat_v3(interval, timeout).await,
        }
        session.closed().await;
        let reason = session
            .close_reason()
            .unwrap_or(CloseReason::TransportClose);
        tracing::debug!(sid = %session.sid(), %reason, "session closed");
        self.handler.on_close(&entry.conn, reason);
        // A polling client learns of a close from its next polls, which must still find
        // the session to collect what was queued (a DISCONNECT, the reason for a cut-off)
        // and then the close packet. Bounded: a client that never polls again is forgotten
        // after the pong deadline it would have had anyway.
        if session.transport() == TransportKind::Polling && reason.owes_polling_client_a_last_poll()
        {
            let grace = self.config.ping_timeout;
            let _ = tokio::time::timeout(grace, async {
                while !session
                    .close_delivered
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await;
        }
        self.sessions.remove(session.sid());
    }

    /// Handles one decoded inbound packet, whatever transport brought it.
    fn on_packet(&self, entry: &Entry<H::Conn>, packet: Packet<'_>) -> Result<(), String> {
        match packet {
            Packet::Message(text) => self.handler.on_message(&entry.conn, Message::Text(text)),
            Packet::Binary(bytes) => self.handler.on_message(&entry.conn, Message::Binary(bytes)),
            Packet::Pong(_) if entry.session.protocol() == Protocol::V4 => {
                entry.session.on_pong();
                Ok(())
            }
            Packet::Ping(_) if entry.session.protocol() == Protocol::V3 => {
                entry.session.on_client_ping();
                Ok(())
            }
            Packet::Pong(_) => {
                Err("unexpected pong from client (Engine.IO v3 pongs come from the server)".into())
            }
            Packet::Close => {
                entry.session.close(CloseReason::TransportClose);
                Ok(())
            }
            Packet::Noop => Ok(()),
            Packet::Ping(_) => {
                Err("unexpected ping from client (Engine.IO v4 pings come from the server)".into())
            }
            Packet::Open | Packet::Upgrade => Err("unexpected open/upgrade packet".into()),
        }
    }

    /// Logs a protocol violation and closes the session for it.
    fn protocol_error(&self, session: &EngineSession, reason: &str) {
        tracing::warn!(sid = %session.sid(), %reason, "protocol error: closing session");
        session.close(CloseReason::ParseError);
    }
}

/// A plain-text response with the headers the reference server sends on polling GETs.
pub(crate) fn text_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.into(),
    )
        .into_response()
}
