//! Engine.IO decoding: arbitrary bytes, as a long-polling body (`decode_payload`), one polling
//! record (`decode_record`) and a WebSocket text frame (`decode_text`).
//!
//! Checks, besides "never panics":
//! - a decoded payload has exactly one packet per `\x1e`-separated record, and agrees with
//!   decoding each record on its own;
//! - what was decoded, re-encoded the way the server encodes (`Frame` + `encode_record`),
//!   decodes back to the same packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::wire::engineio::{
    decode_payload, decode_record, decode_text, encode_record, DecodeError, Frame, Packet,
    PacketType, RECORD_SEPARATOR,
};

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        // Bodies are refused before decoding when they are not UTF-8; the lossy text still
        // makes a good input (and exercises U+FFFD, a multi-byte char).
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});

fn check(text: &str) {
    // One WebSocket text frame.
    match decode_text(text) {
        Ok(_) => assert!(matches!(text.as_bytes()[0], b'0'..=b'6'), "{text:?}"),
        Err(DecodeError::Empty) => assert!(text.is_empty()),
        Err(DecodeError::UnknownType(c)) => assert_eq!(text.chars().next(), Some(c)),
        Err(e) => panic!("decode_text({text:?}) cannot fail with {e:?}"),
    }
    let _ = decode_record(text);

    // A polling body.
    let records: Vec<&str> = text.split(RECORD_SEPARATOR).collect();
    let Ok(packets) = decode_payload(text) else {
        assert!(
            records.iter().any(|r| decode_record(r).is_err()),
            "{text:?} refused, every record decodes"
        );
        return;
    };
    assert_eq!(packets.len(), records.len(), "{text:?}");
    for (packet, record) in packets.iter().zip(&records) {
        assert_eq!(Ok(packet.clone()), decode_record(record), "{record:?}");
    }

    // Re-encode as the server would and decode again.
    let mut body = String::new();
    for packet in &packets {
        encode_record(&mut body, &frame_of(packet));
    }
    let again =
        decode_payload(&body).unwrap_or_else(|e| panic!("re-encoded {body:?} refused: {e}"));
    assert_eq!(again, packets, "{text:?} -> {body:?}");
}

fn frame_of(packet: &Packet<'_>) -> Frame {
    match packet {
        Packet::Open => Frame::bare(PacketType::Open),
        Packet::Close => Frame::bare(PacketType::Close),
        Packet::Ping(data) => Frame::text(PacketType::Ping, data),
        Packet::Pong(data) => Frame::text(PacketType::Pong, data),
        Packet::Message(data) => Frame::text(PacketType::Message, data),
        Packet::Binary(bytes) => Frame::Binary(bytes.clone()),
        Packet::Upgrade => Frame::bare(PacketType::Upgrade),
        Packet::Noop => Frame::bare(PacketType::Noop),
    }
}
