//! What events carry: socket ids, and the arguments of an event or ack with their binary
//! attachments. Independent of how they travel (see [`super::codec`]).

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::socketio::{self as packet};

/// A socket's id: 20 URL-safe characters, unique per connection and namespace.
///
/// Stored inline (no allocation) because ids are copied into room indexes and broadcast
/// bookkeeping all the time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId([u8; 20]);

impl SocketId {
    /// A fresh random id.
    pub fn new() -> SocketId {
        use base64::Engine as _;
        let raw: [u8; 15] = rand::random();
        let mut out = [0u8; 20];
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .expect("15 bytes encode to exactly 20 characters");
        SocketId(out)
    }

    /// Parses an id from its string form (e.g. a room name that is a socket id).
    pub fn parse(s: &str) -> Option<SocketId> {
        let bytes: [u8; 20] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(SocketId(bytes))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("socket ids are ASCII")
    }
}

impl Default for SocketId {
    fn default() -> Self {
        SocketId::new()
    }
}

impl std::fmt::Debug for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The arguments of an event or ack, with any binary attachments.
///
/// Binary values travel as attachments: each appears in `args` as a placeholder
/// `{"_placeholder":true,"num":n}` standing for `binary[n]`, exactly as Socket.IO clients send
/// and expect them (a JS client sees a `Buffer`/`ArrayBuffer` in that position).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub args: Vec<Value>,
    pub binary: Vec<Bytes>,
}

impl Payload {
    /// An empty payload (an event with no arguments).
    pub fn new() -> Payload {
        Payload::default()
    }

    /// Appends a JSON argument.
    pub fn arg(mut self, value: impl Serialize) -> Result<Payload, serde_json::Error> {
        self.args.push(serde_json::to_value(value)?);
        Ok(self)
    }

    /// Appends a binary argument (sent as an attachment).
    pub fn binary_arg(mut self, bytes: impl Into<Bytes>) -> Payload {
        self.args.push(packet::placeholder(self.binary.len()));
        self.binary.push(bytes.into());
        self
    }

    /// A payload of one JSON argument.
    pub fn from_value(value: Value) -> Payload {
        Payload {
            args: vec![value],
            binary: Vec::new(),
        }
    }
}

/// `{"error": error}` as a one-argument payload.
pub(crate) fn error_payload(error: Value) -> Payload {
    Payload::from_value(serde_json::json!({ "error": error }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_round_trip() {
        let id = SocketId::new();
        assert_eq!(SocketId::parse(id.as_str()), Some(id));
        assert_eq!(SocketId::parse("short"), None);
    }
}
