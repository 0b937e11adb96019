//! Engine.IO v4 packets: decoding what clients send, encoding what the server sends.
//!
//! Outbound packets are encoded once into a [`Frame`] whose bytes are reference counted, so a
//! broadcast shares one allocation between every recipient. Inbound packets borrow from the
//! request body or WebSocket frame they came in; nothing is copied until a handler needs it.

use axum::extract::ws::Utf8Bytes;
use base64::Engine as _;
use bytes::Bytes;

/// The record separator that joins packets in a long-polling payload.
pub const RECORD_SEPARATOR: char = '\x1e';

/// Engine.IO packet types, as the digit that starts a text packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    Open = b'0',
    Close = b'1',
    Ping = b'2',
    Pong = b'3',
    Message = b'4',
    Upgrade = b'5',
    Noop = b'6',
}

/// One decoded inbound packet, borrowing its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Open,
    Close,
    /// A ping; the payload is `probe` during an upgrade.
    Ping(&'a str),
    /// A pong; the payload is `probe` while answering an upgrade probe.
    Pong(&'a str),
    /// A text message: the payload is handed to the Socket.IO layer untouched.
    Message(&'a str),
    /// A binary message (a WebSocket binary frame or a `b<base64>` polling record).
    Binary(Bytes),
    Upgrade,
    Noop,
}

/// Why an inbound packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("invalid base64 in binary packet")]
    Base64,
    /// Engine.IO v3: a binary packet of another type than message.
    #[error("binary packet that is not a message")]
    BinaryType,
    /// Engine.IO v3: a payload's length prefix is missing or malformed.
    #[error("malformed length prefix in payload")]
    BadLength,
    /// Engine.IO v3: a payload's length prefix runs past the end of the payload.
    #[error("payload shorter than its length prefix says")]
    Truncated,
    /// Engine.IO v3: a text record of a binary payload is not UTF-8.
    #[error("text record of a binary payload is not UTF-8")]
    Utf8,
}

/// Decodes one text packet (a WebSocket text frame, or one polling record that is not binary).
pub fn decode_text(text: &str) -> Result<Packet<'_>, DecodeError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(DecodeError::Empty)?;
    let data = &text[kind.len_utf8()..];
    Ok(match kind {
        '0' => Packet::Open,
        '1' => Packet::Close,
        '2' => Packet::Ping(data),
        '3' => Packet::Pong(data),
        '4' => Packet::Message(data),
        '5' => Packet::Upgrade,
        '6' => Packet::Noop,
        other => return Err(DecodeError::UnknownType(other)),
    })
}

/// Decodes one polling record: `b<base64>` for binary, otherwise a text packet.
pub fn decode_record(record: &str) -> Result<Packet<'_>, DecodeError> {
    match record.strip_prefix('b') {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|bytes| Packet::Binary(Bytes::from(bytes)))
            .map_err(|_| DecodeError::Base64),
        None => decode_text(record),
    }
}

/// Splits a long-polling request body into its records and decodes each.
///
/// The whole body is refused if any record is undecodable: the reference server closes the
/// session on a bad payload, so partial delivery would only hide the error.
pub fn decode_payload(body: &str) -> Result<Vec<Packet<'_>>, DecodeError> {
    body.split(RECORD_SEPARATOR).map(decode_record).collect()
}

/// An encoded outbound packet, ready for either transport. Cloning is a reference count bump.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A text packet including its type digit, e.g. `4` + a Socket.IO packet, or `2` (ping).
    Text(Utf8Bytes),
    /// The raw payload of a binary message packet (no type byte on either transport).
    Binary(Bytes),
}

impl Frame {
    /// A packet with no payload (`2`, `3`, `6`, `1` ...).
    pub fn bare(kind: PacketType) -> Frame {
        Frame::Text(Utf8Bytes::from_static(match kind {
            PacketType::Open => "0",
            PacketType::Close => "1",
            PacketType::Ping => "2",
            PacketType::Pong => "3",
            PacketType::Message => "4",
            PacketType::Upgrade => "5",
            PacketType::Noop => "6",
        }))
    }

    /// A text packet of type `kind` with `data` after the type digit.
    pub fn text(kind: PacketType, data: &str) -> Frame {
        let mut s = String::with_capacity(data.len() + 1);
        s.push(kind as u8 as char);
        s.push_str(data);
        Frame::Text(s.into())
    }

    /// A message packet whose text already starts with the `4` type digit.
    pub fn message_prefixed(text: String) -> Frame {
        debug_assert!(text.starts_with('4'));
        Frame::Text(text.into())
    }

    /// Bytes this frame occupies on the wire, used to bound polling responses.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.as_str().len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// Whether the frame carries no bytes (never true for a well-formed packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends `frame` to a long-polling response body, with a separator if needed.
pub fn encode_record(out: &mut String, frame: &Frame) {
    if !out.is_empty() {
        out.push(RECORD_SEPARATOR);
    }
    match frame {
        Frame::Text(t) => out.push_str(t.as_str()),
        Frame::Binary(b) => {
            out.push('b');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type() {
        assert_eq!(decode_text("2probe"), Ok(Packet::Ping("probe")));
        assert_eq!(decode_text("3"), Ok(Packet::Pong("")));
        assert_eq!(decode_text("4hello"), Ok(Packet::Message("hello")));
        assert_eq!(decode_text("5"), Ok(Packet::Upgrade));
        assert_eq!(decode_text("6"), Ok(Packet::Noop));
        assert_eq!(decode_text("1"), Ok(Packet::Close));
        assert_eq!(decode_text(""), Err(DecodeError::Empty));
        assert_eq!(decode_text("a"), Err(DecodeError::UnknownType('a')));
        assert_eq!(decode_text("é"), Err(DecodeError::UnknownType('é')));
    }

    #[test]
    fn payload_round_trip() {
        let mut body = String::new();
        encode_record(&mut body, &Frame::text(PacketType::Message, "hello"));
        encode_record(&mut body, &Frame::Binary(Bytes::from_static(&[1, 2, 3])));
        encode_record(&mut body, &Frame::bare(PacketType::Ping));
        assert_eq!(body, "4hello\x1ebAQID\x1e2");
        let packets = decode_payload(&body).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message("hello"),
                Packet::Binary(Bytes::from_static(&[1, 2, 3])),
                Packet::Ping("")
            ]
        );
        assert_eq!(
            decode_payload("4a\x1ebnot base64!"),
            Err(DecodeError::Base64)
        );
        assert_eq!(decode_payload("abc"), Err(DecodeError::UnknownType('a')));
    }
}
