//! `realtime`: write realtime servers as annotated Rust functions; speak Socket.IO and plain
//! WebSocket to the clients people already have.
//!
//! This facade re-exports [`realtime_core`] (the protocol engine, rooms, broadcast, axum
//! integration) and [`realtime_macros`].
pub use realtime_core::*;
pub use realtime_macros;
