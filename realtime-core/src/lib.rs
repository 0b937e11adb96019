//! `realtime-core`: a Socket.IO v5 / Engine.IO v4 compatible realtime server on axum, with
//! a plain WebSocket endpoint for clients that cannot run Socket.IO, and (with
//! `Config::allow_eio3`) the Engine.IO v3 of socket.io-client 2.x ([`docs::legacy_clients`]).
//!
//! Map of the crate, in layers: each module uses only its own layer and the layers before it
//! (checked by `tests/layers.rs`).
//!
//! 1. Foundation: [`config`] (every knob, the reference server's defaults), `logging`
//!    (logging to the terminal in one line), [`ratelimit`]
//!    (the per-connection token bucket), `client_log` (bounded quoting of client data),
//!    `wait` (waiting on a `Notify` without missing a wake-up), `dates` (JavaScript's date
//!    strings, for what Node nodes exchange).
//! 2. Wire codecs, pure and fuzzed: [`wire`] (Engine.IO v4 and v3, Socket.IO, plain frames,
//!    WebSocket frames, payloads, the per-connection codec).
//! 3. Transports: [`websocket`] (our WebSocket connection and upgrade), [`engine`] (Engine.IO
//!    sessions over long-polling and WebSocket, heartbeat, upgrade).
//! 4. Live objects: [`live`] (connections, sockets, namespaces, rooms, broadcasts, the plain
//!    WebSocket endpoint, the inbox that runs handlers in order, and the seam to a cluster).
//! 5. Handlers: [`handler`] (extractors, `Handler` and `Middleware`, replies, registering by
//!    hand).
//! 6. Features: [`session`] (weroll's sessions and their stores), [`auth`] (tokens, JWT,
//!    cookies, guards), [`shakehand`] (weroll's `$init` handshake), [`cluster`] (the Redis
//!    adapter, wire-compatible with Node's `@socket.io/redis-adapter`).
//! 7. Server: [`server`] (building, routing and serving; what the attribute macros register;
//!    the accept loop with its connection bounds and graceful shutdown).
//!
//! Long-form documentation (wire formats, policies, bounds) is in [`docs`].
//!
//! ```no_run
//! use realtime_core::{Data, Realtime, Socket};
//!
//! async fn hello(socket: Socket, Data(name): Data<String>) {
//!     let _ = socket.emit("bye", &format!("bye, {name}"));
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! Realtime::builder().on("hello", hello).build().unwrap().serve("127.0.0.1:3000").await
//! # }
//! ```

pub mod auth;
mod client_log;
#[cfg(feature = "redis")]
pub mod cluster;
pub mod config;
mod dates;
pub mod docs;
pub mod engine;
pub mod handler;
pub mod live;
#[cfg(feature = "logging")]
pub mod logging;
pub mod ratelimit;
pub mod server;
pub mod session;
pub mod shakehand;
mod wait;
pub mod websocket;
pub mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The axum this crate mounts into: use `realtime::axum` for your routes, so that both sides
/// agree on one version (two versions of axum in one program do not mix).
pub use axum;
#[cfg(feature = "redis")]
pub use cluster::{RedisAdapter, RedisStreamsAdapter};
pub use config::Config;
pub use engine::CloseReason;
pub use handler::{
    call::{Handler, Middleware},
    extract::{
        AckSender, Bin, Data, Event, Extension, FromEvent, FromEventParts, Recovered, State,
        TryData,
    },
    listeners::ListenerError,
    reply::{IntoReply, Reply},
    routes::NamespaceBuilder,
};
pub use live::{
    broadcast::{BroadcastOperator, IntoRooms, RoomName},
    cluster::{
        AckResponses, BroadcastAcks, ClusterAdapter, ClusterError, FetchedSocket, ServerEvent,
        ServerResponses,
    },
    event::EventContext,
    namespace::{ConnectError, Lifecycle, Namespace, Target},
    request::RequestHead,
    rooms::{BroadcastOptions, Room, RoomIndex},
    socket::{AckError, EmitError, Socket},
};
pub use ratelimit::RateLimit;
pub use server::{shutdown_signal, BuildError, Realtime, RealtimeBuilder};
pub use session::{MemorySessionStore, Session, SessionStore};
#[cfg(feature = "redis")]
pub use session::{RedisFormat, RedisSessionStore, WerollFormat};
pub use shakehand::ShakehandConfig;
pub use tower_http::cors::CorsLayer;
pub use wire::{codec::Codec, payload::Payload, payload::SocketId};
