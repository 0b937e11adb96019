//! Socket.IO v5 over the engine: namespaces, sockets, events, acks, binary attachments.
//!
//! - [`packet`]: the wire format.
//! - `client`: one engine session's view (which namespaces it joined, binary packets being
//!   assembled) and the dispatch of inbound packets.
//! - `inbox`: the handlers of one connection waiting to start, started in order off the
//!   connection's I/O task, with bounds on how many wait and run.
//! - [`Socket`](crate::Socket): one client in one namespace; what handlers talk to.
//! - [`Namespace`](crate::Namespace): the sockets of one namespace, its rooms and handlers.

pub(crate) mod client;
pub(crate) mod inbox;
pub mod packet;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;

use crate::engine::Frame;
use packet::{AckBody, Args, EventBody, One, PacketKind};

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

/// The protocol a connection speaks, which decides how its packets are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Socket.IO v5 over Engine.IO v4.
    SocketIo,
    /// The plain WebSocket JSON frames (see [`crate::docs::plain_websocket`]).
    Plain,
}

/// The frames of one encoded packet: the packet itself, then one per binary attachment.
pub(crate) type Frames = SmallVec<[Frame; 1]>;

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    #[error("could not serialize the payload: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("too many binary attachments ({0}, at most {max})", max = packet::MAX_ATTACHMENTS)]
    TooManyAttachments(usize),
    #[error(transparent)]
    Send(#[from] crate::engine::SendError),
    #[error("the socket is disconnected")]
    Disconnected,
}

/// Encodes an EVENT (or BINARY_EVENT) for `protocol`.
pub(crate) fn encode_event<A: Args + ?Sized>(
    codec: Codec,
    nsp: &str,
    event: &str,
    args: &A,
    binary: &[Bytes],
    ack_id: Option<u64>,
) -> Result<Frames, EmitError> {
    let body = EventBody { event, args };
    match codec {
        Codec::SocketIo => encode_sio(PacketKind::Event, nsp, ack_id, &body, binary),
        Codec::Plain => {
            let mut text = if binary.is_empty() {
                serde_json::to_string(&body)?
            } else {
                let mut v = serde_json::to_value(&body)?;
                inline_binary(&mut v, binary);
                v.to_string()
            };
            if let Some(id) = ack_id {
                // `[event, data, ackId]`: the plain client answers `["$ack", ackId, ...]`.
                text.pop();
                use std::fmt::Write;
                let _ = write!(text, ",{id}]");
            }
            Ok(SmallVec::from_elem(Frame::Text(text.into()), 1))
        }
    }
}

/// Encodes an ACK (or BINARY_ACK) answering the client's `ack_id`.
pub(crate) fn encode_ack<A: Args + ?Sized>(
    codec: Codec,
    nsp: &str,
    ack_id: u64,
    args: &A,
    binary: &[Bytes],
) -> Result<Frames, EmitError> {
    match codec {
        Codec::SocketIo => encode_sio(PacketKind::Ack, nsp, Some(ack_id), &AckBody(args), binary),
        Codec::Plain if ack_id == crate::plain_ws::RAW_REPLY => {
            // The reply to a raw text frame is raw text: a string as-is, anything else as JSON.
            let mut v = serde_json::to_value(AckBody(args))?;
            inline_binary(&mut v, binary);
            let text = match v {
                // A handler that returned `()` has nothing to say to a raw client.
                Value::Array(items) if items.is_empty() => return Ok(SmallVec::new()),
                Value::Array(mut items) if items.len() == 1 => match items.pop() {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                other => other.to_string(),
            };
            Ok(SmallVec::from_elem(Frame::Text(text.into()), 1))
        }
        Codec::Plain => {
            // `["$ack", ackId, ...args]`
            let mut v = serde_json::to_value(AckBody(args))?;
            inline_binary(&mut v, binary);
            let Value::Array(items) = v else {
                unreachable!("acks serialize as arrays")
            };
            let mut out = Vec::with_capacity(items.len() + 2);
            out.push(Value::from("$ack"));
            out.push(Value::from(ack_id));
            out.extend(items);
            Ok(SmallVec::from_elem(
                Frame::Text(Value::Array(out).to_string().into()),
                1,
            ))
        }
    }
}

fn encode_sio<T: Serialize + ?Sized>(
    kind: PacketKind,
    nsp: &str,
    ack_id: Option<u64>,
    body: &T,
    binary: &[Bytes],
) -> Result<Frames, EmitError> {
    if binary.len() > packet::MAX_ATTACHMENTS {
        return Err(EmitError::TooManyAttachments(binary.len()));
    }
    let kind = match (kind, binary.is_empty()) {
        (PacketKind::Event, false) => PacketKind::BinaryEvent,
        (PacketKind::Ack, false) => PacketKind::BinaryAck,
        (kind, _) => kind,
    };
    let text = packet::encode(kind, binary.len(), nsp, ack_id, body)?;
    let mut frames = SmallVec::with_capacity(1 + binary.len());
    frames.push(Frame::message_prefixed(text));
    frames.extend(binary.iter().cloned().map(Frame::Binary));
    Ok(frames)
}

/// Plain WebSocket clients have no attachments: binary values travel inline as
/// `{"base64": "..."}` in place of each placeholder.
fn inline_binary(v: &mut Value, binary: &[Bytes]) {
    use base64::Engine as _;
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| inline_binary(i, binary)),
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true)) {
                if let Some(bytes) = map
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| binary.get(n as usize))
                {
                    *v = serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) });
                }
                return;
            }
            map.values_mut().for_each(|i| inline_binary(i, binary));
        }
        _ => {}
    }
}

/// Encodes a single-argument event (the common `emit(event, &data)`).
pub(crate) fn encode_event_one<T: Serialize + ?Sized>(
    codec: Codec,
    nsp: &str,
    event: &str,
    data: &T,
    ack_id: Option<u64>,
) -> Result<Frames, EmitError> {
    encode_event(codec, nsp, event, &One(data), &[], ack_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(frames: &Frames) -> &str {
        match &frames[0] {
            Frame::Text(t) => t.as_str(),
            Frame::Binary(_) => panic!("binary"),
        }
    }

    #[test]
    fn socket_ids_round_trip() {
        let id = SocketId::new();
        assert_eq!(SocketId::parse(id.as_str()), Some(id));
        assert_eq!(SocketId::parse("short"), None);
    }

    #[test]
    fn encodes_both_protocols() {
        let f =
            encode_event_one(Codec::SocketIo, "/chat", "msg", &json!({"a":1}), Some(2)).unwrap();
        assert_eq!(text(&f), "42/chat,2[\"msg\",{\"a\":1}]");
        let f = encode_event_one(Codec::Plain, "/", "msg", &"hi", None).unwrap();
        assert_eq!(text(&f), "[\"msg\",\"hi\"]");
        let f = encode_event_one(Codec::Plain, "/", "msg", &"hi", Some(4)).unwrap();
        assert_eq!(text(&f), "[\"msg\",\"hi\",4]");
        let p = Payload::new().arg("x").unwrap().binary_arg(vec![1u8, 2]);
        let f = encode_event(Codec::SocketIo, "/", "b", &p.args[..], &p.binary, None).unwrap();
        assert_eq!(
            text(&f),
            "451-[\"b\",\"x\",{\"_placeholder\":true,\"num\":0}]"
        );
        assert!(matches!(&f[1], Frame::Binary(b) if b[..] == [1, 2]));
        let f = encode_event(Codec::Plain, "/", "b", &p.args[..], &p.binary, None).unwrap();
        assert_eq!(text(&f), "[\"b\",\"x\",{\"base64\":\"AQI=\"}]");
        let f = encode_ack(Codec::Plain, "/", 7, &[json!(1)][..], &[]).unwrap();
        assert_eq!(text(&f), "[\"$ack\",7,1]");
        let f = encode_ack(Codec::SocketIo, "/", 7, &[json!(1)][..], &[]).unwrap();
        assert_eq!(text(&f), "437[1]");
    }
}
