//! `realtime`: write realtime servers as annotated Rust functions; speak Socket.IO and plain
//! WebSocket to the clients people already have.
//!
//! This facade re-exports [`realtime_core`] (the protocol engine, rooms, broadcast, axum
//! integration, handlers and extractors) and the attribute macros of [`realtime_macros`]
//! (`#[event]`, `#[on_connect]`, ...), which generate code against `realtime::__private`.
pub use realtime_core::*;
pub use realtime_macros::{
    event, fallback, on_connect, on_disconnect, on_shakehand_complete, on_shakehand_fail,
    on_shakehand_start, on_shakehand_success, on_start,
};
