//! Socket.IO v5 packets: `<type>[<attachments>-][<nsp>,][<ackId>][JSON]`.
//!
//! Parsing validates everything the reference parser validates (type, attachment count,
//! payload shape, reserved event names) so that a malformed packet is refused at the door
//! and never reaches a handler. Encoding writes straight into the string that becomes the
//! Engine.IO frame, so an outbound packet costs one allocation.

use serde::Serialize;
use serde_json::{value::RawValue, Value};

/// The most binary attachments one packet may announce (the reference parser's default).
pub const MAX_ATTACHMENTS: usize = 10;

/// Event names that belong to the protocol and may never be sent by a client.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketKind {
    Connect = b'0',
    Disconnect = b'1',
    Event = b'2',
    Ack = b'3',
    ConnectError = b'4',
    BinaryEvent = b'5',
    BinaryAck = b'6',
}

impl PacketKind {
    fn from_byte(b: u8) -> Option<PacketKind> {
        Some(match b {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::ConnectError,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return None,
        })
    }

    /// Whether binary attachments follow a packet of this kind.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketKind::BinaryEvent | PacketKind::BinaryAck)
    }
}

/// A parsed inbound packet. The namespace borrows from the frame; the JSON is parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet<'a> {
    pub kind: PacketKind,
    /// Number of binary attachments that follow (only for binary kinds).
    pub attachments: usize,
    pub nsp: &'a str,
    pub ack_id: Option<u64>,
    pub data: PacketData,
}

/// The payload of a packet, already checked against what its kind allows.
#[derive(Debug, Clone)]
pub enum PacketData {
    /// CONNECT: the optional auth object. DISCONNECT: nothing.
    Connect(Option<serde_json::Map<String, Value>>),
    Disconnect,
    /// EVENT / BINARY_EVENT: the event name (numbers as their decimal string) and arguments,
    /// each kept as the JSON text it arrived as.
    Event {
        event: String,
        args: Vec<RawArg>,
    },
    /// ACK / BINARY_ACK: the reply arguments.
    Ack(Vec<RawArg>),
    /// CONNECT_ERROR (only ever sent by servers; parsed for completeness).
    ConnectError(Value),
}

/// Raw arguments compare by their JSON text.
impl PartialEq for PacketData {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &[RawArg], b: &[RawArg]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.get() == b.get())
        }
        match (self, other) {
            (PacketData::Connect(a), PacketData::Connect(b)) => a == b,
            (PacketData::Disconnect, PacketData::Disconnect) => true,
            (
                PacketData::Event {
                    event: e1,
                    args: a1,
                },
                PacketData::Event {
                    event: e2,
                    args: a2,
                },
            ) => e1 == e2 && same(a1, a2),
            (PacketData::Ack(a), PacketData::Ack(b)) => same(a, b),
            (PacketData::ConnectError(a), PacketData::ConnectError(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a Socket.IO packet was refused. Any of these closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type")]
    UnknownType,
    #[error("illegal attachments")]
    IllegalAttachments,
    #[error("too many attachments ({0}, at most {MAX_ATTACHMENTS})")]
    TooManyAttachments(usize),
    #[error("invalid ack id")]
    InvalidAckId,
    #[error("invalid JSON payload")]
    InvalidJson,
    #[error("invalid payload for this packet type")]
    InvalidPayload,
    #[error("reserved event name {:?}", crate::client_log::Preview(.0))]
    ReservedEvent(String),
    #[error("invalid placeholder in binary packet")]
    InvalidPlaceholder,
}

/// Parses one Socket.IO packet from the text of an Engine.IO message.
pub fn parse(text: &str) -> Result<Packet<'_>, ParseError> {
    let bytes = text.as_bytes();
    let kind = PacketKind::from_byte(*bytes.first().ok_or(ParseError::Empty)?)
        .ok_or(ParseError::UnknownType)?;
    let mut i = 1;

    let mut attachments = 0;
    if kind.is_binary() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 4 || bytes.get(i) != Some(&b'-') {
            return Err(ParseError::IllegalAttachments);
        }
        attachments = text[start..i]
            .parse()
            .map_err(|_| ParseError::IllegalAttachments)?;
        if attachments > MAX_ATTACHMENTS {
            return Err(ParseError::TooManyAttachments(attachments));
        }
        i += 1;
    }

    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let start = i;
        match text[i..].find(',') {
            Some(comma) => {
                nsp = &text[start..i + comma];
                i += comma + 1;
            }
            None => {
                nsp = &text[start..];
                i = bytes.len();
            }
        }
    }

    let mut ack_id = None;
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        ack_id = Some(
            text[start..i]
                .parse()
                .map_err(|_| ParseError::InvalidAckId)?,
        );
    }

    let json = &text[i..];
    let data = match kind {
        // Events and acks: a JSON array, whose elements stay JSON text (handlers deserialize
        // straight from it, and relayed arguments go out exactly as they came).
        PacketKind::Event | PacketKind::BinaryEvent | PacketKind::Ack | PacketKind::BinaryAck => {
            if !nesting_within(json, MAX_NESTING) {
                return Err(ParseError::InvalidJson);
            }
            let items: Vec<RawArg> =
                serde_json::from_str(json).map_err(|e| match e.classify() {
                    serde_json::error::Category::Data => ParseError::InvalidPayload,
                    _ if json.is_empty() => ParseError::InvalidPayload,
                    _ => ParseError::InvalidJson,
                })?;
            args_for(kind, items)?
        }
        _ => {
            let value: Option<Value> = if json.is_empty() {
                None
            } else {
                Some(serde_json::from_str(json).map_err(|_| ParseError::InvalidJson)?)
            };
            payload_for(kind, value)?
        }
    };
    Ok(Packet {
        kind,
        attachments,
        nsp,
        ack_id,
        data,
    })
}

/// Checks the payload against what its packet kind allows (the reference `isPayloadValid`).
fn payload_for(kind: PacketKind, value: Option<Value>) -> Result<PacketData, ParseError> {
    match (kind, value) {
        (PacketKind::Connect, None) => Ok(PacketData::Connect(None)),
        (PacketKind::Connect, Some(Value::Object(auth))) => Ok(PacketData::Connect(Some(auth))),
        (PacketKind::Disconnect, None) => Ok(PacketData::Disconnect),
        (PacketKind::ConnectError, Some(v @ (Value::Object(_) | Value::String(_)))) => {
            Ok(PacketData::ConnectError(v))
        }
        _ => Err(ParseError::InvalidPayload),
    }
}

/// An EVENT's or ACK's elements: the event name first for an event, then the arguments.
fn args_for(kind: PacketKind, items: Vec<RawArg>) -> Result<PacketData, ParseError> {
    if !matches!(kind, PacketKind::Event | PacketKind::BinaryEvent) {
        return Ok(PacketData::Ack(items));
    }
    let mut items = items.into_iter();
    let event = items
        .next()
        .as_deref()
        .and_then(raw_event_name)
        .ok_or(ParseError::InvalidPayload)?;
    if is_reserved(&event) {
        return Err(ParseError::ReservedEvent(event));
    }
    Ok(PacketData::Event {
        event,
        args: items.collect(),
    })
}

/// How deeply arrays and objects may nest in a packet's JSON: serde_json's own recursion
/// limit, which arguments kept as raw text would otherwise only meet when a handler reads
/// them.
pub const MAX_NESTING: usize = 128;

/// Whether the arrays and objects of `json` nest at most `max` deep (a linear scan that
/// skips strings; whether the JSON is valid is the parser's business).
pub fn nesting_within(json: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// One argument of an event or ack, as JSON text.
pub type RawArg = Box<RawValue>;

/// [`event_name`] of a raw JSON element.
pub fn raw_event_name(raw: &RawValue) -> Option<String> {
    event_name(serde_json::from_str(raw.get()).ok()?)
}

/// [`check_placeholders`] over raw arguments; arguments that cannot hold a placeholder (no
/// `_placeholder` in their text) are not parsed.
pub fn check_raw_placeholders(args: &[RawArg], attachments: usize) -> Result<(), ParseError> {
    for arg in args.iter().filter(|a| a.get().contains("_placeholder")) {
        let value: Value =
            serde_json::from_str(arg.get()).map_err(|_| ParseError::InvalidPlaceholder)?;
        check_placeholders(std::slice::from_ref(&value), attachments)?;
    }
    Ok(())
}

/// [`placeholder`] as a raw argument.
pub fn raw_placeholder(num: usize) -> RawArg {
    RawValue::from_string(format!(r#"{{"_placeholder":true,"num":{num}}}"#))
        .expect("a placeholder is valid JSON")
}

/// An event name as clients send it: a string, or a number (JS clients use numbers as event
/// names; they travel as JSON numbers) as its decimal string.
pub fn event_name(value: Value) -> Option<String> {
    match value {
        Value::String(name) => Some(name),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `event` belongs to the protocol and may not come from a client.
pub fn is_reserved(event: &str) -> bool {
    RESERVED_EVENTS.contains(&event)
}

/// Checks that every `{"_placeholder":true,"num":n}` in `values` points at an attachment.
pub fn check_placeholders(values: &[Value], attachments: usize) -> Result<(), ParseError> {
    fn walk(v: &Value, n: usize) -> Result<(), ParseError> {
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, n)),
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true)) {
                    return match map.get("num").and_then(Value::as_u64) {
                        Some(num) if (num as usize) < n => Ok(()),
                        _ => Err(ParseError::InvalidPlaceholder),
                    };
                }
                map.values().try_for_each(|i| walk(i, n))
            }
            _ => Ok(()),
        }
    }
    values.iter().try_for_each(|v| walk(v, attachments))
}

/// The JSON value that stands in for binary attachment `num` inside a packet.
pub fn placeholder(num: usize) -> Value {
    // serde_json's default map is sorted, which yields the reference key order
    // (`_placeholder` before `num`) that clients and suites compare as strings.
    serde_json::json!({ "_placeholder": true, "num": num })
}

/// Writes the Engine.IO message prefix `4` and the Socket.IO header of a packet into a new
/// string, ready for the JSON body to be appended.
pub fn header(kind: PacketKind, attachments: usize, nsp: &str, ack_id: Option<u64>) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(32 + nsp.len());
    s.push('4');
    s.push(kind as u8 as char);
    if kind.is_binary() {
        let _ = write!(s, "{attachments}-");
    }
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    if let Some(id) = ack_id {
        let _ = write!(s, "{id}");
    }
    s
}

/// Encodes a complete packet (Engine.IO `4` prefix included) with a JSON body.
///
/// Serialization only fails for types whose `Serialize` impl fails (maps with non-string
/// keys, ...); that is reported to the caller rather than sending a broken packet.
pub fn encode<T: Serialize + ?Sized>(
    kind: PacketKind,
    attachments: usize,
    nsp: &str,
    ack_id: Option<u64>,
    body: &T,
) -> Result<String, serde_json::Error> {
    let mut s = header(kind, attachments, nsp, ack_id).into_bytes();
    serde_json::to_writer(&mut s, body)?;
    // serde_json only ever writes valid UTF-8 after our ASCII header.
    Ok(String::from_utf8(s).expect("serde_json writes UTF-8"))
}

/// The body of an EVENT: `[event, ...args]`, serialized without building a JSON array.
#[derive(Debug)]
pub struct EventBody<'a, A: ?Sized> {
    pub event: &'a str,
    pub args: &'a A,
}

/// How the arguments of an event or ack are laid out after the event name.
pub trait Args {
    /// Serializes each argument as an element of the enclosing sequence.
    fn serialize_into<S: serde::ser::SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error>;
    /// Number of arguments.
    fn count(&self) -> usize;
}

/// One argument.
#[derive(Debug)]
pub struct One<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Args for One<'_, T> {
    fn serialize_into<S: serde::ser::SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        seq.serialize_element(self.0)
    }
    fn count(&self) -> usize {
        1
    }
}

impl Args for [RawArg] {
    fn serialize_into<S: serde::ser::SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        self.iter().try_for_each(|v| seq.serialize_element(v))
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl Args for [Value] {
    fn serialize_into<S: serde::ser::SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        self.iter().try_for_each(|v| seq.serialize_element(v))
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl<A: Args + ?Sized> Serialize for EventBody<'_, A> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(1 + self.args.count()))?;
        seq.serialize_element(self.event)?;
        self.args.serialize_into(&mut seq)?;
        seq.end()
    }
}

/// The body of an ACK: `[...args]`.
#[derive(Debug)]
pub struct AckBody<'a, A: ?Sized>(pub &'a A);

impl<A: Args + ?Sized> Serialize for AckBody<'_, A> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.count()))?;
        self.0.serialize_into(&mut seq)?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(args: &[RawArg]) -> Vec<Value> {
        args.iter()
            .map(|a| serde_json::from_str(a.get()).unwrap())
            .collect()
    }

    fn raws(values: Vec<Value>) -> Vec<RawArg> {
        values
            .iter()
            .map(|v| serde_json::value::to_raw_value(v).unwrap())
            .collect()
    }

    fn event(text: &str) -> (String, Vec<Value>) {
        match parse(text).unwrap().data {
            PacketData::Event { event, args } => (event, values(&args)),
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn parses_headers() {
        let p = parse("2/chat,12[\"hi\",1]").unwrap();
        assert_eq!(
            (p.kind, p.nsp, p.ack_id),
            (PacketKind::Event, "/chat", Some(12))
        );
        assert_eq!(
            event("2[\"hi\",{\"a\":1}]"),
            ("hi".into(), vec![json!({"a":1})])
        );
        assert_eq!(event("2[0]"), ("0".into(), vec![]));
        let p = parse("0/custom").unwrap();
        assert_eq!(
            (p.kind, p.nsp, p.data),
            (PacketKind::Connect, "/custom", PacketData::Connect(None))
        );
        let p = parse("0{\"token\":\"x\"}").unwrap();
        assert_eq!(
            p.data,
            PacketData::Connect(Some(json!({"token":"x"}).as_object().unwrap().clone()))
        );
        let p = parse("51-[\"up\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!((p.kind, p.attachments), (PacketKind::BinaryEvent, 1));
        let p = parse("3/a,7[1,2]").unwrap();
        assert_eq!(
            (p.ack_id, p.data),
            (Some(7), PacketData::Ack(raws(vec![json!(1), json!(2)])))
        );
        assert_eq!(parse("1/a,").unwrap().data, PacketData::Disconnect);
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "9",
            "abc",
            "2{}",
            "2abc[]",
            "2[]",
            "2[{}]",
            "0[]",
            "0\"x\"",
            "1{}",
            "3{}",
            "5[\"a\"]",
            "5x-[\"a\"]",
            "511-[\"a\"]",
            "2[\"connect\"]",
            "2[\"disconnect\",1]",
            "299999999999999999999999[\"a\"]",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            parse("511-[\"a\"]"),
            Err(ParseError::TooManyAttachments(11))
        );
    }

    #[test]
    fn encodes_like_the_reference() {
        let s = encode(
            PacketKind::Event,
            0,
            "/",
            None,
            &EventBody {
                event: "auth",
                args: &One(&json!({"a":1})),
            },
        )
        .unwrap();
        assert_eq!(s, "42[\"auth\",{\"a\":1}]");
        let s = encode(
            PacketKind::Ack,
            0,
            "/custom",
            Some(3),
            &AckBody(&[json!(1), json!("x")][..]),
        )
        .unwrap();
        assert_eq!(s, "43/custom,3[1,\"x\"]");
        let s = encode(
            PacketKind::BinaryEvent,
            1,
            "/",
            None,
            &EventBody {
                event: "b",
                args: &One(&placeholder(0)),
            },
        )
        .unwrap();
        assert_eq!(s, "451-[\"b\",{\"_placeholder\":true,\"num\":0}]");
        assert_eq!(check_placeholders(&[placeholder(0)], 1), Ok(()));
        assert_eq!(
            check_placeholders(&[json!([placeholder(1)])], 1),
            Err(ParseError::InvalidPlaceholder)
        );
    }
}
