//! Property tests for the Engine.IO and Socket.IO packet parsers.
//!
//! Three families of properties:
//!
//! - no input, arbitrary or built from a grammar of packet-ish tokens, makes a parser panic,
//!   and whatever a parser accepts satisfies the invariants its callers rely on;
//! - what the server encodes (`encode`, `header`, `encode_record`) parses back to the same
//!   packet;
//! - the limits: attachment counts, reserved event names, placeholder indices.
//!
//! The case count is kept modest so `cargo test -p realtime-core` stays fast; set
//! `PROPTEST_CASES` to run more (e.g. `PROPTEST_CASES=20000 cargo test -p realtime-core
//! --test parser_props --release`). Failing cases are not persisted to a regressions file:
//! proptest prints the minimal input, copy it into a regular test.
//!
//! Floats: the workspace builds serde_json with `float_roundtrip`, so every double a client
//! sends reaches handlers bit for bit (`arbitrary_floats_round_trip`). The structured round
//! trip properties draw floats of the form `m / 10^k` (`m < 10^15`, `k <= 22`).

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use realtime_core::wire::eio3;
use realtime_core::wire::engineio::{
    decode_payload, decode_record, decode_text, encode_record, DecodeError, Frame,
    Packet as EioPacket, PacketType,
};
use realtime_core::wire::socketio::{
    check_placeholders, check_raw_placeholders, encode, header, parse, placeholder, AckBody,
    EventBody, One, PacketData, PacketKind, ParseError, RawArg, MAX_ATTACHMENTS, RESERVED_EVENTS,
};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Arguments as the parser keeps them: JSON text.
fn raws(values: &[serde_json::Value]) -> Vec<RawArg> {
    values
        .iter()
        .map(|v| serde_json::value::to_raw_value(v).unwrap())
        .collect()
}

/// `default` cases unless `PROPTEST_CASES` says otherwise; no regression files are written.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ALL_KINDS: [PacketKind; 7] = [
    PacketKind::Connect,
    PacketKind::Disconnect,
    PacketKind::Event,
    PacketKind::Ack,
    PacketKind::ConnectError,
    PacketKind::BinaryEvent,
    PacketKind::BinaryAck,
];

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A float serde_json's default (fast) parser reads back exactly: `±m / 10^k`, `m < 10^15`,
/// `k <= 22`, so that the shortest representation has a significand below 2^53 and a decimal
/// exponent the parser applies with a single correctly rounded operation.
fn exact_f64() -> impl Strategy<Value = f64> {
    (0u64..1_000_000_000_000_000, 0u32..=22, any::<bool>()).prop_map(|(m, k, neg)| {
        let f: f64 = format!("{m}e-{k}").parse().expect("valid float literal");
        if neg {
            -f
        } else {
            f
        }
    })
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        exact_f64().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        // Things that look like protocol: placeholders, event names, separators.
        (0usize..20).prop_map(placeholder),
        prop::sample::select(vec![
            "connect", "/nsp,", "4", "\u{1e}", "b", "\"", "\\", "😀"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Arbitrary JSON values (floats restricted as described in the module docs).
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(any::<String>(), json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// A namespace as the server would write it: `/` followed by anything but `,`.
fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        "[a-z0-9_/-]{1,12}".prop_map(|s| format!("/{s}")),
        "[^,]{0,16}".prop_map(|s| format!("/{s}")),
    ]
}

fn ack_id() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(Some),
        (0u64..100).prop_map(Some)
    ]
}

/// Any event name a client may send: every string but the reserved ones.
fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z:_ ]{0,12}",
        "[0-9]{1,5}",
        Just(String::new())
    ]
    .prop_filter("reserved event names are refused", |e| {
        !RESERVED_EVENTS.contains(&e.as_str())
    })
}

/// Strings built from a grammar of packet-ish tokens: type digits, attachment counts,
/// namespaces, ack ids, JSON fragments, record separators, base64 and multi-byte characters.
fn packetish() -> impl Strategy<Value = String> {
    let literal = prop::sample::select(vec![
        "-",
        "/",
        ",",
        "[",
        "]",
        "{",
        "}",
        ":",
        "\"",
        "\"a\"",
        "\"connect\"",
        "\"disconnecting\"",
        "[\"ev\",1]",
        "{\"_placeholder\":true,\"num\":0}",
        "{\"_placeholder\":true,\"num\":-1}",
        "{\"_placeholder\":true}",
        "null",
        "true",
        "1e999",
        "-0.5",
        "\u{1e}",
        "b",
        "é",
        "😀",
        "\u{0}",
        " ",
    ]);
    let token = prop_oneof![
        6 => literal.prop_map(str::to_owned),
        2 => "[0-9]{1,3}",
        1 => "[0-9]{18,24}",
        1 => "/[a-z]{0,4},?",
        1 => "[A-Za-z0-9+/]{0,8}={0,2}",
    ];
    (
        prop::sample::select(vec![
            "", "0", "1", "2", "3", "4", "5", "6", "7", "40", "42", "45", "b",
        ]),
        prop::collection::vec(token, 0..16),
    )
        .prop_map(|(prefix, tokens)| {
            let mut s = prefix.to_owned();
            tokens.iter().for_each(|t| s.push_str(t));
            s
        })
}

/// Any string: arbitrary unicode or grammar-built.
fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), packetish()]
}

// ---------------------------------------------------------------------------------------------
// Invariants of whatever a parser accepts
// ---------------------------------------------------------------------------------------------

/// Runs every parser on `text`; panics (failing the property) only through the parsers
/// themselves or a broken invariant of an accepted packet.
fn exercise(text: &str) {
    // Engine.IO.
    let _ = decode_text(text);
    let _ = decode_record(text);
    if let Ok(packets) = decode_payload(text) {
        assert_eq!(
            packets.len(),
            text.split('\u{1e}').count(),
            "one packet per record"
        );
    }
    match decode_text(text) {
        Err(DecodeError::Empty) => assert!(text.is_empty()),
        Err(DecodeError::UnknownType(c)) => assert_eq!(text.chars().next(), Some(c)),
        Err(e) => panic!("decode_text cannot fail with {e:?}"),
        Ok(_) => assert!(matches!(text.as_bytes()[0], b'0'..=b'6')),
    }

    // Socket.IO, on the text as is and behind an Engine.IO message prefix.
    for sio in [Some(text), text.strip_prefix('4')] {
        let Some(sio) = sio else { continue };
        let Ok(p) = parse(sio) else { continue };
        assert!(p.attachments <= MAX_ATTACHMENTS, "{sio:?}");
        if !p.kind.is_binary() {
            assert_eq!(p.attachments, 0, "{sio:?}");
        }
        assert!(
            p.nsp.starts_with('/') && !p.nsp.contains(','),
            "{sio:?} -> nsp {:?}",
            p.nsp
        );
        match &p.data {
            PacketData::Connect(_) => assert_eq!(p.kind, PacketKind::Connect),
            PacketData::Disconnect => assert_eq!(p.kind, PacketKind::Disconnect),
            PacketData::ConnectError(v) => {
                assert_eq!(p.kind, PacketKind::ConnectError);
                assert!(v.is_object() || v.is_string());
            }
            PacketData::Event { event, args } => {
                assert!(matches!(
                    p.kind,
                    PacketKind::Event | PacketKind::BinaryEvent
                ));
                assert!(!RESERVED_EVENTS.contains(&event.as_str()), "{sio:?}");
                for n in [0, p.attachments, MAX_ATTACHMENTS, usize::MAX] {
                    let _ = check_raw_placeholders(args, n);
                }
            }
            PacketData::Ack(args) => {
                assert!(matches!(p.kind, PacketKind::Ack | PacketKind::BinaryAck));
                for n in [0, p.attachments, MAX_ATTACHMENTS, usize::MAX] {
                    let _ = check_raw_placeholders(args, n);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) No input makes a parser panic
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn no_string_panics(text in any_input()) {
        exercise(&text);
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        exercise(&String::from_utf8_lossy(&bytes));
        if let Ok(text) = std::str::from_utf8(&bytes) {
            exercise(text);
        }
    }

    /// Binary packets: a type digit, an attachment count, a `-`, then packet-ish text.
    #[test]
    fn no_binary_header_panics(kind in prop::sample::select(vec!['5', '6']),
                               count in "[0-9]{0,6}", dash in any::<bool>(), rest in packetish()) {
        exercise(&format!("{kind}{count}{}{rest}", if dash { "-" } else { "" }));
    }

    #[test]
    fn check_placeholders_never_panics(value in json_value(), n in any::<usize>()) {
        let _ = check_placeholders(std::slice::from_ref(&value), n);
    }

    /// Valid packets with a few characters inserted, deleted or replaced: inputs close to
    /// the accepted language, where parsers are most likely to slip.
    #[test]
    fn mutated_packets_never_panic(packet in valid_packet(),
                                   edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, packet_char()), 1..4)) {
        let mut chars: Vec<char> = packet.chars().collect();
        for (at, op, c) in edits {
            match op {
                0 => chars.insert(at.index(chars.len() + 1), c),
                1 if !chars.is_empty() => { chars.remove(at.index(chars.len())); }
                _ if !chars.is_empty() => { let i = at.index(chars.len()); chars[i] = c; }
                _ => chars.push(c),
            }
        }
        let mutated: String = chars.into_iter().collect();
        exercise(&mutated);
    }
}

/// A character likely to matter to the parsers.
fn packet_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '0', '1', '2', '5', '6', '9', '-', '/', ',', '[', ']', '{', '}', '"', ':', '\\', '\u{1e}', 'b', 'é', '😀',
        ]),
        1 => any::<char>(),
    ]
}

/// An encoded Engine.IO message carrying a valid Socket.IO packet of any kind, or a polling
/// payload of several of them.
fn valid_packet() -> impl Strategy<Value = String> {
    let one = (
        prop::sample::select(ALL_KINDS.to_vec()),
        0..=MAX_ATTACHMENTS,
        namespace(),
        ack_id(),
        event_name(),
        prop::collection::vec(json_value(), 0..3),
    )
        .prop_map(|(kind, attachments, nsp, ack, event, args)| {
            let attachments = if kind.is_binary() { attachments } else { 0 };
            match kind {
                PacketKind::Event | PacketKind::BinaryEvent => encode(
                    kind,
                    attachments,
                    &nsp,
                    ack,
                    &EventBody {
                        event: &event,
                        args: &args[..],
                    },
                ),
                PacketKind::Ack | PacketKind::BinaryAck => {
                    encode(kind, attachments, &nsp, ack, &AckBody(&args[..]))
                }
                PacketKind::ConnectError => encode(kind, 0, &nsp, None, &event),
                PacketKind::Connect => encode(kind, 0, &nsp, None, &json!({ "token": event })),
                PacketKind::Disconnect => Ok(header(kind, 0, &nsp, None)),
            }
            .unwrap()
        });
    prop::collection::vec(one, 1..3).prop_map(|packets| packets.join("\u{1e}"))
}

// ---------------------------------------------------------------------------------------------
// (b) Round trips
// ---------------------------------------------------------------------------------------------

/// Parses what `encode`/`header` produced, after its Engine.IO `4`.
fn parse_encoded(encoded: &str) -> realtime_core::wire::socketio::Packet<'_> {
    let sio = encoded
        .strip_prefix('4')
        .unwrap_or_else(|| panic!("no Engine.IO prefix: {encoded:?}"));
    parse(sio).unwrap_or_else(|e| panic!("{encoded:?} does not parse back: {e}"))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn event_round_trip(binary in any::<bool>(), attachments in 0..=MAX_ATTACHMENTS, nsp in namespace(),
                        ack in ack_id(), event in event_name(),
                        args in prop::collection::vec(json_value(), 0..5)) {
        let (kind, attachments) =
            if binary { (PacketKind::BinaryEvent, attachments) } else { (PacketKind::Event, 0) };
        let encoded = encode(kind, attachments, &nsp, ack, &EventBody { event: &event, args: &args[..] }).unwrap();
        let p = parse_encoded(&encoded);
        prop_assert_eq!(p.kind, kind);
        prop_assert_eq!(p.attachments, attachments);
        prop_assert_eq!(p.nsp, nsp.as_str());
        prop_assert_eq!(p.ack_id, ack);
        prop_assert_eq!(p.data, PacketData::Event { event, args: raws(&args) });
    }

    /// The single-argument form (`One`) encodes the same as a one-element slice.
    #[test]
    fn event_one_round_trip(nsp in namespace(), ack in ack_id(), event in event_name(), arg in json_value()) {
        let encoded = encode(PacketKind::Event, 0, &nsp, ack, &EventBody { event: &event, args: &One(&arg) }).unwrap();
        let slice = encode(PacketKind::Event, 0, &nsp, ack, &EventBody { event: &event, args: &[arg.clone()][..] }).unwrap();
        prop_assert_eq!(&encoded, &slice);
        let p = parse_encoded(&encoded);
        prop_assert_eq!((p.nsp, p.ack_id), (nsp.as_str(), ack));
        prop_assert_eq!(p.data, PacketData::Event { event, args: raws(&[arg]) });
    }

    #[test]
    fn ack_round_trip(binary in any::<bool>(), attachments in 0..=MAX_ATTACHMENTS, nsp in namespace(),
                      ack in ack_id(), args in prop::collection::vec(json_value(), 0..5)) {
        let (kind, attachments) =
            if binary { (PacketKind::BinaryAck, attachments) } else { (PacketKind::Ack, 0) };
        let encoded = encode(kind, attachments, &nsp, ack, &AckBody(&args[..])).unwrap();
        let p = parse_encoded(&encoded);
        prop_assert_eq!(p.kind, kind);
        prop_assert_eq!(p.attachments, attachments);
        prop_assert_eq!(p.nsp, nsp.as_str());
        prop_assert_eq!(p.ack_id, ack);
        prop_assert_eq!(p.data, PacketData::Ack(raws(&args)));
    }

    #[test]
    fn connect_disconnect_error_round_trip(nsp in namespace(), auth in prop::option::of(json_object()),
                                           message in any::<String>(), details in json_object()) {
        // CONNECT with and without an auth object.
        let encoded = match &auth {
            Some(auth) => encode(PacketKind::Connect, 0, &nsp, None, auth).unwrap(),
            None => header(PacketKind::Connect, 0, &nsp, None),
        };
        let p = parse_encoded(&encoded);
        prop_assert_eq!((p.kind, p.nsp), (PacketKind::Connect, nsp.as_str()));
        prop_assert_eq!(p.data, PacketData::Connect(auth));

        // DISCONNECT has no body.
        let encoded = header(PacketKind::Disconnect, 0, &nsp, None);
        let p = parse_encoded(&encoded);
        prop_assert_eq!((p.kind, p.nsp, p.data), (PacketKind::Disconnect, nsp.as_str(), PacketData::Disconnect));

        // CONNECT_ERROR: a string (v2-style message) or an object.
        for body in [Value::String(message), Value::Object(details)] {
            let encoded = encode(PacketKind::ConnectError, 0, &nsp, None, &body).unwrap();
            let p = parse_encoded(&encoded);
            prop_assert_eq!((p.kind, p.nsp), (PacketKind::ConnectError, nsp.as_str()));
            prop_assert_eq!(p.data, PacketData::ConnectError(body));
        }
    }
}

/// An outbound Engine.IO frame and the packet the server's own decoder should read from it.
#[derive(Debug, Clone)]
enum FrameSpec {
    Text(PacketType, String),
    Bare(PacketType),
    Binary(Vec<u8>),
}

impl FrameSpec {
    fn frame(&self) -> Frame {
        match self {
            FrameSpec::Text(kind, data) => Frame::text(*kind, data),
            FrameSpec::Bare(kind) => Frame::bare(*kind),
            FrameSpec::Binary(bytes) => Frame::Binary(Bytes::from(bytes.clone())),
        }
    }

    fn expected(&self) -> EioPacket<'_> {
        let data = match self {
            FrameSpec::Text(_, data) => data.as_str(),
            FrameSpec::Bare(_) => "",
            FrameSpec::Binary(bytes) => return EioPacket::Binary(Bytes::from(bytes.clone())),
        };
        let (FrameSpec::Text(kind, _) | FrameSpec::Bare(kind)) = self else {
            unreachable!()
        };
        match kind {
            PacketType::Open => EioPacket::Open,
            PacketType::Close => EioPacket::Close,
            PacketType::Ping => EioPacket::Ping(data),
            PacketType::Pong => EioPacket::Pong(data),
            PacketType::Message => EioPacket::Message(data),
            PacketType::Upgrade => EioPacket::Upgrade,
            PacketType::Noop => EioPacket::Noop,
        }
    }
}

const ALL_EIO_TYPES: [PacketType; 7] = [
    PacketType::Open,
    PacketType::Close,
    PacketType::Ping,
    PacketType::Pong,
    PacketType::Message,
    PacketType::Upgrade,
    PacketType::Noop,
];

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        // Only PING, PONG and MESSAGE carry a payload the decoder keeps.
        (
            prop::sample::select(vec![
                PacketType::Ping,
                PacketType::Pong,
                PacketType::Message
            ]),
            "[^\u{1e}]*"
        )
            .prop_map(|(k, d)| FrameSpec::Text(k, d)),
        (
            Just(PacketType::Message),
            "[^\u{1e}]{0,4}(b|[0-9]|,|/|\\[)[^\u{1e}]{0,4}"
        )
            .prop_map(|(k, d)| FrameSpec::Text(k, d)),
        prop::sample::select(ALL_EIO_TYPES.to_vec()).prop_map(FrameSpec::Bare),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(FrameSpec::Binary),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn engine_payload_round_trip(specs in prop::collection::vec(frame_spec(), 1..8)) {
        let mut body = String::new();
        for spec in &specs {
            encode_record(&mut body, &spec.frame());
        }
        let decoded = decode_payload(&body).unwrap_or_else(|e| panic!("{body:?} does not decode: {e}"));
        let expected: Vec<EioPacket<'_>> = specs.iter().map(FrameSpec::expected).collect();
        prop_assert_eq!(decoded, expected);
    }

    /// A single frame, sent on a WebSocket, decodes the same way as a polling record.
    #[test]
    fn engine_text_frame_round_trip(spec in frame_spec()) {
        match spec.frame() {
            Frame::Text(text) => {
                prop_assert_eq!(decode_text(text.as_str()), Ok(spec.expected()));
                prop_assert_eq!(decode_record(text.as_str()), Ok(spec.expected()));
            }
            Frame::Binary(bytes) => prop_assert_eq!(EioPacket::Binary(bytes), spec.expected()),
        }
    }

    /// OPEN, CLOSE, UPGRADE and NOOP ignore anything after their type digit.
    #[test]
    fn engine_bare_types_ignore_data(kind in prop::sample::select(vec![
            PacketType::Open, PacketType::Close, PacketType::Upgrade, PacketType::Noop]),
            data in "[^\u{1e}]*") {
        let Frame::Text(text) = Frame::text(kind, &data) else { unreachable!() };
        let bare = FrameSpec::Bare(kind);
        prop_assert_eq!(decode_text(text.as_str()), Ok(bare.expected()));
    }
}

/// Frames for an Engine.IO v3 session: any text (the record separator, surrogate pairs and
/// all: v3 payloads are length-prefixed in UTF-16 code units), or binary.
fn frame_spec_v3() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        (
            prop::sample::select(vec![
                PacketType::Ping,
                PacketType::Pong,
                PacketType::Message
            ]),
            "(.|\\n|\u{1e}|\u{1F600}|é|:){0,24}"
        )
            .prop_map(|(k, d)| FrameSpec::Text(k, d)),
        prop::sample::select(ALL_EIO_TYPES.to_vec()).prop_map(FrameSpec::Bare),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(FrameSpec::Binary),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Engine.IO v3 (socket.io-client 2.x): what the server encodes, as a text payload and as
    /// a binary payload, decodes back to the same packets.
    #[test]
    fn engine_v3_payloads_round_trip(specs in prop::collection::vec(frame_spec_v3(), 0..8)) {
        let frames: Vec<Frame> = specs.iter().map(FrameSpec::frame).collect();
        let expected: Vec<EioPacket<'_>> = specs.iter().map(FrameSpec::expected).collect();
        let text = eio3::encode_payload(&frames);
        prop_assert_eq!(eio3::decode_payload(&text), Ok(expected.clone()), "{:?}", text);
        let binary = eio3::encode_binary_payload(&frames);
        prop_assert_eq!(eio3::decode_binary_payload(&binary), Ok(expected), "{:?}", binary);
    }

    /// No input makes the v3 decoders panic; a valid binary payload cut inside a record is
    /// refused, never half-decoded.
    #[test]
    fn engine_v3_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64),
                                      specs in prop::collection::vec(frame_spec_v3(), 1..4),
                                      cut in any::<prop::sample::Index>()) {
        let _ = eio3::decode_binary_payload(&Bytes::from(bytes.clone()));
        let _ = eio3::decode_binary(Bytes::from(bytes.clone()));
        let text = String::from_utf8_lossy(&bytes);
        let _ = eio3::decode_payload(&text);
        let _ = eio3::decode_packet(&text);

        let frames: Vec<Frame> = specs.iter().map(FrameSpec::frame).collect();
        let binary = eio3::encode_binary_payload(&frames);
        let at = cut.index(binary.len());
        if !record_ends(&binary).contains(&at) {
            prop_assert!(eio3::decode_binary_payload(&binary.slice(..at)).is_err(), "cut at {}", at);
        }
    }
}

/// Where each record of a v3 binary payload ends (and 0, the empty prefix).
fn record_ends(payload: &[u8]) -> Vec<usize> {
    let mut ends = vec![0];
    let mut i = 0;
    while i < payload.len() {
        let mut j = i + 1;
        let mut len = 0usize;
        while payload[j] != 255 {
            len = len * 10 + payload[j] as usize;
            j += 1;
        }
        i = j + 1 + len;
        ends.push(i);
    }
    ends
}

/// Without serde_json's `float_roundtrip`, some shortest float representations read back one
/// or two ULPs off, so a float a client sends would not be the float a handler gets or relays.
#[test]
fn arbitrary_floats_round_trip() {
    // What JSON.stringify (and serde_json) writes for this double; read back, it is another one.
    let sent = 129268.08252423801_f64;
    let encoded = encode(
        PacketKind::Event,
        0,
        "/",
        None,
        &EventBody {
            event: "f",
            args: &One(&sent),
        },
    )
    .unwrap();
    assert_eq!(encoded, "42[\"f\",129268.08252423801]");
    let p = parse_encoded(&encoded);
    assert_eq!(
        p.data,
        PacketData::Event {
            event: "f".into(),
            args: raws(&[json!(sent)])
        }
    );

    proptest!(config(1000), |(bits in any::<u64>())| {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let encoded = encode(PacketKind::Ack, 0, "/", None, &AckBody(&[json!(f)][..])).unwrap();
        let p = parse_encoded(&encoded);
        prop_assert_eq!(p.data, PacketData::Ack(raws(&[json!(f)])), "{}", encoded);
    });
}

// ---------------------------------------------------------------------------------------------
// (c) Invariants
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Counts above MAX_ATTACHMENTS are refused whatever follows; counts of more than four
    /// digits are refused as illegal; up to MAX_ATTACHMENTS (leading zeros included) pass.
    #[test]
    fn attachment_limit(count in 0u64..100_000, zeros in 0usize..3, binary_ack in any::<bool>(),
                        nsp in namespace(), ack in ack_id(), body in packetish()) {
        let (digit, valid_body) = if binary_ack { ('6', "[]") } else { ('5', "[\"a\"]") };
        let digits = format!("{}{count}", "0".repeat(zeros));
        let nsp_part = if nsp == "/" { String::new() } else { format!("{nsp},") };
        let ack_part = ack.map(|a| a.to_string()).unwrap_or_default();
        for tail in [valid_body, body.as_str()] {
            let text = format!("{digit}{digits}-{nsp_part}{ack_part}{tail}");
            let result = parse(&text);
            if digits.len() > 4 {
                prop_assert_eq!(result, Err(ParseError::IllegalAttachments), "{}", text);
            } else if count as usize > MAX_ATTACHMENTS {
                prop_assert_eq!(result, Err(ParseError::TooManyAttachments(count as usize)), "{}", text);
            } else if tail == valid_body {
                let p = result.unwrap_or_else(|e| panic!("{text:?} refused: {e}"));
                prop_assert_eq!(p.attachments, count as usize);
            } else if let Ok(p) = result {
                prop_assert_eq!(p.attachments, count as usize);
            }
        }
    }

    /// Binary kinds need `<digits>-`; without it the packet is refused.
    #[test]
    fn binary_kinds_need_attachment_header(binary_ack in any::<bool>(), rest in "([^0-9].*)?") {
        let text = format!("{}{rest}", if binary_ack { '6' } else { '5' });
        prop_assert_eq!(parse(&text), Err(ParseError::IllegalAttachments), "{}", text);
    }

    /// Reserved names are refused in EVENT and BINARY_EVENT whatever the header and arguments;
    /// the same packet with any other name is accepted.
    #[test]
    fn reserved_events_refused(name in prop::sample::select(RESERVED_EVENTS.to_vec()), binary in any::<bool>(),
                               nsp in namespace(), ack in ack_id(), other in event_name(),
                               args in prop::collection::vec(json_value(), 0..3)) {
        let (kind, attachments) = if binary { (PacketKind::BinaryEvent, 1) } else { (PacketKind::Event, 0) };
        let encoded = encode(kind, attachments, &nsp, ack, &EventBody { event: name, args: &args[..] }).unwrap();
        prop_assert_eq!(parse(&encoded[1..]), Err(ParseError::ReservedEvent(name.to_owned())));
        let encoded = encode(kind, attachments, &nsp, ack, &EventBody { event: &other, args: &args[..] }).unwrap();
        prop_assert!(parse(&encoded[1..]).is_ok(), "{}", encoded);
    }

    /// Reserved names are only refused as the event name, exactly: in acks, as arguments, or
    /// differing by case or whitespace they are ordinary strings.
    #[test]
    fn reserved_names_elsewhere_are_fine(name in prop::sample::select(RESERVED_EVENTS.to_vec())) {
        let args = [json!(name)];
        let encoded = encode(PacketKind::Ack, 0, "/", Some(1), &AckBody(&args[..])).unwrap();
        prop_assert!(parse(&encoded[1..]).is_ok());
        let encoded = encode(PacketKind::Event, 0, "/", None, &EventBody { event: "x", args: &args[..] }).unwrap();
        prop_assert!(parse(&encoded[1..]).is_ok());
        for variant in [name.to_uppercase(), format!(" {name}"), format!("{name} ")] {
            let encoded = encode(PacketKind::Event, 0, "/", None, &EventBody { event: &variant, args: &args[..] }).unwrap();
            prop_assert!(parse(&encoded[1..]).is_ok(), "{}", encoded);
        }
    }
}

/// One `_placeholder: true` object, well formed or not.
#[derive(Debug, Clone)]
enum Ph {
    /// `{"_placeholder":true,"num":n}`: valid iff `n < attachments`.
    Num(u64),
    /// `num` negative, fractional, a string, null, an array: always invalid.
    Bad(Value),
    /// No `num` at all: invalid.
    Missing,
}

impl Ph {
    fn value(&self) -> Value {
        match self {
            Ph::Num(n) => json!({ "_placeholder": true, "num": n }),
            Ph::Missing => json!({ "_placeholder": true }),
            Ph::Bad(num) => json!({ "_placeholder": true, "num": num }),
        }
    }
}

fn ph() -> impl Strategy<Value = Ph> {
    prop_oneof![
        4 => (0u64..16).prop_map(Ph::Num),
        1 => any::<u64>().prop_map(Ph::Num),
        1 => Just(Ph::Missing),
        1 => prop_oneof![
            Just(json!(-1)),
            Just(json!(0.5)),
            Just(json!(1.0)),
            Just(json!("0")),
            Just(json!(null)),
            Just(json!([0])),
            any::<i64>().prop_filter("negative", |n| *n < 0).prop_map(|n| json!(n)),
        ].prop_map(Ph::Bad),
    ]
}

/// A JSON tree with placeholders planted in it, and the placeholders it holds. Objects that
/// merely look like placeholders (`_placeholder` false or a string) are walked as ordinary
/// objects.
fn planted() -> impl Strategy<Value = (Value, Vec<Ph>)> {
    let leaf = prop_oneof![
        3 => json_leaf().prop_filter("no placeholder", |v| v.get("_placeholder").is_none())
            .prop_map(|v| (v, vec![])),
        2 => ph().prop_map(|p| (p.value(), vec![p])),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|items| {
                let phs = items.iter().flat_map(|(_, p)| p.clone()).collect();
                (
                    Value::Array(items.into_iter().map(|(v, _)| v).collect()),
                    phs,
                )
            }),
            (
                prop::collection::vec(inner, 0..4),
                prop::sample::select(vec![None, Some(json!(false)), Some(json!("true"))])
            )
                .prop_map(|(items, marker)| {
                    let phs = items.iter().flat_map(|(_, p)| p.clone()).collect();
                    let mut map: Map<String, Value> = items
                        .into_iter()
                        .enumerate()
                        .map(|(i, (v, _))| (format!("k{i}"), v))
                        .collect();
                    if let Some(marker) = marker {
                        map.insert("_placeholder".into(), marker);
                        map.insert("num".into(), json!(0));
                    }
                    (Value::Object(map), phs)
                }),
        ]
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// `check_placeholders` accepts exactly the trees whose placeholders all have an integer
    /// `num` below the attachment count.
    #[test]
    fn placeholders_accepted_iff_in_range(trees in prop::collection::vec(planted(), 0..4), attachments in 0usize..14) {
        let values: Vec<Value> = trees.iter().map(|(v, _)| v.clone()).collect();
        let valid = trees.iter().flat_map(|(_, p)| p).all(|p| matches!(p, Ph::Num(n) if *n < attachments as u64));
        let expected = if valid { Ok(()) } else { Err(ParseError::InvalidPlaceholder) };
        prop_assert_eq!(check_placeholders(&values, attachments), expected, "{:?}", values);
    }

    /// `placeholder(n)` is accepted exactly by counts above `n`, wherever it sits.
    #[test]
    fn placeholder_threshold(num in 0usize..1000, attachments in 0usize..1000, depth in 0usize..4) {
        let mut v = placeholder(num);
        for i in 0..depth {
            v = if i % 2 == 0 { json!([1, v]) } else { json!({ "x": v }) };
        }
        let result = check_placeholders(&[json!("a"), v], attachments);
        prop_assert_eq!(result.is_ok(), num < attachments);
    }

    /// A parsed binary event whose placeholders point past its attachment count is caught.
    #[test]
    fn parsed_binary_event_placeholders(attachments in 0..=MAX_ATTACHMENTS, num in 0usize..=MAX_ATTACHMENTS + 2) {
        let encoded = encode(PacketKind::BinaryEvent, attachments, "/", None,
            &EventBody { event: "up", args: &One(&placeholder(num)) }).unwrap();
        let p = parse_encoded(&encoded);
        let PacketData::Event { args, .. } = p.data else { panic!("not an event") };
        prop_assert_eq!(check_raw_placeholders(&args, p.attachments).is_ok(), num < attachments);
    }
}

/// Fixed edge cases found while writing the properties, kept as plain assertions.
#[test]
fn edge_cases() {
    // Attachment counts: four digits at most, leading zeros count as digits.
    assert_eq!(parse("50010-[\"a\"]").map(|p| p.attachments), Ok(10));
    assert_eq!(parse("500011-[\"a\"]"), Err(ParseError::IllegalAttachments));
    assert_eq!(
        parse("59999-[\"a\"]"),
        Err(ParseError::TooManyAttachments(9999))
    );
    // An ack id that overflows u64 is refused, not wrapped.
    assert_eq!(
        parse("218446744073709551616[\"a\"]"),
        Err(ParseError::InvalidAckId)
    );
    assert_eq!(
        parse("218446744073709551615[\"a\"]").map(|p| p.ack_id),
        Ok(Some(u64::MAX))
    );
    // An explicit "/" namespace is the main one, and re-encodes without it.
    assert_eq!(parse("2/,[\"a\"]").map(|p| p.nsp), Ok("/"));
    // A namespace without a comma runs to the end of the packet.
    assert_eq!(
        parse("0/chat{\"a\":1}").map(|p| p.nsp),
        Ok("/chat{\"a\":1}")
    );
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    let deep = format!("2[\"a\",{}{}]", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(parse(&deep), Err(ParseError::InvalidJson));
    // Every kind's digit parses with a suitable body.
    for (kind, text) in ALL_KINDS.iter().zip([
        "0",
        "1",
        "2[\"a\"]",
        "3[]",
        "4\"no\"",
        "50-[\"a\"]",
        "60-[]",
    ]) {
        assert_eq!(parse(text).map(|p| p.kind), Ok(*kind), "{text}");
    }
    // Empty records inside a payload are errors, not skipped.
    assert_eq!(decode_payload("4a\u{1e}\u{1e}2"), Err(DecodeError::Empty));
    assert_eq!(decode_payload(""), Err(DecodeError::Empty));
    // Binary records must be canonical, padded standard base64.
    assert_eq!(
        decode_record("bAQI="),
        Ok(EioPacket::Binary(Bytes::from_static(&[1, 2])))
    );
    assert_eq!(decode_record("bAQI"), Err(DecodeError::Base64));
    assert_eq!(decode_record("bAQ-_"), Err(DecodeError::Base64));
}
