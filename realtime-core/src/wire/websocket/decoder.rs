//! Decoding what a client sends: bytes in, messages out. Pure (no I/O), so that any split
//! of the input into reads can be tested and fuzzed (`fuzz/fuzz_targets/websocket_frames.rs`).
//!
//! Keeps nothing between messages: an incomplete header is held in a buffer of at most 14
//! bytes, a frame still arriving in a buffer of exactly its size, and each message's buffer
//! leaves with the message.

use std::{collections::VecDeque, io};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

use super::frame::{self, CloseFrame, FrameError, Header, OpCode, MAX_HEADER_LEN};

/// A message (or control frame) from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// A ping: answer it with a pong carrying the same payload.
    Ping(Bytes),
    Pong,
    /// The client closes (with a code and reason, if it gave them).
    Close(Option<CloseFrame>),
}

/// Why reading from the connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("websocket protocol error: {0}")]
    Frame(#[from] FrameError),
    #[error("websocket protocol error: {0}")]
    Sequence(&'static str),
    #[error("message of {size} bytes or more, over the limit of {max}")]
    TooBig { size: u64, max: usize },
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
}

impl WsError {
    /// The close frame the server answers this error with, if the connection still works.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            WsError::Io(_) => return None,
            WsError::Frame(_) | WsError::Sequence(_) => {
                (frame::close_code::PROTOCOL, "protocol error")
            }
            WsError::TooBig { .. } => (frame::close_code::SIZE, "Max payload size exceeded"),
            WsError::InvalidUtf8 => (frame::close_code::INVALID, "invalid UTF-8"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// A frame whose payload is still arriving, in a buffer of exactly its size.
struct PartialFrame {
    header: Header,
    payload: Vec<u8>,
}

/// A message sent in fragments, being put together.
struct PartialMessage {
    text: bool,
    data: Vec<u8>,
}

/// The client's side of a connection, decoded.
#[derive(Default)]
pub struct Decoder {
    /// The largest message accepted, in bytes (`max_payload`).
    max_message: usize,
    /// Bytes of an incomplete header. Empty, and unallocated, between frames.
    header: Vec<u8>,
    /// Boxed: rare, and an idle connection should not carry their size.
    frame: Option<Box<PartialFrame>>,
    message: Option<Box<PartialMessage>>,
    /// Decoded and not yet taken (one read may bring several messages).
    ready: VecDeque<Incoming>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("max_message", &self.max_message)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder accepting messages of up to `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            ..Decoder::default()
        }
    }

    /// The next decoded message, if any.
    pub fn next_message(&mut self) -> Option<Incoming> {
        let message = self.ready.pop_front();
        if self.ready.is_empty() && self.ready.capacity() > 8 {
            self.ready = VecDeque::new();
        }
        message
    }

    /// Whether nothing is held between messages (no partial header, frame or message).
    pub fn is_idle(&self) -> bool {
        self.header.capacity() == 0 && self.frame.is_none() && self.message.is_none()
    }

    /// Decodes `input`, the next bytes from the client, into `ready`.
    pub fn decode(&mut self, mut input: &[u8]) -> Result<(), WsError> {
        while !input.is_empty() {
            if let Some(partial) = &mut self.frame {
                let missing = partial.header.len as usize - partial.payload.len();
                let take = missing.min(input.len());
                let at = partial.payload.len();
                partial.payload.extend_from_slice(&input[..take]);
                frame::unmask(&mut partial.payload[at..], partial.header.mask, at);
                input = &input[take..];
                if take == missing {
                    let PartialFrame { header, payload } = *self.frame.take().expect("present");
                    self.finish_frame(header, payload)?;
                }
                continue;
            }
            let parsed = if self.header.is_empty() {
                match frame::parse_header(input)? {
                    Some((header, n)) => {
                        input = &input[n..];
                        Some(header)
                    }
                    None => {
                        self.header.extend_from_slice(input);
                        input = &[];
                        None
                    }
                }
            } else {
                // Top the incomplete header up with no more than a header can take.
                let had = self.header.len();
                let take = (MAX_HEADER_LEN - had).min(input.len());
                self.header.extend_from_slice(&input[..take]);
                match frame::parse_header(&self.header)? {
                    Some((header, n)) => {
                        input = &input[n - had..];
                        self.header = Vec::new();
                        Some(header)
                    }
                    None => {
                        input = &input[take..];
                        None
                    }
                }
            };
            if let Some(header) = parsed {
                self.start_frame(header, &mut input)?;
            }
        }
        Ok(())
    }

    /// A header was read: checks the size, then takes the payload from `input` if it is all
    /// there, or starts waiting for the rest.
    fn start_frame(&mut self, header: Header, input: &mut &[u8]) -> Result<(), WsError> {
        let so_far = match (&self.message, header.opcode) {
            (Some(m), OpCode::Continuation) => m.data.len() as u64,
            _ => 0,
        };
        if !header.opcode.is_control() && so_far + header.len > self.max_message as u64 {
            return Err(WsError::TooBig {
                size: so_far + header.len,
                max: self.max_message,
            });
        }
        let len = header.len as usize;
        if input.len() >= len {
            let mut payload = input[..len].to_vec();
            frame::unmask(&mut payload, header.mask, 0);
            *input = &input[len..];
            return self.finish_frame(header, payload);
        }
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(input);
        frame::unmask(&mut payload, header.mask, 0);
        *input = &[];
        self.frame = Some(Box::new(PartialFrame { header, payload }));
        Ok(())
    }

    /// A whole frame arrived.
    fn finish_frame(&mut self, header: Header, payload: Vec<u8>) -> Result<(), WsError> {
        match header.opcode {
            OpCode::Ping => self.ready.push_back(Incoming::Ping(payload.into())),
            OpCode::Pong => self.ready.push_back(Incoming::Pong),
            OpCode::Close => {
                let close = frame::parse_close(&payload)?;
                self.ready.push_back(Incoming::Close(close));
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(WsError::Sequence(
                        "a new message began before the fragmented one ended",
                    ));
                }
                let text = header.opcode == OpCode::Text;
                if header.fin {
                    self.deliver(text, payload)?;
                } else {
                    self.message = Some(Box::new(PartialMessage {
                        text,
                        data: payload,
                    }));
                }
            }
            OpCode::Continuation => {
                let Some(message) = &mut self.message else {
                    return Err(WsError::Sequence("a continuation frame with no message"));
                };
                message.data.extend_from_slice(&payload);
                if header.fin {
                    let PartialMessage { text, data } = *self.message.take().expect("present");
                    self.deliver(text, data)?;
                }
            }
        }
        Ok(())
    }

    fn deliver(&mut self, text: bool, data: Vec<u8>) -> Result<(), WsError> {
        let message = if text {
            let text = String::from_utf8(data).map_err(|_| WsError::InvalidUtf8)?;
            Incoming::Text(text.into())
        } else {
            Incoming::Binary(data.into())
        };
        self.ready.push_back(message);
        Ok(())
    }
}
