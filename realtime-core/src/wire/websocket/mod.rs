//! WebSocket (RFC 6455) on the wire, server side: [`frame`] the frame format, [`decoder`] a
//! client's bytes to messages. The connection that does the I/O is `crate::websocket`.

pub mod decoder;
pub mod frame;
