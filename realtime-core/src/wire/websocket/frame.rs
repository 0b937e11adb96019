//! The WebSocket frame format (RFC 6455 §5) as a server sees it: the headers of client
//! frames (always masked), unmasking their payloads, close frame payloads, and the headers
//! of server frames (never masked). Pure functions over bytes, fuzzed by
//! `fuzz/fuzz_targets/websocket_frames.rs`.

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented, allowed between the
    /// fragments of a message.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A client frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    pub opcode: OpCode,
    /// The key its payload is masked with.
    pub mask: [u8; 4],
    /// Payload length in bytes.
    pub len: u64,
}

/// The longest header: 2 bytes, a 64-bit length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Why a client frame is not acceptable. Each closes the connection with 1002.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("reserved bits set (no extension was negotiated)")]
    ReservedBits,
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    #[error("client frame is not masked")]
    Unmasked,
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    #[error("fragmented control frame")]
    FragmentedControl,
    #[error("payload length with the most significant bit set")]
    LengthOverflow,
    #[error("close frame with a one-byte payload")]
    CloseTooShort,
    #[error("close frame with code {0}, which a client may not send")]
    CloseCode(u16),
    #[error("close frame reason is not valid UTF-8")]
    CloseReasonUtf8,
}

/// Parses the header at the start of `buf`: the header and its length in bytes, or `None`
/// if more bytes are needed. What the first two bytes alone tell (reserved bits, opcode,
/// masking) is checked as soon as they are there.
pub fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(FrameError::UnknownOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
        if usize::from(b1 & 0x7F) > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::ControlTooLong);
        }
    }
    let (len, at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(FrameError::LengthOverflow);
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let Some(mask) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = mask.try_into().expect("4 bytes");
    Ok(Some((
        Header {
            fin,
            opcode,
            mask,
            len,
        },
        at + 4,
    )))
}

/// Unmasks `data`, which starts `offset` bytes into its frame's payload (a payload may be
/// unmasked in pieces as it arrives). Eight bytes at a time.
pub fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = mask;
    m.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// Encodes the header of a complete, unmasked server frame whose payload is `len` bytes
/// long into `out`; returns how many bytes of `out` it used (2, 4 or 10).
pub fn encode_header(opcode: OpCode, len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A close frame's content: a status code and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Close codes (RFC 6455 §7.4.1) the server sends.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutting down).
    pub const AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Data inconsistent with the message type (a text message that is not UTF-8).
    pub const INVALID: u16 = 1007;
    /// A policy violation (a refused connection, a failed handshake).
    pub const POLICY: u16 = 1008;
    /// A message too big to process.
    pub const SIZE: u16 = 1009;
}

/// Parses a client's close frame payload: nothing, or a code and a UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // Codes a peer may send (§7.4.1-2): the defined ones it may use, the registered
            // and private ranges. 1005, 1006 and 1015 are never sent on the wire.
            let allowed = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !allowed {
                return Err(FrameError::CloseCode(code));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| FrameError::CloseReasonUtf8)?
                .to_owned();
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

/// The payload of a close frame the server sends. The reason is cut (at a character
/// boundary) to fit the 125 bytes of a control frame.
pub fn close_payload(frame: &CloseFrame) -> Vec<u8> {
    let mut end = frame.reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !frame.reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Vec::with_capacity(2 + end);
    out.extend_from_slice(&frame.code.to_be_bytes());
    out.extend_from_slice(&frame.reason.as_bytes()[..end]);
    out
}

/// A masked client frame with a complete payload, as a browser would send it (for tests).
#[cfg(test)]
pub(crate) fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_length_form_and_unmasks() {
        for len in [0usize, 5, 125, 126, 1000, 65535, 65536, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mask = [0x37, 0xfa, 0x21, 0x3d];
            let frame = client_frame(0x82, &payload, mask);
            for cut in [0, 1, 2, 3, frame.len().min(9)] {
                if cut < frame.len() - payload.len() {
                    assert_eq!(parse_header(&frame[..cut]), Ok(None), "len {len} cut {cut}");
                }
            }
            let (h, n) = parse_header(&frame).unwrap().unwrap();
            assert_eq!((h.fin, h.opcode, h.len), (true, OpCode::Binary, len as u64));
            let mut body = frame[n..].to_vec();
            // In two pieces, at an odd offset.
            let split = body.len() / 3;
            let (a, b) = body.split_at_mut(split);
            unmask(a, h.mask, 0);
            unmask(b, h.mask, split);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn refuses_what_a_client_may_not_send() {
        let m = [1, 2, 3, 4];
        assert_eq!(parse_header(&[0xC1, 0x80]), Err(FrameError::ReservedBits));
        assert_eq!(
            parse_header(&[0x83, 0x80]),
            Err(FrameError::UnknownOpcode(3))
        );
        assert_eq!(parse_header(&[0x81, 0x05]), Err(FrameError::Unmasked));
        assert_eq!(
            parse_header(&[0x09, 0x80]),
            Err(FrameError::FragmentedControl)
        );
        assert_eq!(parse_header(&[0x89, 0xFE]), Err(FrameError::ControlTooLong));
        let mut huge = vec![0x82, 0xFF];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&m);
        assert_eq!(parse_header(&huge), Err(FrameError::LengthOverflow));
    }

    #[test]
    fn server_headers_use_the_shortest_length_form() {
        let mut out = [0u8; 10];
        assert_eq!(encode_header(OpCode::Text, 5, &mut out), 2);
        assert_eq!(out[..2], [0x81, 5]);
        assert_eq!(encode_header(OpCode::Binary, 300, &mut out), 4);
        assert_eq!(out[..4], [0x82, 126, 1, 44]);
        assert_eq!(encode_header(OpCode::Text, 70_000, &mut out), 10);
        assert_eq!(out[..2], [0x81, 127]);
        assert_eq!(u64::from_be_bytes(out[2..10].try_into().unwrap()), 70_000);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(parse_close(&[3]), Err(FrameError::CloseTooShort));
        assert_eq!(parse_close(&[0x03, 0xED]), Err(FrameError::CloseCode(1005)));
        assert_eq!(
            parse_close(&[0x03, 0xE8, b'b', b'y', b'e']),
            Ok(Some(CloseFrame {
                code: 1000,
                reason: "bye".into()
            }))
        );
        assert_eq!(
            parse_close(&[0x03, 0xE8, 0xFF]),
            Err(FrameError::CloseReasonUtf8)
        );
        let long = CloseFrame {
            code: 1008,
            reason: "é".repeat(100),
        };
        let p = close_payload(&long);
        assert!(p.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&p[2..]).is_ok());
    }
}
