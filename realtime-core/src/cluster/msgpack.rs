//! msgpack as Node's adapters write it (the `notepack.io` package) ↔ JSON values with
//! socket.io's binary placeholders, the form a [`Payload`](crate::Payload) keeps.
//!
//! Between nodes, binary arguments travel as msgpack `bin` in place; in a payload they are
//! attachments, referred to by `{"_placeholder": true, "num": n}`. Decoding turns each `bin`
//! into the next placeholder; encoding turns placeholders back into `bin`. notepack's
//! extensions: a timestamp (`Date`) becomes its ISO string (what `JSON.stringify` makes of
//! it), `undefined` becomes `null`.

use bytes::Bytes;
use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused (as the wire layer refuses it from clients).
pub(crate) const MAX_DEPTH: usize = 128;

/// Why a message from another node could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("invalid msgpack: {0}")]
    MsgPack(String),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("trailing bytes after the message")]
    Trailing,
}

/// Decodes a message: JSON when it starts with `{` or `[` (what Node's adapter sends for
/// most requests, and for everything with a JSON parser), msgpack otherwise. Returns the
/// value with binary replaced by placeholders, and the binary in order.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Value, Vec<Bytes>), DecodeError> {
    if matches!(bytes.first(), Some(b'{' | b'[')) {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = serde::Deserialize::deserialize(&mut de)?;
        de.end()?;
        return Ok((value, Vec::new()));
    }
    let mut rest = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| DecodeError::MsgPack(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing);
    }
    let mut binary = Vec::new();
    let value = to_json(value, &mut binary);
    Ok((value, binary))
}

/// msgpack value → JSON, binary to placeholders. Depth is bounded by the decoder.
fn to_json(value: rmpv::Value, binary: &mut Vec<Bytes>) -> Value {
    use rmpv::Value as M;
    match value {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(b),
        M::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::Number(u.into()),
            (None, Some(s)) => Value::Number(s.into()),
            _ => Value::Null,
        },
        M::F32(f) => float(f64::from(f)),
        M::F64(f) => float(f),
        // Invalid UTF-8 cannot come from a JavaScript string: read as empty.
        M::String(s) => Value::String(s.into_str().unwrap_or_default()),
        M::Binary(bytes) => {
            binary.push(Bytes::from(bytes));
            crate::Payload::placeholder(binary.len() - 1)
        }
        M::Array(items) => Value::Array(items.into_iter().map(|v| to_json(v, binary)).collect()),
        M::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    M::String(s) => s.into_str().unwrap_or_default(),
                    // JavaScript object keys are strings; anything else is written as one.
                    other => other.to_string(),
                };
                map.insert(key, to_json(v, binary));
            }
            Value::Object(map)
        }
        M::Ext(-1, data) => timestamp(&data).map_or(Value::Null, Value::String),
        // notepack's `undefined`, and extensions nobody here knows: JSON has neither.
        M::Ext(..) => Value::Null,
    }
}

/// A number as `JSON.stringify` writes it: NaN and infinities become `null`.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// The msgpack timestamp extension (32, 64 or 96 bits) as an ISO string.
fn timestamp(data: &[u8]) -> Option<String> {
    let (secs, nanos) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let v = u64::from_be_bytes(data.try_into().ok()?);
            ((v & 0x3_ffff_ffff) as i64, (v >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..].try_into().ok()?),
            u32::from_be_bytes(data[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    Some(crate::dates::iso_string(secs, nanos.min(999_999_999)))
}

/// Writes `value` as msgpack, placeholders that refer to `binary` as `bin`.
pub(crate) fn write(out: &mut Vec<u8>, value: &Value, binary: &[Bytes]) {
    use rmp::encode;
    // Writing to a Vec cannot fail.
    match value {
        Value::Null => encode::write_nil(out).expect("vec write"),
        Value::Bool(b) => encode::write_bool(out, *b).expect("vec write"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => encode::write_str(out, s).expect("vec write"),
        Value::Array(items) => {
            encode::write_array_len(out, items.len() as u32).expect("vec write");
            for item in items {
                write(out, item, binary);
            }
        }
        Value::Object(map) => {
            if let Some(bytes) = placeholder(map).and_then(|n| binary.get(n)) {
                encode::write_bin(out, bytes).expect("vec write");
                return;
            }
            encode::write_map_len(out, map.len() as u32).expect("vec write");
            for (k, v) in map {
                encode::write_str(out, k).expect("vec write");
                write(out, v, binary);
            }
        }
    }
}

/// A number as notepack writes it: integral values as integers (JavaScript has one number
/// type, so `1.0` is `1`), others as float 64.
fn write_number(out: &mut Vec<u8>, n: &Number) {
    use rmp::encode;
    if let Some(u) = n.as_u64() {
        encode::write_uint(out, u).expect("vec write");
    } else if let Some(i) = n.as_i64() {
        encode::write_sint(out, i).expect("vec write");
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        const SAFE: f64 = 9_007_199_254_740_992.0; // 2^53
        if f.fract() == 0.0 && f.abs() < SAFE {
            encode::write_sint(out, f as i64).expect("vec write");
        } else {
            encode::write_f64(out, f).expect("vec write");
        }
    }
}

/// The attachment number of a placeholder object.
pub(crate) fn placeholder(map: &Map<String, Value>) -> Option<usize> {
    if map.len() != 2 || map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    map.get("num")?.as_u64().map(|n| n as usize)
}

/// Replaces placeholders with Node's JSON form of a `Buffer` (`{"type": "Buffer", "data":
/// [...]}`), for messages Node's adapter sends as JSON: what `JSON.stringify` would write.
pub(crate) fn buffers_as_json(value: &Value, binary: &[Bytes]) -> Value {
    if binary.is_empty() {
        return value.clone();
    }
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| buffers_as_json(v, binary)).collect())
        }
        Value::Object(map) => match placeholder(map).and_then(|n| binary.get(n)) {
            Some(bytes) => serde_json::json!({ "type": "Buffer", "data": bytes.as_ref() }),
            None => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), buffers_as_json(v, binary)))
                    .collect(),
            ),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `notepack.encode(["abc", {type: 2, data: ["ev", 1, 1.5, Buffer.from([1, 2]), null,
    /// undefined, true, new Date(1796071203123), -7, 2 ** 40, {k: "v"}], nsp: "/"}])`, as
    /// notepack.io 3 writes it.
    const NODE_BYTES: &str = "92a361626383a47479706502a4646174619ba2657601cb3ff8000000000000c4020102c0c0c3d7ff1d5353006b0ddf23f9cf000001000000000081a16ba176a36e7370a12f";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn round_trips_binary_as_bin() {
        let value = json!(["ev", {"a": [1, -2, 1.5, "x"]}, {"_placeholder": true, "num": 0}]);
        let binary = vec![Bytes::from_static(&[0, 1, 2, 255])];
        let mut out = Vec::new();
        write(&mut out, &value, &binary);
        let (back, bin) = decode(&out).unwrap();
        assert_eq!(back, value);
        assert_eq!(bin, binary);
    }

    #[test]
    fn integral_floats_are_written_as_integers() {
        let mut out = Vec::new();
        write(&mut out, &json!(3.0), &[]);
        assert_eq!(out, [3]);
    }

    #[test]
    fn json_is_recognised_by_its_first_byte() {
        let (v, bin) = decode(br#"{"type":1,"requestId":"abc"}"#).unwrap();
        assert_eq!(v["requestId"], "abc");
        assert!(bin.is_empty());
        assert!(decode(br#"{"type":1} x"#).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // (rmpv reads the reserved marker 0xc1 as nil, and bounds preallocation, so a
        // huge announced length costs nothing before the bytes run out.)
        for bytes in [
            &[0x92, 0x01][..],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xc6, 0xff, 0xff, 0xff, 0xff, 0],
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
        // Deep nesting is refused.
        let deep = vec![0x91u8; MAX_DEPTH + 10];
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn reads_what_notepack_writes() {
        let (value, binary) = decode(&hex(NODE_BYTES)).unwrap();
        assert_eq!(
            value,
            json!(["abc", {"type": 2, "nsp": "/", "data": [
                "ev", 1, 1.5, {"_placeholder": true, "num": 0}, null, null, true,
                "2026-11-30T20:40:03.123Z", -7, 1_099_511_627_776u64, {"k": "v"}
            ]}])
        );
        assert_eq!(binary, vec![Bytes::from_static(&[1, 2])]);
    }
}
