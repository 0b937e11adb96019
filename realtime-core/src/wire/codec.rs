//! Codecs: how a connection's packets are encoded, decided per connection. Socket.IO v5
//! packets over Engine.IO, or the plain WebSocket JSON frames
//! ([`crate::docs::plain_websocket`]).

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;

use super::{
    engineio::Frame,
    socketio::{self as packet, AckBody, Args, EventBody, One, PacketKind},
};

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

/// Why a packet could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("could not serialize the payload: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("too many binary attachments ({0}, at most {max})", max = packet::MAX_ATTACHMENTS)]
    TooManyAttachments(usize),
}

/// Encodes an EVENT (or BINARY_EVENT) for `protocol`.
pub(crate) fn encode_event<A: Args + ?Sized>(
    codec: Codec,
    nsp: &str,
    event: &str,
    args: &A,
    binary: &[Bytes],
    ack_id: Option<u64>,
) -> Result<Frames, EncodeError> {
    let body = EventBody { event, args };
    match codec {
        Codec::SocketIo => encode_sio(PacketKind::Event, nsp, ack_id, &body, binary),
        Codec::Plain => {
            let mut text = plain_array(&body, binary)?;
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
) -> Result<Frames, EncodeError> {
    match codec {
        Codec::SocketIo => encode_sio(PacketKind::Ack, nsp, Some(ack_id), &AckBody(args), binary),
        Codec::Plain => {
            // `["$ack", ackId, ...args]`: the arguments' array with the prefix spliced in.
            let items = plain_array(&AckBody(args), binary)?;
            let rest = if items == "[]" { "]" } else { &items[1..] };
            let sep = if items == "[]" { "" } else { "," };
            let text = format!(r#"["$ack",{ack_id}{sep}{rest}"#);
            Ok(SmallVec::from_elem(Frame::Text(text.into()), 1))
        }
    }
}

/// Encodes the reply to a raw (not JSON) text frame of a plain client: raw text again, a
/// string as it is and anything else as JSON; nothing for a handler that returned `()`.
/// Lets `hello` → `HELLO!!!` servers work with bare WebSocket clients.
pub(crate) fn encode_raw_text_reply<A: Args + ?Sized>(
    args: &A,
    binary: &[Bytes],
) -> Result<Frames, EncodeError> {
    let text = match args.count() {
        0 => return Ok(SmallVec::new()),
        1 => {
            let array = plain_array(&AckBody(args), binary)?;
            let element = &array[1..array.len() - 1];
            // A string is sent as the text it holds; anything else as its JSON.
            match serde_json::from_str::<String>(element) {
                Ok(s) if element.starts_with('"') => s,
                _ => element.to_owned(),
            }
        }
        _ => plain_array(&AckBody(args), binary)?,
    };
    Ok(SmallVec::from_elem(Frame::Text(text.into()), 1))
}

/// A JSON array (an event's or ack's body) for a plain client: written as it serializes
/// (arguments keep their text and key order), and only when there are attachments rebuilt
/// with each placeholder replaced by its bytes inline.
fn plain_array<T: Serialize + ?Sized>(body: &T, binary: &[Bytes]) -> Result<String, EncodeError> {
    if binary.is_empty() {
        return Ok(serde_json::to_string(body)?);
    }
    let mut v = serde_json::to_value(body)?;
    inline_binary(&mut v, binary);
    Ok(v.to_string())
}

fn encode_sio<T: Serialize + ?Sized>(
    kind: PacketKind,
    nsp: &str,
    ack_id: Option<u64>,
    body: &T,
    binary: &[Bytes],
) -> Result<Frames, EncodeError> {
    if binary.len() > packet::MAX_ATTACHMENTS {
        return Err(EncodeError::TooManyAttachments(binary.len()));
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
) -> Result<Frames, EncodeError> {
    encode_event(codec, nsp, event, &One(data), &[], ack_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::payload::Payload;
    use serde_json::json;

    fn text(frames: &Frames) -> &str {
        match &frames[0] {
            Frame::Text(t) => t.as_str(),
            Frame::Binary(_) => panic!("binary"),
        }
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
        let f = encode_event(Codec::SocketIo, "/", "b", p.raw_args(), p.binary(), None).unwrap();
        assert_eq!(
            text(&f),
            "451-[\"b\",\"x\",{\"_placeholder\":true,\"num\":0}]"
        );
        assert!(matches!(&f[1], Frame::Binary(b) if b[..] == [1, 2]));
        let f = encode_event(Codec::Plain, "/", "b", p.raw_args(), p.binary(), None).unwrap();
        assert_eq!(text(&f), "[\"b\",\"x\",{\"base64\":\"AQI=\"}]");
        let f = encode_ack(Codec::Plain, "/", 7, &[json!(1)][..], &[]).unwrap();
        assert_eq!(text(&f), "[\"$ack\",7,1]");
        let f = encode_ack(Codec::SocketIo, "/", 7, &[json!(1)][..], &[]).unwrap();
        assert_eq!(text(&f), "437[1]");
    }
}
