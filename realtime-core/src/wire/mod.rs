//! Wire codecs: pure functions and types over bytes, no I/O. Fuzzed (`fuzz/`).
//!
//! - [`engineio`]: Engine.IO v4 packets and long-polling payloads; [`Frame`](engineio::Frame),
//!   one outbound packet whose bytes are shared by every recipient of a broadcast.
//! - [`eio3`]: Engine.IO v3 packets and payloads, for socket.io-client 2.x
//!   (`Config::allow_eio3`).
//! - [`socketio`]: Socket.IO v5 packets (namespaces, events, acks, binary placeholders).
//! - [`websocket`]: WebSocket frames (RFC 6455) and the decoder of a client's bytes.
//! - [`plain`]: the plain WebSocket JSON frames ([`crate::docs::plain_websocket`]).
//! - [`payload`]: socket ids and event arguments, whatever the codec.
//! - [`codec`]: a connection's codec, and encoding events and acks with it.

pub mod codec;
pub mod eio3;
pub mod engineio;
pub mod payload;
pub mod plain;
pub mod socketio;
pub mod websocket;
