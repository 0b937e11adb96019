//! Engine.IO v3 decoding (socket.io-client 2.x, `Config::allow_eio3`): arbitrary bytes as a
//! text payload (`decode_payload`), as a binary payload (`decode_binary_payload`), as one text
//! packet (`decode_packet`) and as a WebSocket binary frame (`decode_binary`).
//!
//! Checks, besides "never panics":
//! - what was decoded, re-encoded the way the server encodes (`encode_payload`, and
//!   `encode_binary_payload`), decodes back to the same packets;
//! - a binary frame decodes to its bytes after the type byte, or is refused.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use realtime_core::wire::{
    eio3::{
        binary_frame, decode_binary, decode_binary_payload, decode_packet, decode_payload,
        encode_binary_payload, encode_payload,
    },
    engineio::{Frame, Packet, PacketType},
};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(packets) = decode_binary_payload(&bytes) {
        round_trip(&packets, data);
    }
    match decode_binary(bytes.clone()) {
        Ok(Packet::Binary(b)) => {
            assert_eq!(&b[..], &data[1..]);
            assert_eq!(&binary_frame(&b)[..], data);
        }
        Ok(other) => panic!("a binary frame decoded to {other:?}"),
        Err(_) => assert!(data.first() != Some(&4)),
    }
    let text = String::from_utf8_lossy(data);
    let _ = decode_packet(&text);
    if let Ok(packets) = decode_payload(&text) {
        round_trip(&packets, data);
    }
});

fn round_trip(packets: &[Packet<'_>], input: &[u8]) {
    let frames: Vec<Frame> = packets.iter().map(frame_of).collect();
    let text = encode_payload(&frames);
    let again = decode_payload(&text).unwrap_or_else(|e| panic!("{input:?}: re-encoded {text:?} refused: {e}"));
    assert_eq!(again, packets, "{input:?} -> {text:?}");
    let binary = encode_binary_payload(&frames);
    let again = decode_binary_payload(&binary)
        .unwrap_or_else(|e| panic!("{input:?}: re-encoded {binary:?} refused: {e}"));
    assert_eq!(again, packets, "{input:?} -> {binary:?}");
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
