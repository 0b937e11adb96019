//! Engine.IO v3, the protocol of socket.io-client 2.x (and of Node's `allowEIO3`): its packet
//! and long-polling payload formats. Only servers with `Config::allow_eio3` speak it; a
//! session's protocol is decided once, at its handshake, so v4 sessions never pass here.
//!
//! What differs from v4 ([`super::engineio`]), as the reference server's `parser-v3` has it:
//!
//! - **Text payloads** (polling): each packet is `<length>:<packet>`, the length counted in
//!   UTF-16 code units (JavaScript string length), e.g. `6:4hello2:40`. Binary packets travel
//!   as `b4<base64>`, the `4` being the message type (v4 writes `b<base64>`).
//! - **Binary payloads** (polling, "XHR2", when the client did not ask for `b64=1` and a
//!   packet is binary; `Content-Type: application/octet-stream` both ways): each packet is
//!   `<0 = text | 1 = binary> <length as one byte per decimal digit> 255 <bytes>`; text is
//!   UTF-8 and its length in bytes; binary starts with its type byte (`4`).
//! - **WebSocket binary frames** start with the type byte `4` (v4 frames are the bare data).
//!
//! Everything here is pure and fuzzed (`fuzz/fuzz_targets/engine_payload_v3.rs`).

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use super::engineio::{decode_text, DecodeError, Frame, Packet, PacketType};

/// Most decimal digits a length prefix may have: 10 digits already exceed any body the
/// server accepts (`max_payload`), and a bound keeps a hostile prefix from being read for ever.
const MAX_LENGTH_DIGITS: usize = 10;

/// Decodes one v3 text packet: `b<type><base64>` for binary, otherwise as in v4.
pub fn decode_packet(text: &str) -> Result<Packet<'_>, DecodeError> {
    match text.strip_prefix('b') {
        Some(rest) => {
            let b64 = rest.strip_prefix('4').ok_or(DecodeError::BinaryType)?;
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(|bytes| Packet::Binary(Bytes::from(bytes)))
                .map_err(|_| DecodeError::Base64)
        }
        None => decode_text(text),
    }
}

/// Decodes a v3 binary packet (a WebSocket binary frame, or a binary record of a binary
/// payload): the type byte `4`, then the data.
pub fn decode_binary(bytes: Bytes) -> Result<Packet<'static>, DecodeError> {
    match bytes.first() {
        Some(&4) => Ok(Packet::Binary(bytes.slice(1..))),
        Some(_) => Err(DecodeError::BinaryType),
        None => Err(DecodeError::Empty),
    }
}

/// Splits `text` after its first `units` UTF-16 code units; `None` if it is shorter, or if
/// the split would fall inside a surrogate pair.
fn split_utf16(text: &str, units: usize) -> Option<(&str, &str)> {
    if text.len() >= units && text.is_char_boundary(units) && text[..units].is_ascii() {
        return Some(text.split_at(units)); // the common case: ASCII
    }
    let mut counted = 0;
    for (i, c) in text.char_indices() {
        if counted == units {
            return Some(text.split_at(i));
        }
        counted += c.len_utf16();
        if counted > units {
            return None;
        }
    }
    (counted == units).then_some((text, ""))
}

/// Decodes a v3 text payload (the body of a polling POST that is not
/// `application/octet-stream`): `<length>:<packet>` records, lengths in UTF-16 code units.
/// An empty record (`0:`) carries nothing. The whole body is refused if any part is
/// malformed, as the reference server does.
pub fn decode_payload(body: &str) -> Result<Vec<Packet<'_>>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut packets = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let colon = rest
            .bytes()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|b| b == b':')
            .ok_or(DecodeError::BadLength)?;
        let digits = &rest[..colon];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::BadLength);
        }
        let units: usize = digits.parse().map_err(|_| DecodeError::BadLength)?;
        let (packet, tail) =
            split_utf16(&rest[colon + 1..], units).ok_or(DecodeError::Truncated)?;
        if !packet.is_empty() {
            packets.push(decode_packet(packet)?);
        }
        rest = tail;
    }
    Ok(packets)
}

/// Decodes a v3 binary payload (the body of a polling POST sent as
/// `application/octet-stream`). Binary records share `body`'s bytes.
pub fn decode_binary_payload(body: &Bytes) -> Result<Vec<Packet<'_>>, DecodeError> {
    let mut packets = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let is_text = match body[i] {
            0 => true,
            1 => false,
            _ => return Err(DecodeError::BadLength),
        };
        i += 1;
        let mut len: usize = 0;
        let mut digits = 0;
        loop {
            let b = *body.get(i).ok_or(DecodeError::Truncated)?;
            i += 1;
            if b == 255 {
                break;
            }
            if b > 9 || digits == MAX_LENGTH_DIGITS {
                return Err(DecodeError::BadLength);
            }
            len = len * 10 + usize::from(b);
            digits += 1;
        }
        if digits == 0 {
            return Err(DecodeError::BadLength);
        }
        let end = i
            .checked_add(len)
            .filter(|&end| end <= body.len())
            .ok_or(DecodeError::Truncated)?;
        let packet = if is_text {
            let text = std::str::from_utf8(&body[i..end]).map_err(|_| DecodeError::Utf8)?;
            decode_packet(text)?
        } else {
            decode_binary(body.slice(i..end))?
        };
        packets.push(packet);
        i = end;
    }
    Ok(packets)
}

/// Whether a poll's frames go out as a binary payload: some frame is binary and the client
/// takes binary (it did not ask for `b64=1`).
pub fn wants_binary_payload(frames: &[Frame], base64_only: bool) -> bool {
    !base64_only && frames.iter().any(|f| matches!(f, Frame::Binary(_)))
}

/// Encodes frames as a v3 text payload; binary frames as `b4<base64>`.
pub fn encode_payload(frames: &[Frame]) -> String {
    use std::fmt::Write;
    if frames.is_empty() {
        return "0:".to_owned();
    }
    let mut out = String::with_capacity(frames.iter().map(|f| f.len() * 4 / 3 + 8).sum());
    for frame in frames {
        match frame {
            Frame::Text(t) => {
                let t = t.as_str();
                let units = if t.is_ascii() {
                    t.len()
                } else {
                    t.encode_utf16().count()
                };
                let _ = write!(out, "{units}:{t}");
            }
            Frame::Binary(b) => {
                let record = encode_base64_packet(b);
                let _ = write!(out, "{}:{record}", record.len());
            }
        }
    }
    out
}

/// Encodes frames as a v3 binary payload (for a client that takes binary).
pub fn encode_binary_payload(frames: &[Frame]) -> Bytes {
    let mut out = BytesMut::with_capacity(frames.iter().map(|f| f.len() + 16).sum());
    for frame in frames {
        let (is_text, data, len) = match frame {
            Frame::Text(t) => (true, t.as_str().as_bytes(), t.as_str().len()),
            Frame::Binary(b) => (false, &b[..], b.len() + 1),
        };
        out.put_u8(u8::from(!is_text));
        out.extend(len.to_string().bytes().map(|d| d - b'0'));
        out.put_u8(255);
        if !is_text {
            out.put_u8(PacketType::Message as u8 - b'0');
        }
        out.extend_from_slice(data);
    }
    out.freeze()
}

/// A binary message as v3 text, `b4<base64>` (a WebSocket text frame for a `b64=1` client).
pub fn encode_base64_packet(data: &[u8]) -> String {
    let mut out = String::with_capacity(2 + base64::encoded_len(data.len(), true).unwrap_or(0));
    out.push_str("b4");
    base64::engine::general_purpose::STANDARD.encode_string(data, &mut out);
    out
}

/// A binary message as a v3 WebSocket frame: the type byte `4`, then the data.
pub fn binary_frame(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 1);
    out.put_u8(PacketType::Message as u8 - b'0');
    out.extend_from_slice(data);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payloads_count_utf16_units() {
        let frames = [
            Frame::text(PacketType::Message, "0"),
            Frame::text(PacketType::Message, "2[\"é😀\"]"),
            Frame::Binary(Bytes::from_static(&[1, 2, 3])),
        ];
        let body = encode_payload(&frames);
        // "4" + `2["é😀"]`: é is one unit, 😀 two.
        assert_eq!(body, "2:409:42[\"é😀\"]6:b4AQID");
        assert_eq!(
            decode_payload(&body).unwrap(),
            vec![
                Packet::Message("0"),
                Packet::Message("2[\"é😀\"]"),
                Packet::Binary(Bytes::from_static(&[1, 2, 3])),
            ]
        );
        assert_eq!(decode_payload("0:").unwrap(), vec![]);
        assert_eq!(decode_payload("1:2").unwrap(), vec![Packet::Ping("")]);
    }

    #[test]
    fn malformed_text_payloads_are_refused() {
        assert_eq!(decode_payload(""), Err(DecodeError::Empty));
        assert_eq!(decode_payload("2"), Err(DecodeError::BadLength));
        assert_eq!(decode_payload(":2"), Err(DecodeError::BadLength));
        assert_eq!(decode_payload("x:2"), Err(DecodeError::BadLength));
        assert_eq!(decode_payload("5:2"), Err(DecodeError::Truncated));
        assert_eq!(decode_payload("99999999999:2"), Err(DecodeError::BadLength));
        // One unit of a surrogate pair.
        assert_eq!(decode_payload("2:4😀"), Err(DecodeError::Truncated));
        assert_eq!(decode_payload("1:x"), Err(DecodeError::UnknownType('x')));
        assert_eq!(decode_payload("3:b3A"), Err(DecodeError::BinaryType));
        assert_eq!(decode_payload("4:b4!!"), Err(DecodeError::Base64));
        assert_eq!(decode_payload("1:21"), Err(DecodeError::BadLength));
    }

    #[test]
    fn binary_payloads_round_trip() {
        let frames = [
            Frame::text(
                PacketType::Message,
                "51-[\"b\",{\"_placeholder\":true,\"num\":0}]é",
            ),
            Frame::Binary(Bytes::from(vec![7u8; 12])),
        ];
        let body = encode_binary_payload(&frames);
        let text_len = frames[0].len();
        assert_eq!(body[0], 0);
        assert_eq!(&body[1..3], &[(text_len / 10) as u8, (text_len % 10) as u8]);
        assert_eq!(body[3], 255);
        let packets = decode_binary_payload(&body).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message("51-[\"b\",{\"_placeholder\":true,\"num\":0}]é"),
                Packet::Binary(Bytes::from(vec![7u8; 12])),
            ]
        );
        // The binary record: 1, "13" as digits, 255, type 4, the data.
        let tail = &body[4 + text_len..];
        assert_eq!(&tail[..5], &[1, 1, 3, 255, 4]);
    }

    #[test]
    fn malformed_binary_payloads_are_refused() {
        let bad = |b: &[u8]| decode_binary_payload(&Bytes::copy_from_slice(b)).map(|p| p.len());
        assert_eq!(bad(&[]), Ok(0));
        assert_eq!(bad(&[2, 1, 255, b'6']), Err(DecodeError::BadLength));
        assert_eq!(bad(&[0, 1]), Err(DecodeError::Truncated));
        assert_eq!(bad(&[0, 255, b'6']), Err(DecodeError::BadLength));
        assert_eq!(bad(&[0, 10, 255, b'6']), Err(DecodeError::BadLength));
        assert_eq!(bad(&[0, 2, 255, b'6']), Err(DecodeError::Truncated));
        assert_eq!(bad(&[0, 1, 255, 0xff]), Err(DecodeError::Utf8));
        assert_eq!(bad(&[1, 2, 255, 3, 9]), Err(DecodeError::BinaryType));
        assert_eq!(bad(&[1; 20]), Err(DecodeError::BadLength));
        let empty = Bytes::from_static(&[1, 1, 255, 4]);
        assert_eq!(
            decode_binary_payload(&empty),
            Ok(vec![Packet::Binary(Bytes::new())])
        );
    }

    #[test]
    fn websocket_binary_frames_carry_the_type_byte() {
        let frame = binary_frame(&[1, 2]);
        assert_eq!(&frame[..], &[4, 1, 2]);
        assert_eq!(
            decode_binary(frame),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2])))
        );
        assert_eq!(decode_binary(Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            decode_binary(Bytes::from_static(&[2])),
            Err(DecodeError::BinaryType)
        );
        assert_eq!(
            decode_packet("b4AQI="),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2])))
        );
    }
}
