//! The streams adapter's messages on the wire (Node's `@socket.io/redis-streams-adapter`
//! 0.3 over `socket.io-adapter`'s `ClusterAdapter`): stream entry ids, a message's `data`
//! (JSON, or base64 msgpack when it carries binary), a broadcast's `{packet, opts}`, and
//! the replies of `XREAD`/`XRANGE`.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::super::{messages, msgpack};
use crate::live::{
    cluster::ClusterPacket,
    rooms::{BroadcastOptions, Room},
};

/// A stream entry id (`<ms>-<seq>`), as numbers to compare.
pub(super) fn entry_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The id right after `id` (exclusive ranges without Redis 6.2's `(`).
pub(super) fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = entry_id(id)?;
    Some(match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms + 1),
    })
}

/// A message's `data`: JSON when it starts with `{`, else base64 msgpack (binary inside).
pub(super) fn decode_data(data: &str) -> Result<(Value, Vec<Bytes>), String> {
    if data.starts_with('{') {
        serde_json::from_str(data)
            .map(|v| (v, Vec::new()))
            .map_err(|e| e.to_string())
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())?;
        msgpack::decode(&bytes).map_err(|e| e.to_string())
    }
}

/// `data` as written to the stream: base64 msgpack when it carries binary, else JSON.
pub(super) fn encode_data(value: &Value, binary: &[Bytes]) -> String {
    if binary.is_empty() {
        value.to_string()
    } else {
        let mut out = Vec::with_capacity(64);
        msgpack::write(&mut out, value, binary);
        base64::engine::general_purpose::STANDARD.encode(out)
    }
}

/// `{packet: {type: 2, data: [event, ...args], nsp}, opts}`, binary as placeholders.
pub(super) fn broadcast_data(
    packet: &ClusterPacket,
    opts: &BroadcastOptions,
    flags: Value,
) -> Value {
    json!({
        "packet": { "type": 2, "data": messages::packet_data(packet), "nsp": &*packet.nsp },
        "opts": messages::options_value(opts, flags),
    })
}

/// A broadcast's packet and options from its `data`; the request id of one with acks.
pub(super) fn read_broadcast(
    nsp: &str,
    data: &Value,
    binary: &[Bytes],
) -> Result<(ClusterPacket, BroadcastOptions, Option<String>), &'static str> {
    let packet = data.get("packet").ok_or("broadcast without a packet")?;
    match packet.get("type").and_then(Value::as_u64) {
        Some(2 | 5) => {}
        _ => return Err("broadcast of a packet that is not an event"),
    }
    let args = packet
        .get("data")
        .and_then(Value::as_array)
        .ok_or("packet without data")?;
    let packet = messages::event_packet(nsp, args, binary).map_err(|_| "event without a name")?;
    let opts = messages::options(data.get("opts").unwrap_or(&Value::Null));
    Ok((packet, opts, request_id(data)))
}

pub(super) fn request_id(data: &Value) -> Option<String> {
    match data.get("requestId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A stream entry's field as a string.
pub(super) fn field(map: &HashMap<String, redis::Value>, name: &str) -> Option<String> {
    match map.get(name)? {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `[[id, [field, value, ...]], ...]`, as `XRANGE` and each stream of `XREAD` answer.
pub(super) fn entries(value: redis::Value) -> Vec<(String, HashMap<String, redis::Value>)> {
    let redis::Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let redis::Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id = match parts.pop()? {
                redis::Value::BulkString(b) => String::from_utf8(b).ok()?,
                redis::Value::SimpleString(s) => s,
                _ => return None,
            };
            let mut map = HashMap::new();
            if let redis::Value::Array(kv) = fields {
                let mut kv = kv.into_iter();
                while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                    let key = match k {
                        redis::Value::BulkString(b) => String::from_utf8(b).ok(),
                        redis::Value::SimpleString(s) => Some(s),
                        _ => None,
                    };
                    if let Some(key) = key {
                        map.insert(key, v);
                    }
                }
            }
            Some((id, map))
        })
        .collect()
}

pub(super) fn rooms_of(data: &Value) -> Vec<Room> {
    messages::rooms(data.get("rooms"))
}

/// Reads `bytes` as the streams adapter reads what other nodes write: a stream entry's
/// `data` (JSON or base64 msgpack) and a pub/sub message (msgpack). Must never panic; a
/// broadcast that is read must read back the same after being written again.
pub(crate) fn fuzz_read(bytes: &[u8]) {
    let check = |data: &Value, binary: &[Bytes]| {
        let _ = rooms_of(data);
        let _ = request_id(data);
        if let Ok((packet, opts, _)) = read_broadcast("/", data, binary) {
            let written = broadcast_data(&packet, &opts, messages::flags(&opts));
            let encoded = encode_data(&written, packet.payload.binary());
            let (again, again_binary) = decode_data(&encoded).expect("written data reads back");
            let (back, back_opts, _) =
                read_broadcast("/", &again, &again_binary).expect("a written broadcast reads back");
            assert_eq!(back.event, packet.event);
            assert_eq!(back.payload.binary(), packet.payload.binary());
            assert_eq!(back_opts.rooms, opts.rooms);
            assert_eq!(back_opts.except, opts.except);
            assert_eq!(back_opts.volatile, opts.volatile);
        }
    };
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok((data, binary)) = decode_data(text) {
            check(&data, &binary);
        }
    }
    if let Ok((message, binary)) = msgpack::decode(bytes) {
        check(message.get("data").unwrap_or(&Value::Null), &binary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_and_follow() {
        assert_eq!(
            next_id("1700000000000-0").as_deref(),
            Some("1700000000000-1")
        );
        assert_eq!(next_id(&format!("5-{}", u64::MAX)).as_deref(), Some("6-0"));
        assert!(entry_id("12-3") < entry_id("13-0"));
        assert!(entry_id("not-an-id").is_none());
        assert!(next_id("$").is_none());
    }

    #[test]
    fn data_is_json_unless_it_carries_binary() {
        let value =
            json!({ "packet": { "type": 2, "data": ["e", { "_placeholder": true, "num": 0 }] } });
        let binary = [Bytes::from_static(b"\x01\x02")];
        let written = encode_data(&value, &binary);
        assert!(!written.starts_with('{'));
        let (back, attachments) = decode_data(&written).unwrap();
        assert_eq!(back, value);
        assert_eq!(attachments, binary);
        let plain = json!({ "a": 1 });
        assert_eq!(encode_data(&plain, &[]), r#"{"a":1}"#);
        assert_eq!(decode_data(r#"{"a":1}"#).unwrap().0, plain);
    }
}
