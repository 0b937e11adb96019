//! Server configuration, with the reference server's defaults.

use std::{fmt, sync::Arc, time::Duration};

/// Decides whether an Engine.IO handshake may proceed, from the HTTP request head.
///
/// Returning `Err(message)` answers 403 `{"code":4,"message":message}` (a WebSocket
/// handshake is refused the same way). Use it for cheap checks (origin, IP allow-lists);
/// identity checks belong in connection middleware.
pub type AllowRequest = Arc<dyn Fn(&http::request::Parts) -> Result<(), String> + Send + Sync>;

/// Every knob of the server. Build one with [`Config::default`] and the `with_*` methods.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Path of the Socket.IO endpoint. Default `/socket.io/`.
    pub path: String,
    /// Path of the plain WebSocket endpoint, `None` to disable it. Default `/ws`.
    pub plain_ws_path: Option<String>,
    /// How often the server pings each client. Default 25 s.
    pub ping_interval: Duration,
    /// How long a client has to answer a ping before it is considered gone. Default 20 s.
    pub ping_timeout: Duration,
    /// How long a polling → WebSocket upgrade may take. Default 10 s.
    pub upgrade_timeout: Duration,
    /// Largest message accepted from a client, in bytes (`maxHttpBufferSize`). Default 1e6.
    pub max_payload: usize,
    /// How long a client may stay connected without joining any namespace. Default 45 s.
    pub connect_timeout: Duration,
    /// Whether clients may use HTTP long-polling. Default true.
    pub polling: bool,
    /// Whether clients may use WebSocket. Default true.
    pub websocket: bool,
    /// Frames each connection may have waiting to be written (a packet, and each of its
    /// binary attachments, is a frame). See [`crate::docs::slow_consumers`] for what happens
    /// when it is full. Default 65536: with the default byte bound, the byte bound is always
    /// reached first.
    pub max_buffered_packets: usize,
    /// Bytes each connection may have waiting to be written, each frame counted with 64 bytes
    /// of overhead; an empty queue takes one packet of any size. Default 4 MiB. See
    /// [`crate::docs::slow_consumers`].
    pub max_buffered_bytes: usize,
    /// Default timeout of server → client acks. Default 5 s.
    pub ack_timeout: Duration,
    /// Optional hook to refuse handshakes from the request head.
    pub allow_request: Option<AllowRequest>,
    /// Events each connection may send; `None` (the default) for no limit. See
    /// [`crate::ratelimit`].
    pub event_rate_limit: Option<crate::ratelimit::RateLimit>,
    /// Event handlers of one connection that may run at once (started and not finished).
    /// When they all are, the next waits for one to finish. Default 128.
    pub max_handlers_in_flight: usize,
    /// Events of one connection that may wait to start. While that many wait, the server
    /// reads nothing more from the connection (backpressure). Default 256.
    pub max_events_waiting: usize,
    /// Namespaces one connection may join (or be joining) at once; a CONNECT past it is
    /// refused with `connect_error` "too many namespaces on one connection". Default 32.
    pub max_namespaces_per_connection: usize,
    /// How long a binary packet may wait for its attachments; then the connection is closed
    /// (`parse error`). Default 60 s.
    pub binary_attachment_timeout: Duration,
    /// Connections open at once (HTTP, long-polling and WebSocket); one more is answered
    /// 503 and closed. `None` (the default): what the process's open-file limit allows,
    /// keeping a fiftieth of it (at least 64) for everything else: 19 600 with a limit of
    /// 20 000. Applies to `serve` and
    /// `serve_app`.
    pub max_connections: Option<usize>,
    /// How long a connection may take to send a complete request head, after connecting or
    /// after its previous response on a keep-alive connection; then it is closed. Default
    /// 10 s. Applies to `serve` and `serve_app`.
    pub header_read_timeout: Duration,
    /// How long a graceful shutdown may take (handlers finishing, connections flushing
    /// and closing). Default 10 s.
    pub shutdown_timeout: Duration,
    /// Remove a dynamic namespace once its last socket left (its rooms and adapter go with
    /// it; the next client to connect creates it anew). Default true.
    pub remove_empty_dynamic_namespaces: bool,
    /// Accept Engine.IO v3 clients, i.e. socket.io-client 2.x (Node's `allowEIO3`). Off by
    /// default, as in Node: a v3 handshake is answered 400 "Unsupported protocol version".
    /// What v3 clients get, and how they differ, is in [`crate::docs::legacy_clients`].
    pub allow_eio3: bool,
    /// A directory holding the socket.io client bundle (e.g. the npm package
    /// `socket.io-client`'s `dist/`): when set, the server answers
    /// `<path>socket.io.js`, `socket.io.min.js`, their `.map`s and the other bundles of that
    /// directory (Node's `serveClient`), with an `ETag` and `304 Not Modified`. `None` (the
    /// default): those requests are 404. Read once, when the server is built.
    pub serve_client: Option<std::path::PathBuf>,
    /// Connection state recovery (socket.io 4.6+'s `connectionStateRecovery`): a client that
    /// drops and comes back within the window gets the broadcasts it missed, its socket id,
    /// rooms and data. `None` (the default, as in Node): off. See [`Recovery`].
    pub connection_state_recovery: Option<Recovery>,
}

/// How connection state recovery behaves (socket.io's `connectionStateRecovery`). Each
/// namespace keeps the broadcasts it sent (event packets without an ack and not volatile,
/// each with an offset the client remembers) for `max_disconnection_duration`, at most
/// `max_packets` of them and `max_bytes` in all; a client away longer, or whose last offset
/// is no longer kept, connects as a new socket (`recovered() == false`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Recovery {
    /// How long a disconnected socket's state is kept. Default 2 minutes (Node's).
    pub max_disconnection_duration: Duration,
    /// Skip connection middleware for a recovered socket. Default true (Node's).
    pub skip_middlewares: bool,
    /// Broadcasts kept per namespace, at most. Default 10 000.
    pub max_packets: usize,
    /// Bytes of broadcasts kept per namespace, at most. Default 16 MiB.
    pub max_bytes: usize,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
            max_bytes: 16 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: "/socket.io/".into(),
            plain_ws_path: Some("/ws".into()),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_millis(45_000),
            polling: true,
            websocket: true,
            max_buffered_packets: 65_536,
            max_buffered_bytes: 4 << 20,
            ack_timeout: Duration::from_secs(5),
            allow_request: None,
            event_rate_limit: None,
            max_handlers_in_flight: 128,
            max_events_waiting: 256,
            max_namespaces_per_connection: 32,
            binary_attachment_timeout: Duration::from_secs(60),
            remove_empty_dynamic_namespaces: true,
            max_connections: None,
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            allow_eio3: false,
            serve_client: None,
            connection_state_recovery: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        impl Config {
            $($(#[$m])* pub fn $name(mut self, value: $ty) -> Self { self.$field = value.into(); self })*
        }
    };
}

setters! {
    /// Sets [`Config::path`]; a trailing slash is added if missing.
    with_path: path: &str;
    /// Sets [`Config::plain_ws_path`].
    with_plain_ws_path: plain_ws_path: Option<String>;
    /// Sets [`Config::ping_interval`].
    with_ping_interval: ping_interval: Duration;
    /// Sets [`Config::ping_timeout`].
    with_ping_timeout: ping_timeout: Duration;
    /// Sets [`Config::upgrade_timeout`].
    with_upgrade_timeout: upgrade_timeout: Duration;
    /// Sets [`Config::max_payload`].
    with_max_payload: max_payload: usize;
    /// Sets [`Config::connect_timeout`].
    with_connect_timeout: connect_timeout: Duration;
    /// Sets [`Config::polling`].
    with_polling: polling: bool;
    /// Sets [`Config::websocket`].
    with_websocket: websocket: bool;
    /// Sets [`Config::max_buffered_packets`].
    with_max_buffered_packets: max_buffered_packets: usize;
    /// Sets [`Config::max_buffered_bytes`].
    with_max_buffered_bytes: max_buffered_bytes: usize;
    /// Sets [`Config::ack_timeout`].
    with_ack_timeout: ack_timeout: Duration;
    /// Sets [`Config::event_rate_limit`].
    with_event_rate_limit: event_rate_limit: crate::ratelimit::RateLimit;
    /// Sets [`Config::max_handlers_in_flight`].
    with_max_handlers_in_flight: max_handlers_in_flight: usize;
    /// Sets [`Config::max_events_waiting`].
    with_max_events_waiting: max_events_waiting: usize;
    /// Sets [`Config::max_namespaces_per_connection`].
    with_max_namespaces_per_connection: max_namespaces_per_connection: usize;
    /// Sets [`Config::binary_attachment_timeout`].
    with_binary_attachment_timeout: binary_attachment_timeout: Duration;
    /// Sets [`Config::max_connections`].
    with_max_connections: max_connections: usize;
    /// Sets [`Config::header_read_timeout`].
    with_header_read_timeout: header_read_timeout: Duration;
    /// Sets [`Config::shutdown_timeout`].
    with_shutdown_timeout: shutdown_timeout: Duration;
    /// Sets [`Config::remove_empty_dynamic_namespaces`].
    with_remove_empty_dynamic_namespaces: remove_empty_dynamic_namespaces: bool;
    /// Sets [`Config::allow_eio3`]: `true` lets socket.io-client 2.x connect.
    with_allow_eio3: allow_eio3: bool;
}

impl Config {
    /// Sets [`Config::allow_request`].
    pub fn with_allow_request(
        mut self,
        hook: impl Fn(&http::request::Parts) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.allow_request = Some(Arc::new(hook));
        self
    }

    /// Turns on connection state recovery ([`Config::connection_state_recovery`]).
    pub fn with_connection_state_recovery(mut self, recovery: Recovery) -> Self {
        self.connection_state_recovery = Some(recovery);
        self
    }

    /// Sets [`Config::serve_client`]: serve the client bundle from this directory.
    pub fn with_serve_client(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.serve_client = Some(dir.into());
        self
    }

    /// The path normalised to end with `/`, as Engine.IO clients request it.
    pub(crate) fn normalized_path(&self) -> String {
        let mut p = self.path.clone();
        if !p.starts_with('/') {
            p.insert(0, '/');
        }
        if !p.ends_with('/') {
            p.push('/');
        }
        p
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("plain_ws_path", &self.plain_ws_path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_payload", &self.max_payload)
            .field("connect_timeout", &self.connect_timeout)
            .field("polling", &self.polling)
            .field("websocket", &self.websocket)
            .field("max_buffered_packets", &self.max_buffered_packets)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("ack_timeout", &self.ack_timeout)
            .field("allow_request", &self.allow_request.is_some())
            .field("event_rate_limit", &self.event_rate_limit)
            .field("max_handlers_in_flight", &self.max_handlers_in_flight)
            .field("max_events_waiting", &self.max_events_waiting)
            .field(
                "max_namespaces_per_connection",
                &self.max_namespaces_per_connection,
            )
            .field("binary_attachment_timeout", &self.binary_attachment_timeout)
            .field(
                "remove_empty_dynamic_namespaces",
                &self.remove_empty_dynamic_namespaces,
            )
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("allow_eio3", &self.allow_eio3)
            .field("serve_client", &self.serve_client)
            .finish()
    }
}
