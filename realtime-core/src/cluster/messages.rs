//! The messages of Node's `@socket.io/redis-adapter` 8.x, and of `@socket.io/redis-emitter`
//! 5.x: channel names, request types, and how each message is encoded. Both directions are
//! tested against the npm packages themselves (tests/interop/node/test/cluster.test.mjs).
//!
//! - Broadcasts go to `<key>#<nsp>#`, or `<key>#<nsp>#<room>#` when exactly one room is
//!   targeted, as the adapter's parser writes them (msgpack by default):
//!   `[uid, {type: 2, data: [event, ...args], nsp}, {rooms, except, flags}]`.
//! - Requests go to `<key>-request#<nsp>#`, answers to `<key>-response#<nsp>#` (or
//!   `...#<uid>#`, with `publishOnSpecificResponseChannel`). Most are JSON; a broadcast with
//!   acks and each ack use the parser. Readers tell them apart by the first byte.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::msgpack::{self, DecodeError};
use crate::{
    live::{
        cluster::ClusterPacket,
        rooms::{BroadcastOptions, Room},
    },
    wire::payload::Payload,
};

/// Request types (`RequestType` in the adapter's source).
pub(crate) mod kind {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// How broadcasts (and the few requests Node sends through its parser) are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parser {
    /// msgpack as `notepack.io` writes it: the adapter's default; binary travels as `bin`.
    #[default]
    MsgPack,
    /// JSON, for clusters whose Node nodes were given a JSON parser. Binary arguments are
    /// written as Node writes a `Buffer` in JSON (`{"type": "Buffer", "data": [...]}`) and
    /// arrive as that object.
    Json,
}

/// The channels of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// `<key>#<nsp>#`: broadcasts to all; with `<room>#` appended, to one room.
    pub(crate) broadcast: String,
    pub(crate) request: String,
    pub(crate) response: String,
    /// `<key>-response#<nsp>#<uid>#`: answers meant for this node only.
    pub(crate) specific_response: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Channels {
        let response = format!("{key}-response#{nsp}#");
        Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            specific_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// The channel a broadcast is published on: the room's own when exactly one room is
    /// targeted (nodes without a member of it skip the message undecoded).
    pub(crate) fn for_broadcast(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => format!("{}{room}#", self.broadcast),
            _ => self.broadcast.clone(),
        }
    }

    /// The pattern that covers every broadcast channel of the namespace.
    pub(crate) fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }
}

/// Why a message from another node was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MessageError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
}

/// A broadcast from another node (or an emitter).
#[derive(Debug)]
pub(crate) struct Broadcast {
    pub(crate) uid: Option<String>,
    pub(crate) packet: ClusterPacket,
    pub(crate) opts: BroadcastOptions,
}

/// A request from another node (or an emitter, which sends no uid).
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) uid: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) kind: u64,
    /// The rest of the message, binary as placeholders.
    pub(crate) body: Value,
    pub(crate) binary: Vec<Bytes>,
}

impl Request {
    /// `opts` as broadcast options (`{rooms, except}`); absent in legacy single-socket
    /// requests.
    pub(crate) fn opts(&self) -> Option<BroadcastOptions> {
        self.body.get("opts").map(options)
    }

    /// The `rooms` of a join or leave.
    pub(crate) fn rooms(&self) -> Vec<Room> {
        rooms(self.body.get("rooms"))
    }

    /// A string field.
    pub(crate) fn str(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }

    /// `close` of a disconnect.
    pub(crate) fn close(&self) -> bool {
        self.body.get("close").and_then(Value::as_bool) == Some(true)
    }

    /// `data: [event, ...args]` of a server-side emit, as a packet of namespace `nsp`.
    pub(crate) fn server_side_packet(&self, nsp: &str) -> Result<ClusterPacket, MessageError> {
        let data = self
            .body
            .get("data")
            .and_then(Value::as_array)
            .ok_or(MessageError::Shape("serverSideEmit without data"))?;
        event_packet(nsp, data, &self.binary)
    }

    /// `packet` and `opts` of a broadcast with acks, and its timeout.
    pub(crate) fn broadcast(
        &self,
        nsp: &str,
    ) -> Result<(ClusterPacket, BroadcastOptions, Option<Duration>), MessageError> {
        let packet = self
            .body
            .get("packet")
            .ok_or(MessageError::Shape("broadcast request without packet"))?;
        let data = packet
            .get("data")
            .and_then(Value::as_array)
            .ok_or(MessageError::Shape("packet without data"))?;
        let opts_value = self.body.get("opts").unwrap_or(&Value::Null);
        let timeout = opts_value
            .pointer("/flags/timeout")
            .and_then(Value::as_u64)
            .map(Duration::from_millis);
        Ok((
            event_packet(nsp, data, &self.binary)?,
            options(opts_value),
            timeout,
        ))
    }
}

/// An answer to a request of this node.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) request_id: String,
    pub(crate) kind: Option<u64>,
    pub(crate) body: Value,
    pub(crate) binary: Vec<Bytes>,
}

impl Response {
    /// A value of the answer (`data` of a server-side emit, `packet` of an ack) as a
    /// one-argument payload.
    pub(crate) fn payload(&self, field: &str) -> Payload {
        let value = self.body.get(field).cloned().unwrap_or(Value::Null);
        payload_with_binary(vec![value], &self.binary)
    }
}

/// A payload of `values` whose placeholders refer to `binary`, the binary of the whole
/// message. Only the attachments the values refer to are kept, renumbered in order of first
/// use: a `bin` elsewhere in the message (in the options, say) must not ride along to
/// clients as an attachment nothing refers to.
pub(super) fn payload_with_binary(mut values: Vec<Value>, binary: &[Bytes]) -> Payload {
    if binary.is_empty() {
        return Payload::from_values(values);
    }
    let mut kept: Vec<usize> = Vec::new();
    for value in &mut values {
        renumber(value, binary.len(), &mut kept);
    }
    let mut payload = Payload::from_values(values);
    for n in kept {
        payload.attach(binary[n].clone());
    }
    payload
}

/// Rewrites each placeholder's `num` to its index in `kept` (added on first use). Every
/// placeholder in a decoded message refers to an existing attachment: the decoder made them.
fn renumber(value: &mut Value, count: usize, kept: &mut Vec<usize>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, count, kept)),
        Value::Object(map) => match msgpack::placeholder(map).filter(|n| *n < count) {
            Some(n) => {
                let index = kept.iter().position(|k| *k == n).unwrap_or_else(|| {
                    kept.push(n);
                    kept.len() - 1
                });
                map.insert("num".into(), Value::from(index));
            }
            None => map.values_mut().for_each(|v| renumber(v, count, kept)),
        },
        _ => {}
    }
}

/// Reads a broadcast. `nsp` is the namespace of the channel it came on; a packet of another
/// namespace is refused.
pub(crate) fn decode_broadcast(bytes: &[u8], nsp: &str) -> Result<Broadcast, MessageError> {
    let (value, binary) = msgpack::decode(bytes)?;
    let Value::Array(mut parts) = value else {
        return Err(MessageError::Shape("broadcast is not [uid, packet, opts]"));
    };
    parts.resize(3, Value::Null);
    let uid = parts[0].as_str().map(str::to_owned);
    let packet = &parts[1];
    // The emitter and older nodes may leave out the main namespace.
    let packet_nsp = packet.get("nsp").and_then(Value::as_str).unwrap_or("/");
    if packet_nsp != nsp {
        return Err(MessageError::Shape("packet of another namespace"));
    }
    match packet.get("type").and_then(Value::as_u64) {
        // EVENT, or BINARY_EVENT from senders that encode it so.
        Some(2 | 5) => {}
        _ => {
            return Err(MessageError::Shape(
                "broadcast of a packet that is not an event",
            ))
        }
    }
    let data = packet
        .get("data")
        .and_then(Value::as_array)
        .ok_or(MessageError::Shape("packet without data"))?;
    Ok(Broadcast {
        uid,
        packet: event_packet(nsp, data, &binary)?,
        opts: options(&parts[2]),
    })
}

/// `[event, ...args]` → a packet.
pub(super) fn event_packet(
    nsp: &str,
    data: &[Value],
    binary: &[Bytes],
) -> Result<ClusterPacket, MessageError> {
    let (event, args) = data
        .split_first()
        .ok_or(MessageError::Shape("event without a name"))?;
    let event = match event {
        Value::String(s) => s.clone(),
        // socket.io accepts numeric event names.
        Value::Number(n) => n.to_string(),
        _ => return Err(MessageError::Shape("event name is not a string")),
    };
    Ok(ClusterPacket {
        nsp: nsp.into(),
        event,
        payload: payload_with_binary(args.to_vec(), binary),
    })
}

/// `{rooms, except, flags}` → broadcast options.
pub(super) fn options(value: &Value) -> BroadcastOptions {
    BroadcastOptions {
        rooms: rooms(value.get("rooms")).into_iter().collect(),
        except: rooms(value.get("except")).into_iter().collect(),
        except_socket: None,
        volatile: value.pointer("/flags/volatile").and_then(Value::as_bool) == Some(true),
        local: false,
    }
}

/// Room names: strings, or numbers (which socket.io also accepts).
pub(super) fn rooms(value: Option<&Value>) -> Vec<Room> {
    value
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(Room::from(s.as_str())),
                    Value::Number(n) => Some(Room::from(n.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a request.
pub(crate) fn decode_request(bytes: &[u8]) -> Result<Request, MessageError> {
    let (body, binary) = msgpack::decode(bytes)?;
    if !body.is_object() {
        return Err(MessageError::Shape("request is not an object"));
    }
    let kind = body
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(MessageError::Shape("request without a type"))?;
    Ok(Request {
        uid: body.get("uid").and_then(Value::as_str).map(str::to_owned),
        request_id: request_id(&body),
        kind,
        body,
        binary,
    })
}

/// Reads an answer.
pub(crate) fn decode_response(bytes: &[u8]) -> Result<Response, MessageError> {
    let (body, binary) = msgpack::decode(bytes)?;
    let request_id = request_id(&body).ok_or(MessageError::Shape("answer without a requestId"))?;
    Ok(Response {
        request_id,
        kind: body.get("type").and_then(Value::as_u64),
        body,
        binary,
    })
}

fn request_id(body: &Value) -> Option<String> {
    match body.get("requestId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `[event, ...args]` of a packet, binary still as placeholders.
pub(super) fn packet_data(packet: &ClusterPacket) -> Value {
    let mut data = Vec::with_capacity(packet.payload.len() + 1);
    data.push(Value::String(packet.event.clone()));
    // A payload's arguments are valid JSON by construction.
    data.extend(packet.payload.values().unwrap_or_default());
    Value::Array(data)
}

/// `{rooms, except, flags}`.
pub(super) fn options_value(opts: &BroadcastOptions, flags: Value) -> Value {
    json!({
        "rooms": opts.rooms.iter().map(|r| &**r).collect::<Vec<_>>(),
        "except": opts.except_with_socket().as_slice(),
        "flags": flags,
    })
}

pub(super) fn flags(opts: &BroadcastOptions) -> Value {
    let mut flags = Map::new();
    if opts.volatile {
        flags.insert("volatile".into(), Value::Bool(true));
    }
    Value::Object(flags)
}

/// Encodes with the parser, binary in place.
fn encode(parser: Parser, value: &Value, binary: &[Bytes]) -> Vec<u8> {
    match parser {
        Parser::MsgPack => {
            let mut out = Vec::with_capacity(64);
            msgpack::write(&mut out, value, binary);
            out
        }
        Parser::Json => json_bytes(&msgpack::buffers_as_json(value, binary)),
    }
}

/// JSON bytes (Node's `JSON.stringify`).
pub(crate) fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// `[uid, {type: 2, data, nsp}, {rooms, except, flags}]`.
pub(crate) fn encode_broadcast(
    parser: Parser,
    uid: &str,
    packet: &ClusterPacket,
    opts: &BroadcastOptions,
) -> Vec<u8> {
    let message = json!([
        uid,
        { "type": 2, "data": packet_data(packet), "nsp": &*packet.nsp },
        options_value(opts, flags(opts)),
    ]);
    encode(parser, &message, packet.payload.binary())
}

/// A broadcast with acks: `{uid, requestId, type: 7, packet, opts}` (through the parser).
pub(crate) fn encode_broadcast_request(
    parser: Parser,
    uid: &str,
    request_id: &str,
    packet: &ClusterPacket,
    opts: &BroadcastOptions,
    timeout: Duration,
) -> Vec<u8> {
    let mut flags = flags(opts);
    flags["timeout"] = json!(timeout.as_millis() as u64);
    let message = json!({
        "uid": uid,
        "requestId": request_id,
        "type": kind::BROADCAST,
        "packet": { "type": 2, "data": packet_data(packet), "nsp": &*packet.nsp },
        "opts": options_value(opts, flags),
    });
    encode(parser, &message, packet.payload.binary())
}

/// One client's ack of a broadcast: `{type: 9, requestId, packet: arg}` (through the parser).
pub(crate) fn encode_broadcast_ack(parser: Parser, request_id: &str, ack: &Payload) -> Vec<u8> {
    let arg = super::shared::first_arg(ack);
    let message = json!({ "type": kind::BROADCAST_ACK, "requestId": request_id, "packet": arg });
    encode(parser, &message, ack.binary())
}

/// A request about sockets selected by `opts` (join, leave, disconnect, fetch), as JSON.
pub(crate) fn encode_socket_request(
    uid: &str,
    request_id: Option<&str>,
    kind: u64,
    opts: &BroadcastOptions,
    extra: Value,
) -> Vec<u8> {
    let mut message = json!({
        "uid": uid,
        "type": kind,
        "opts": {
            "rooms": opts.rooms.iter().map(|r| &**r).collect::<Vec<_>>(),
            "except": opts.except_with_socket().as_slice(),
        },
    });
    if let Some(id) = request_id {
        message["requestId"] = json!(id);
    }
    if let (Value::Object(m), Value::Object(extra)) = (&mut message, extra) {
        m.extend(extra);
    }
    json_bytes(&message)
}

/// A server-side emit: `{uid, type: 6, data: [event, ...args], requestId?}`, as JSON.
pub(crate) fn encode_server_side_emit(
    uid: &str,
    request_id: Option<&str>,
    packet: &ClusterPacket,
) -> Vec<u8> {
    let data = msgpack::buffers_as_json(&packet_data(packet), packet.payload.binary());
    let mut message = json!({ "uid": uid, "type": kind::SERVER_SIDE_EMIT, "data": data });
    if let Some(id) = request_id {
        message["requestId"] = json!(id);
    }
    json_bytes(&message)
}

/// A node's answer to a server-side emit: `{type: 6, requestId, data}`, as JSON.
pub(crate) fn encode_server_side_answer(request_id: &str, answer: &Payload) -> Vec<u8> {
    let arg = super::shared::first_arg(answer);
    let data = msgpack::buffers_as_json(&arg, answer.binary());
    json_bytes(&json!({ "type": kind::SERVER_SIDE_EMIT, "requestId": request_id, "data": data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            ..BroadcastOptions::default()
        }
    }

    #[test]
    fn broadcast_round_trips_with_binary() {
        let payload = Payload::new()
            .arg(json!({"x": 1}))
            .unwrap()
            .binary_arg(Bytes::from_static(b"\x00\x01"));
        let packet = ClusterPacket {
            nsp: "/chat".into(),
            event: "msg".into(),
            payload,
        };
        let mut o = opts(&["a"], &["b"]);
        o.volatile = true;
        // Binary survives msgpack only: Node's JSON parser writes a Buffer as an object.
        let bytes = encode_broadcast(Parser::MsgPack, "abc123", &packet, &o);
        let b = decode_broadcast(&bytes, "/chat").unwrap();
        assert_eq!(b.uid.as_deref(), Some("abc123"));
        assert_eq!(b.packet.event, "msg");
        assert_eq!(b.packet.payload.values().unwrap()[0], json!({"x": 1}));
        assert_eq!(
            b.packet.payload.binary(),
            &[Bytes::from_static(b"\x00\x01")]
        );
        assert_eq!(&*b.opts.rooms[0], "a");
        assert_eq!(&*b.opts.except[0], "b");
        assert!(b.opts.volatile);
        assert!(decode_broadcast(&bytes, "/").is_err());
    }

    #[test]
    fn only_the_binary_of_the_event_becomes_attachments() {
        // [uid, {type: 2, data: ["ev", {"a": <bin 2>}], nsp: "/"}, {rooms: [], x: <bin 1>}]
        // with the option's bin written first in the message's binary order.
        let message = json!(["u", {"type": 2, "nsp": "/", "data": ["ev", {"a": Payload::placeholder(1)}]},
            {"rooms": [], "x": Payload::placeholder(0)}]);
        let binary = [Bytes::from_static(b"\x01"), Bytes::from_static(b"\x02")];
        let mut bytes = Vec::new();
        msgpack::write(&mut bytes, &message, &binary);
        let b = decode_broadcast(&bytes, "/").unwrap();
        assert_eq!(b.packet.payload.binary(), &[Bytes::from_static(b"\x02")]);
        assert_eq!(
            b.packet.payload.values().unwrap(),
            [json!({"a": Payload::placeholder(0)})]
        );
    }

    #[test]
    fn channels_follow_the_reference_names() {
        let c = Channels::new("socket.io", "/", "u1");
        assert_eq!(c.broadcast, "socket.io#/#");
        assert_eq!(c.request, "socket.io-request#/#");
        assert_eq!(c.response, "socket.io-response#/#");
        assert_eq!(c.specific_response, "socket.io-response#/#u1#");
        assert_eq!(c.for_broadcast(&opts(&["r"], &[])), "socket.io#/#r#");
        assert_eq!(c.for_broadcast(&opts(&["r", "s"], &[])), "socket.io#/#");
    }

    #[test]
    fn requests_as_the_emitter_sends_them() {
        let r = decode_request(br#"{"type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b",3]}"#)
            .unwrap();
        assert_eq!(r.kind, kind::REMOTE_JOIN);
        assert!(r.uid.is_none());
        assert_eq!(r.rooms(), vec![Room::from("b"), Room::from("3")]);
        assert_eq!(&*r.opts().unwrap().rooms[0], "a");
    }
}
