//! `realtime-core`: a Socket.IO v5 / Engine.IO v4 compatible realtime server on axum, with
//! a plain WebSocket endpoint for clients that cannot run Socket.IO.
//!
//! Map of the crate, one concern per module:
//!
//! - [`config`]: every knob, with the reference server's defaults.
//! - [`engine`]: Engine.IO sessions, long-polling and WebSocket transports, upgrade,
//!   heartbeat. Knows nothing of Socket.IO.
//! - [`socketio`]: the Socket.IO packet format and the per-connection dispatch.
//! - [`socket`], [`namespace`]: sockets and namespaces, what handlers talk to.
//! - [`handler`]: handlers and extractors (`Data<T>`, `Socket`, `AckSender`, ...).
//! - [`adapter`], [`broadcast`]: rooms and encode-once broadcast, behind the `Adapter` trait.
//! - `plain_ws`: the plain WebSocket endpoint (JSON frames).
//! - [`server`]: building the server, mounting it in axum, serving it.
//! - [`docs`]: long-form documentation (wire formats, policies).
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

pub mod adapter;
pub mod auth;
pub mod broadcast;
mod client_log;
pub mod config;
pub mod docs;
pub mod engine;
pub mod handler;
pub mod middleware;
pub mod namespace;
mod plain_ws;
pub mod ratelimit;
pub mod registry;
pub mod reply;
mod serve;
pub mod server;
pub mod session;
pub mod shakehand;
pub mod socket;
pub mod socketio;
pub mod websocket;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use adapter::{Adapter, BroadcastOptions, LocalAdapter, Room};
pub use broadcast::{BroadcastOperator, IntoRooms, RoomName};
pub use config::Config;
pub use engine::CloseReason;
pub use handler::{
    AckSender, Bin, Data, Event, EventContext, Extension, FromEvent, FromEventParts, Handler,
    State, TryData,
};
pub use middleware::Middleware;
pub use namespace::{ConnectError, Lifecycle, Namespace, NamespaceBuilder, Target};
pub use ratelimit::RateLimit;
pub use reply::{IntoReply, Reply};
pub use server::{shutdown_signal, BuildError, Realtime, RealtimeBuilder};
pub use session::{MemorySessionStore, RedisSessionStore, Session, SessionStore};
pub use shakehand::ShakehandConfig;
pub use socket::{AckError, RequestHead, Socket};
pub use socketio::{Codec, EmitError, Payload, SocketId};
pub use tower_http::cors::CorsLayer;
