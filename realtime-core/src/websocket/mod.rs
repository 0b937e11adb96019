//! WebSocket (RFC 6455), server side: our own, because its buffers are most of what an idle
//! connection costs and its writes most of what a broadcast costs.
//!
//! - [`frame`]: the frame format (pure: parse, unmask, encode).
//! - [`decoder`]: a client's bytes to messages (pure: any split of the input).
//! - `conn`: a connection that keeps no buffer while idle nor after a large message, and
//!   writes a batch of frames with one vectored write.
//! - `upgrade`: the HTTP/1.1 opening handshake.
//!
//! No extension (permessage-deflate) is offered, as the reference server's default.

pub(crate) mod conn;
pub mod decoder;
pub mod frame;
pub(crate) mod upgrade;

pub(crate) use decoder::{Incoming, WsError};
pub(crate) use frame::{close_code, CloseFrame};
pub(crate) use upgrade::{Upgraded, WebSocketUpgrade};
