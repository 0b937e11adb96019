//! Socket.IO packet parsing: `parse` on arbitrary text, then a round trip through the
//! server's own encoder.
//!
//! Checks, besides "never panics":
//! - an accepted packet respects the invariants handlers rely on (attachment limit, namespace
//!   shape, payload shape per kind, no reserved event name);
//! - re-encoding it with `encode` / `header` (what the server sends) and parsing the result
//!   again succeeds with the same kind, attachments, namespace, ack id and data.
//!
//! Floats: serde_json is built without `float_roundtrip`, so a float can come back one or
//! two ULPs off (reported separately). Unless serde_json reads floats exactly, or
//! `REALTIME_FUZZ_STRICT_FLOATS=1` is set, floats are compared within a few ULPs.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use realtime_core::wire::socketio::{
    encode, header, parse, AckBody, EventBody, PacketData, PacketKind, RawArg, MAX_ATTACHMENTS,
    RESERVED_EVENTS,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => {
            check(text);
            // The same packet as it arrives inside an Engine.IO message.
            if let Some(sio) = text.strip_prefix('4') {
                check(sio);
            }
        }
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});

fn check(text: &str) {
    let Ok(p) = parse(text) else { return };

    assert!(p.attachments <= MAX_ATTACHMENTS, "{text:?}");
    if !p.kind.is_binary() {
        assert_eq!(p.attachments, 0, "{text:?}");
    }
    assert!(
        p.nsp.starts_with('/') && !p.nsp.contains(','),
        "{text:?}: nsp {:?}",
        p.nsp
    );

    let encoded = match &p.data {
        PacketData::Event { event, args } => {
            assert!(
                matches!(p.kind, PacketKind::Event | PacketKind::BinaryEvent),
                "{text:?}"
            );
            assert!(!RESERVED_EVENTS.contains(&event.as_str()), "{text:?}");
            encode(
                p.kind,
                p.attachments,
                p.nsp,
                p.ack_id,
                &EventBody {
                    event,
                    args: &args[..],
                },
            )
        }
        PacketData::Ack(args) => {
            assert!(
                matches!(p.kind, PacketKind::Ack | PacketKind::BinaryAck),
                "{text:?}"
            );
            encode(p.kind, p.attachments, p.nsp, p.ack_id, &AckBody(&args[..]))
        }
        PacketData::Connect(auth) => {
            assert_eq!(p.kind, PacketKind::Connect);
            match auth {
                Some(auth) => encode(p.kind, 0, p.nsp, p.ack_id, auth),
                None => Ok(header(p.kind, 0, p.nsp, p.ack_id)),
            }
        }
        PacketData::Disconnect => {
            assert_eq!(p.kind, PacketKind::Disconnect);
            Ok(header(p.kind, 0, p.nsp, p.ack_id))
        }
        PacketData::ConnectError(v) => {
            assert_eq!(p.kind, PacketKind::ConnectError);
            assert!(v.is_object() || v.is_string(), "{text:?}");
            encode(p.kind, 0, p.nsp, p.ack_id, v)
        }
    }
    .unwrap_or_else(|e| panic!("{text:?}: parsed data does not serialize: {e}"));

    let sio = encoded
        .strip_prefix('4')
        .unwrap_or_else(|| panic!("no Engine.IO prefix: {encoded:?}"));
    let q =
        parse(sio).unwrap_or_else(|e| panic!("{text:?} re-encoded as {encoded:?} is refused: {e}"));
    assert_eq!(
        (q.kind, q.attachments, q.nsp, q.ack_id),
        (p.kind, p.attachments, p.nsp, p.ack_id),
        "{text:?} re-encoded as {encoded:?}"
    );
    assert!(
        same_data(&p.data, &q.data),
        "{text:?} re-encoded as {encoded:?}: {:?} != {:?}",
        p.data,
        q.data
    );
}

fn same_data(a: &PacketData, b: &PacketData) -> bool {
    match (a, b) {
        (
            PacketData::Event {
                event: e1,
                args: a1,
            },
            PacketData::Event {
                event: e2,
                args: a2,
            },
        ) => e1 == e2 && same_text(a1, a2),
        (PacketData::Ack(a1), PacketData::Ack(a2)) => same_text(a1, a2),
        (PacketData::Connect(Some(m1)), PacketData::Connect(Some(m2))) => {
            m1.len() == m2.len()
                && m1
                    .iter()
                    .all(|(k, v)| m2.get(k).is_some_and(|w| same(v, w)))
        }
        (PacketData::ConnectError(v), PacketData::ConnectError(w)) => same(v, w),
        _ => a == b,
    }
}

/// Arguments are kept as JSON text, so a round trip gives back exactly the same text.
fn same_text(a: &[RawArg], b: &[RawArg]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.get() == y.get())
}

fn same_all(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same(v, w))
}

/// JSON equality, floats within a few ULPs unless strict.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() && !strict_floats() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 4)
        }
        (Value::Array(x), Value::Array(y)) => same_all(x, y),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Exact float comparison when serde_json parses floats exactly (its `float_roundtrip`
/// feature), or when asked to with `REALTIME_FUZZ_STRICT_FLOATS=1`.
fn strict_floats() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| {
        let exact =
            serde_json::from_str::<f64>("129268.08252423801").ok() == Some(129268.08252423801);
        exact || std::env::var_os("REALTIME_FUZZ_STRICT_FLOATS").is_some_and(|v| v == "1")
    })
}
