//! WebSocket (RFC 6455) connections, server side: our own, because its buffers are most of
//! what an idle connection costs and its writes most of what a broadcast costs. The frame
//! format and the decoder are pure codecs in [`crate::wire::websocket`].
//!
//! - `conn`: a connection that keeps no buffer while idle nor after a large message, and
//!   writes a batch of frames with one vectored write.
//! - `upgrade`: the HTTP/1.1 opening handshake.
//!
//! No extension (permessage-deflate) is offered, as the reference server's default.

pub(crate) mod conn;
pub(crate) mod upgrade;

pub(crate) use upgrade::{Upgraded, WebSocketUpgrade};
