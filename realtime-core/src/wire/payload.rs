//! What events carry: socket ids, and the arguments of an event or ack with their binary
//! attachments. Independent of how they travel (see [`super::codec`]).

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{value::RawValue, Value};

use super::socketio::{self as packet, RawArg};

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
/// Each argument is kept as the JSON text it arrived as (or was serialized to): a handler
/// deserializes its type straight from that text ([`Payload::get`], `Data<T>`), without an
/// intermediate `serde_json::Value`; and arguments relayed to other clients go out exactly
/// as they came (key order, numbers to the last digit).
///
/// Binary values travel as attachments: each appears among the arguments as a placeholder
/// `{"_placeholder":true,"num":n}` standing for `binary()[n]`, exactly as Socket.IO clients
/// send and expect them (a JS client sees a `Buffer`/`ArrayBuffer` in that position).
#[derive(Debug, Clone, Default)]
pub struct Payload {
    args: Vec<RawArg>,
    binary: Vec<Bytes>,
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.binary == other.binary
            && self.args.len() == other.args.len()
            && self
                .args
                .iter()
                .zip(&other.args)
                .all(|(a, b)| a.get() == b.get())
    }
}

impl Payload {
    /// An empty payload (an event with no arguments).
    pub fn new() -> Payload {
        Payload::default()
    }

    /// Appends an argument, serialized to JSON.
    pub fn arg(mut self, value: impl Serialize) -> Result<Payload, serde_json::Error> {
        self.args.push(serde_json::value::to_raw_value(&value)?);
        Ok(self)
    }

    /// Appends a binary argument (sent as an attachment).
    pub fn binary_arg(mut self, bytes: impl Into<Bytes>) -> Payload {
        self.args.push(packet::raw_placeholder(self.binary.len()));
        self.binary.push(bytes.into());
        self
    }

    /// Adds a binary attachment without an argument for it, and returns its number: put
    /// [`Payload::placeholder`]`(num)` where it belongs inside an argument (binary nested in
    /// objects or arrays).
    pub fn attach(&mut self, bytes: impl Into<Bytes>) -> usize {
        self.binary.push(bytes.into());
        self.binary.len() - 1
    }

    /// The JSON value standing for attachment `num` inside an argument.
    pub fn placeholder(num: usize) -> Value {
        packet::placeholder(num)
    }

    /// A payload of one JSON argument.
    pub fn from_value(value: Value) -> Payload {
        Payload::from_values([value])
    }

    /// A payload of these JSON arguments.
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Payload {
        Payload {
            args: values
                .into_iter()
                .map(|v| serde_json::value::to_raw_value(&v).expect("a Value always serializes"))
                .collect(),
            binary: Vec::new(),
        }
    }

    /// A payload of arguments as JSON text, and attachments.
    pub(crate) fn from_raw(args: Vec<RawArg>, binary: Vec<Bytes>) -> Payload {
        Payload { args, binary }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there is no argument.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Argument `index`, deserialized into `T`; a missing argument deserializes from `null`
    /// (so `Option<T>` accepts it).
    pub fn get<T: DeserializeOwned>(&self, index: usize) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.args.get(index).map_or("null", |a| a.get()))
    }

    /// Argument `index` as JSON text.
    pub fn raw(&self, index: usize) -> Option<&RawValue> {
        self.args.get(index).map(|a| &**a)
    }

    /// Every argument as a `serde_json::Value` (fails only for an argument nested deeper
    /// than serde_json parses, 128 levels).
    pub fn values(&self) -> Result<Vec<Value>, serde_json::Error> {
        self.args
            .iter()
            .map(|a| serde_json::from_str(a.get()))
            .collect()
    }

    /// The binary attachments, in placeholder order.
    pub fn binary(&self) -> &[Bytes] {
        &self.binary
    }

    /// The arguments as JSON text.
    pub(crate) fn raw_args(&self) -> &[RawArg] {
        &self.args
    }

    /// Takes the first argument out (for extractors that consume it).
    pub(crate) fn take_first(&mut self) -> Option<RawArg> {
        (!self.args.is_empty()).then(|| self.args.remove(0))
    }

    /// Replaces the first argument with `args` (unwrapping the compact form).
    pub(crate) fn splice_first(&mut self, args: Vec<RawArg>) {
        self.args.splice(0..1, args);
    }

    /// Keeps the first `len` arguments (attachments stay: placeholders refer to them by
    /// number).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.args.truncate(len);
    }
}

/// `{"error": error}` as a one-argument payload.
pub(crate) fn error_payload(error: Value) -> Payload {
    Payload::from_value(serde_json::json!({ "error": error }))
}

/// `{"error": error}` with `error` already JSON text (it keeps its own field order).
pub(crate) fn error_payload_raw(error: RawArg) -> Payload {
    #[derive(Serialize)]
    struct ErrorReply {
        error: RawArg,
    }
    let arg =
        serde_json::value::to_raw_value(&ErrorReply { error }).expect("raw JSON always serializes");
    Payload::from_raw(vec![arg], Vec::new())
}

/// The `$error` event's body, `{"event": ..., "error": ...}`, in that order: what a client
/// receives when its event is refused and it asked for no ack.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorEvent<'a> {
    pub(crate) event: &'a str,
    pub(crate) error: &'a str,
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
