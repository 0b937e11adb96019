//! One WebSocket connection: messages in, batches of frames out.
//!
//! Written for tens of thousands of long-lived, mostly idle connections:
//! - **No buffer while idle.** Each read borrows a 16 KiB buffer on the stack of the poll
//!   that reads; only what does not make a complete frame yet is kept (an incomplete
//!   header, or the payload of a frame still arriving, in a buffer of exactly its size).
//! - **No buffer kept after a large message.** A message's buffer goes with the message;
//!   when it has been handled, it is freed. Nothing grows to the largest frame ever seen.
//! - **One write per batch.** A batch of outbound frames (everything queued for the
//!   connection) goes out in one vectored write: headers and small payloads are copied into
//!   one buffer for the batch, large payloads (a broadcast's shared bytes) are written from
//!   where they are, without a copy. The batch buffer is freed once written.

use std::{
    future::poll_fn,
    io::{self, IoSlice},
    mem::MaybeUninit,
    pin::Pin,
    task::Poll,
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::wire::{
    engineio::Frame,
    websocket::{
        decoder::{Decoder, Incoming, WsError},
        frame::{self, CloseFrame, OpCode},
    },
};

/// Bytes read per poll, into a buffer on that poll's stack.
const READ_CHUNK: usize = 16 * 1024;

/// Payloads up to this size are copied into the batch buffer; larger ones are written from
/// their own (shared) bytes.
const COPY_PAYLOADS_UP_TO: usize = 2048;

/// Frames per vectored write (each takes up to two slices; the kernel takes 1024 at most).
const FRAMES_PER_WRITE: usize = 256;

/// A server-side WebSocket connection over `S` (the upgraded HTTP connection).
pub(crate) struct WsConn<S> {
    io: S,
    decoder: Decoder,
    /// A decoding error, returned once what was decoded before it has been.
    failed: Option<WsError>,
    /// The client closed its half (EOF).
    eof: bool,
    /// The client sent its close frame: it sends nothing after it (RFC 6455 5.5.1).
    peer_closed: bool,
}

impl<S> std::fmt::Debug for WsConn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsConn<S> {
    /// A connection over `io`, accepting messages of up to `max_message` bytes.
    pub(crate) fn new(io: S, max_message: usize) -> WsConn<S> {
        WsConn {
            io,
            decoder: Decoder::new(max_message),
            failed: None,
            eof: false,
            peer_closed: false,
        }
    }

    /// The next message or control frame; `None` once the client's side has ended.
    ///
    /// Cancel safe: bytes are decoded in the same poll that reads them, so dropping the
    /// future between polls loses nothing.
    pub(crate) async fn recv(&mut self) -> Option<Result<Incoming, WsError>> {
        loop {
            if let Some(message) = self.decoder.next_message() {
                if matches!(message, Incoming::Close(_)) {
                    self.peer_closed = true;
                }
                return Some(Ok(message));
            }
            if let Some(err) = self.failed.take() {
                self.eof = true;
                return Some(Err(err));
            }
            if self.eof {
                return None;
            }
            if let Err(err) = poll_fn(|cx| self.poll_read_and_decode(cx)).await {
                self.eof = true;
                return Some(Err(err.into()));
            }
        }
    }

    /// Reads once into a stack buffer and decodes what came.
    fn poll_read_and_decode(&mut self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Ready(Ok(())) => {
                let filled = buf.filled();
                if filled.is_empty() {
                    self.eof = true;
                } else if let Err(err) = self.decoder.decode(filled) {
                    self.failed = Some(err);
                }
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Writes a batch of frames (text and binary messages) and empties it: one vectored
    /// write per [`FRAMES_PER_WRITE`] frames. Releases the batch's memory if it was large.
    pub(crate) async fn write_batch(&mut self, batch: &mut Vec<Frame>) -> io::Result<()> {
        for frames in batch.chunks(FRAMES_PER_WRITE) {
            let messages = frames.iter().map(|f| match f {
                Frame::Text(t) => (OpCode::Text, t.as_str().as_bytes()),
                Frame::Binary(b) => (OpCode::Binary, &b[..]),
            });
            write_frames(&mut self.io, messages).await?;
        }
        batch.clear();
        if batch.capacity() > 64 {
            *batch = Vec::new();
        }
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Writes one message of text.
    pub(crate) async fn send_text(&mut self, text: &str) -> io::Result<()> {
        write_frames(&mut self.io, [(OpCode::Text, text.as_bytes())]).await?;
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Writes a ping (the plain endpoint's heartbeat).
    pub(crate) async fn send_ping(&mut self) -> io::Result<()> {
        write_frames(&mut self.io, [(OpCode::Ping, &[][..])]).await?;
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Answers a ping.
    pub(crate) async fn send_pong(&mut self, payload: &[u8]) -> io::Result<()> {
        write_frames(&mut self.io, [(OpCode::Pong, payload)]).await?;
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Writes a close frame, with a code and reason or without.
    pub(crate) async fn send_close(&mut self, close: Option<&CloseFrame>) -> io::Result<()> {
        let payload = close.map(frame::close_payload).unwrap_or_default();
        write_frames(&mut self.io, [(OpCode::Close, &payload[..])]).await?;
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Ends the connection without losing what was queued for it: writes the last frames,
    /// sends the close frame, then reads (and drops) whatever the client still sends until
    /// it answers the close. Closing the TCP connection with unread input would make the
    /// kernel reset it and discard the frames just written (a flooding client cut off would
    /// never learn why). When the client closed first, its close frame was its last: the
    /// server then closes the TCP connection at once, as RFC 6455 (7.1.1) asks, instead of
    /// waiting for a client that waits for it. Bounded by [`CLOSE_FLUSH_TIMEOUT`] for each
    /// half.
    pub(crate) async fn close_gracefully(
        &mut self,
        batch: &mut Vec<Frame>,
        close: Option<CloseFrame>,
    ) {
        let sent = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
            self.write_batch(batch).await?;
            self.send_close(close.as_ref()).await
        })
        .await;
        if matches!(sent, Ok(Ok(()))) && !self.peer_closed {
            let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
                while let Some(Ok(message)) = self.recv().await {
                    if matches!(message, Incoming::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = tokio::time::timeout(
            CLOSE_FLUSH_TIMEOUT,
            poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)),
        )
        .await;
    }
}

/// How long a closing connection gets to flush its last packets (a DISCONNECT, say), and
/// then for the client to answer the close.
pub(crate) const CLOSE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes complete frames of `(opcode, payload)`: all in one buffer and one write when
/// their payloads are small (the common case: one allocation per batch), or with one
/// vectored write that takes large payloads (a broadcast's shared bytes) where they are.
async fn write_frames<'a, S: AsyncWrite + Unpin>(
    io: &mut S,
    frames: impl IntoIterator<Item = (OpCode, &'a [u8])> + Clone,
) -> io::Result<()> {
    let mut size = 0;
    let mut all_small = true;
    for (_, payload) in frames.clone() {
        all_small &= payload.len() <= COPY_PAYLOADS_UP_TO;
        size += 10
            + if payload.len() <= COPY_PAYLOADS_UP_TO {
                payload.len()
            } else {
                0
            };
    }
    let mut buffer = Vec::with_capacity(size);
    let mut header = [0u8; 10];
    if all_small {
        for (opcode, payload) in frames {
            let n = frame::encode_header(opcode, payload.len(), &mut header);
            buffer.extend_from_slice(&header[..n]);
            buffer.extend_from_slice(payload);
        }
        let mut rest = &buffer[..];
        while !rest.is_empty() {
            let written = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, rest)).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            rest = &rest[written..];
        }
        return Ok(());
    }
    // What to write, in order: a range of the buffer (headers and small payloads), or a
    // large payload as it is.
    enum Piece<'a> {
        Copied(std::ops::Range<usize>),
        Shared(&'a [u8]),
    }
    let mut pieces: Vec<Piece<'a>> = Vec::new();
    let mut copied_from = 0;
    for (opcode, payload) in frames {
        let n = frame::encode_header(opcode, payload.len(), &mut header);
        buffer.extend_from_slice(&header[..n]);
        if payload.len() <= COPY_PAYLOADS_UP_TO {
            buffer.extend_from_slice(payload);
        } else {
            pieces.push(Piece::Copied(copied_from..buffer.len()));
            pieces.push(Piece::Shared(payload));
            copied_from = buffer.len();
        }
    }
    pieces.push(Piece::Copied(copied_from..buffer.len()));
    let mut slices: Vec<IoSlice<'_>> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Copied(r) if r.is_empty() => None,
            Piece::Copied(r) => Some(IoSlice::new(&buffer[r.clone()])),
            Piece::Shared(p) => Some(IoSlice::new(p)),
        })
        .collect();
    let mut remaining = &mut slices[..];
    while !remaining.is_empty() {
        let written = poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, remaining)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, written);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        crate::wire::websocket::frame::client_frame(first, payload, [0xA1, 0x02, 0xB3, 0x44])
    }

    async fn all(conn: &mut WsConn<tokio::io::DuplexStream>) -> Vec<Incoming> {
        let mut out = Vec::new();
        while let Some(m) = conn.recv().await {
            out.push(m.expect("no error"));
        }
        out
    }

    #[tokio::test]
    async fn messages_whole_fragmented_and_byte_by_byte() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut conn = WsConn::new(server, 1 << 20);
        let mut wire = masked(0x81, b"hello");
        wire.extend(masked(0x02, b"bin")); // first fragment
        wire.extend(masked(0x89, b"p")); // a ping between fragments
        wire.extend(masked(0x80, b"ary")); // last fragment
        wire.extend(masked(0x82, &vec![7u8; 70_000]));
        wire.extend(masked(0x88, &[0x03, 0xE8, b'o', b'k']));
        let (client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            // One byte at a time for the first part: every split point of a header.
            for b in &wire[..40] {
                client_write.write_all(&[*b]).await.unwrap();
                tokio::task::yield_now().await;
            }
            client_write.write_all(&wire[40..]).await.unwrap();
            client_write.shutdown().await.unwrap();
            client_write
        });
        let got = all(&mut conn).await;
        assert_eq!(
            got,
            vec![
                Incoming::Text("hello".into()),
                Incoming::Ping(Bytes::from_static(b"p")),
                Incoming::Binary(Bytes::from_static(b"binary")),
                Incoming::Binary(vec![7u8; 70_000].into()),
                Incoming::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "ok".into()
                })),
            ]
        );
        drop(writer.await.unwrap());
        // Nothing kept: no header bytes, no frame, no message.
        assert!(conn.decoder.is_idle());
        drop(client_read);
    }

    #[tokio::test]
    async fn errors_say_which_close_code_answers_them() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'], 1002), // unmasked
            (masked(0x81, &[0xFF, 0xFE]), 1007),                    // not UTF-8
            (masked(0x80, b"x"), 1002),                             // continuation alone
            (masked(0x82, &[0u8; 101]), 1009),                      // over the limit
            ([masked(0x01, b"a"), masked(0x81, b"b")].concat(), 1002), // new message mid-way
        ];
        for (wire, code) in cases {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let mut conn = WsConn::new(server, 100);
            client.write_all(&wire).await.unwrap();
            let err = conn.recv().await.unwrap().unwrap_err();
            assert_eq!(err.close_frame().unwrap().code, code, "{err}");
        }
    }

    #[tokio::test]
    async fn a_batch_goes_out_as_frames_in_order() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut conn = WsConn::new(server, 1 << 20);
        let big = Bytes::from(vec![9u8; 5000]);
        let mut batch = vec![
            Frame::Text("one".into()),
            Frame::Binary(big.clone()),
            Frame::Text("three".into()),
        ];
        conn.write_batch(&mut batch).await.unwrap();
        assert!(batch.is_empty());
        let mut expected = vec![0x81, 3];
        expected.extend_from_slice(b"one");
        expected.extend_from_slice(&[0x82, 126, 0x13, 0x88]);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x81, 5]);
        expected.extend_from_slice(b"three");
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }
}
