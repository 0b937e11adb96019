//! One Engine.IO session: its outbound queue, transport state, heartbeat and close signal.
//!
//! A session outlives its transport: it starts on polling or WebSocket and may move from the
//! first to the second. Whatever transport is current drains the same outbound queue (`Outbox`).

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use tokio::sync::Notify;

use crate::wire::{
    engineio::{Frame, PacketType},
    websocket::{decoder::WsError, frame::CloseFrame},
};

/// A session id: 20 URL-safe characters, like the reference server's.
pub type Sid = Arc<str>;

/// Makes a fresh, unguessable session id.
pub fn new_sid() -> Sid {
    use base64::Engine as _;
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

/// Why a session ended. The strings are the reference server's disconnect reasons, which
/// applications already log and match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the transport (or sent a close packet).
    TransportClose,
    /// The transport failed (read or write error, cancelled poll, overlapping poll).
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent something undecodable or forbidden by the protocol.
    ParseError,
    /// The client read too slowly and its outbound queue overflowed.
    SlowConsumer,
    /// The client did not join any namespace within `connect_timeout`.
    ConnectTimeout,
    /// The server closed the connection (`Socket::disconnect` of the last namespace, ...).
    ForcedClose,
    /// The server is shutting down.
    ServerShutdown,
    /// The server refused the client after it connected (a failed `$init` handshake on a
    /// plain WebSocket connection); the close frame carries code 1008 and the reason.
    PolicyViolation,
}

impl CloseReason {
    /// The reason as the reference server names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::SlowConsumer => "slow consumer",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::PolicyViolation => "policy violation",
        }
    }
}

impl CloseReason {
    /// Whether a polling client is owed a last poll after this close: the frames queued
    /// before it, then the close packet. True for closes the server decides on deliberately
    /// (a forced disconnect, a rate-limit cut-off, shutdown); a session that failed at the
    /// transport or protocol level is gone at once, as the reference server has it.
    pub(crate) fn owes_polling_client_a_last_poll(self) -> bool {
        matches!(self, CloseReason::ForcedClose | CloseReason::ServerShutdown)
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport currently carrying a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TransportKind {
    Polling = 0,
    WebSocket = 1,
}

/// The Engine.IO protocol revision of a session, decided once at its handshake (`EIO=4`, or
/// `EIO=3` from socket.io-client 2.x when `Config::allow_eio3` is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Protocol {
    /// Engine.IO v3: the client pings, payloads are length-prefixed; see [`crate::wire::eio3`].
    V3 = 3,
    /// Engine.IO v4: the server pings.
    V4 = 4,
}

/// How much a session's outbound queue may hold; see [`crate::docs::slow_consumers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueBound {
    /// Frames waiting (a packet, and each binary attachment, is a frame).
    pub(crate) frames: usize,
    /// Bytes waiting, each frame charged its length plus [`FRAME_OVERHEAD`].
    pub(crate) bytes: usize,
}

/// What a queued frame costs beyond its bytes (its slot, its handle on shared bytes). Charged
/// so that a burst of tiny frames is bounded by the byte bound too: with the defaults, the
/// byte bound is always reached before the frame bound.
pub(crate) const FRAME_OVERHEAD: usize = 64;

impl QueueBound {
    pub(crate) fn from_config(config: &crate::config::Config) -> QueueBound {
        QueueBound {
            frames: config.max_buffered_packets,
            bytes: config.max_buffered_bytes,
        }
    }
}

/// The outbound queue of a session: bounded, shared by whichever transport is current.
///
/// A plain `Mutex<VecDeque>` rather than a channel: an idle connection holds no buffer at all
/// (a tokio mpsc channel preallocates a block of slots per connection), and the transport can
/// take everything queued in one lock to write it as one batch.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    bound: QueueBound,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// What `frames` is charged against [`QueueBound::bytes`].
    bytes: usize,
}

/// The queue was full; see [`crate::docs::slow_consumers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Outbox {
    fn new(bound: QueueBound) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            bound,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues all of `frames` contiguously (a packet and its attachments), or none of them.
    /// An empty queue takes any packet, however large, so a packet bigger than the byte
    /// bound can still be sent to a client that keeps up.
    fn push_all(&self, frames: &[Frame]) -> Result<(), Full> {
        let cost: usize = frames.iter().map(|f| f.len() + FRAME_OVERHEAD).sum();
        let mut q = self.lock();
        if !q.frames.is_empty()
            && (q.frames.len() + frames.len() > self.bound.frames
                || q.bytes + cost > self.bound.bytes)
        {
            return Err(Full);
        }
        q.frames.extend(frames.iter().cloned());
        q.bytes += cost;
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Moves everything queued into `out`. Releases the queue's memory once it is empty, so an
    /// idle connection that once had a burst does not keep the burst's buffer.
    pub(crate) fn drain_into(&self, out: &mut Vec<Frame>) {
        let mut q = self.lock();
        out.extend(q.frames.drain(..));
        q.bytes = 0;
        if q.frames.capacity() > 16 {
            q.frames = VecDeque::new();
        }
    }

    /// Waits until something may have been queued since the last drain.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await
    }
}

/// One Engine.IO session.
#[derive(Debug)]
pub struct EngineSession {
    sid: Sid,
    protocol: Protocol,
    /// Engine.IO v3 clients that asked for `b64=1`: binary goes to them as base64 text.
    base64_only: bool,
    pub(crate) outbox: Outbox,
    transport: AtomicU8,
    /// Set while a polling → WebSocket upgrade is in progress.
    pub(crate) upgrading: AtomicBool,
    /// Set once the upgrade probe was answered: polls get a noop until the upgrade completes.
    pub(crate) probed: AtomicBool,
    /// Woken when the probe was answered, to release the pending poll.
    pub(crate) release_poll: Notify,
    /// Set while a polling GET is waiting for packets (a second one is an error).
    pub(crate) poll_active: AtomicBool,
    /// Set while a polling POST is being read (a second one is an error).
    pub(crate) post_active: AtomicBool,
    /// Set once a poll carried the close (or final noop) packet to the client.
    pub(crate) close_delivered: AtomicBool,
    pong: Notify,
    /// When the session opened; the heartbeat schedule counts from here.
    opened: tokio::time::Instant,
    /// Milliseconds after `opened` by which the outstanding ping must be answered
    /// (`u64::MAX` while no ping is outstanding). Lets a request notice an expired session
    /// at once, without depending on when the heartbeat timer gets to run.
    pong_deadline_ms: std::sync::atomic::AtomicU64,
    /// Woken when a polling → WebSocket upgrade completes.
    pub(crate) upgraded: Notify,
    /// Set once, when the session closes. A plain flag (every send checks it) with a `Notify`
    /// for the tasks waiting for it.
    closed: AtomicBool,
    closed_notify: Notify,
    close_reason: OnceLock<CloseReason>,
    /// Words for the client about why the server closed (a plain WebSocket close frame's
    /// reason), when there are any.
    close_detail: OnceLock<Box<str>>,
}

impl EngineSession {
    pub(crate) fn new(sid: Sid, transport: TransportKind, queue: QueueBound) -> EngineSession {
        EngineSession::with_protocol(sid, transport, queue, Protocol::V4, false)
    }

    /// A session speaking `protocol`; `base64_only` for v3 clients that cannot take binary.
    pub(crate) fn with_protocol(
        sid: Sid,
        transport: TransportKind,
        queue: QueueBound,
        protocol: Protocol,
        base64_only: bool,
    ) -> EngineSession {
        EngineSession {
            sid,
            protocol,
            base64_only,
            outbox: Outbox::new(queue),
            transport: AtomicU8::new(transport as u8),
            upgrading: AtomicBool::new(false),
            probed: AtomicBool::new(false),
            release_poll: Notify::new(),
            poll_active: AtomicBool::new(false),
            post_active: AtomicBool::new(false),
            close_delivered: AtomicBool::new(false),
            pong: Notify::new(),
            opened: tokio::time::Instant::now(),
            pong_deadline_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
            upgraded: Notify::new(),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            close_reason: OnceLock::new(),
            close_detail: OnceLock::new(),
        }
    }

    /// The session id.
    pub fn sid(&self) -> &Sid {
        &self.sid
    }

    /// The Engine.IO protocol revision the client speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether binary must reach this (v3) client as base64 text (`b64=1`).
    pub(crate) fn base64_only(&self) -> bool {
        self.base64_only
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        match self.transport.load(Ordering::Acquire) {
            0 => TransportKind::Polling,
            _ => TransportKind::WebSocket,
        }
    }

    pub(crate) fn set_transport(&self, t: TransportKind) {
        self.transport.store(t as u8, Ordering::Release);
    }

    /// Queues a frame. A full queue closes the session as a slow consumer and reports it, so
    /// the caller never needs to retry: a connection either gets every packet in order or is
    /// closed.
    pub fn send(&self, frame: Frame) -> Result<(), SendError> {
        self.send_all(std::slice::from_ref(&frame))
    }

    /// Queues a packet and its attachments contiguously; see [`EngineSession::send`].
    pub fn send_all(&self, frames: &[Frame]) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        self.outbox.push_all(frames).map_err(|Full| {
            tracing::warn!(sid = %self.sid, "outbound queue full: closing slow consumer");
            self.close(CloseReason::SlowConsumer);
            SendError::Full
        })
    }

    /// Like [`EngineSession::send_all`], but drops the packet instead of closing on a full queue.
    pub fn send_all_volatile(&self, frames: &[Frame]) {
        if !self.is_closed() {
            let _ = self.outbox.push_all(frames);
        }
    }

    /// Queues a frame that may be dropped: when the queue is full the frame is discarded and
    /// the connection stays open (volatile emits).
    pub fn send_volatile(&self, frame: Frame) {
        self.send_all_volatile(std::slice::from_ref(&frame))
    }

    /// Queues a control frame (ping, noop) regardless of the queue bound: there are at most a
    /// couple in flight, and a heartbeat must never be the thing that gets dropped.
    pub(crate) fn send_control(&self, kind: PacketType) {
        let mut q = self.outbox.lock();
        q.frames.push_back(Frame::bare(kind));
        q.bytes += 1 + FRAME_OVERHEAD;
        drop(q);
        self.outbox.ready.notify_one();
    }

    /// Closes the session. Only the first reason counts; later calls do nothing.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.set(reason).is_ok() {
            tracing::debug!(sid = %self.sid, %reason, "closing session");
            self.closed.store(true, Ordering::Release);
            self.closed_notify.notify_waiters();
        }
    }

    /// Closes the session with words for the client about why; see [`EngineSession::close`].
    pub fn close_with_detail(&self, reason: CloseReason, detail: &str) {
        if !self.is_closed() {
            let _ = self.close_detail.set(detail.into());
        }
        self.close(reason);
    }

    /// What the server told the client about why it closed, if anything.
    pub fn close_detail(&self) -> Option<&str> {
        self.close_detail.get().map(|d| &**d)
    }

    /// Whether the session has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.get().copied()
    }

    /// Resolves once the session is closed.
    pub async fn closed(&self) {
        crate::wait::until(&self.closed_notify, || self.is_closed()).await
    }

    /// Closes the session for an error reading its WebSocket, saying why in the log; returns
    /// the close frame to answer with (none when the connection itself failed).
    pub(crate) fn close_for_read_error(&self, err: &WsError) -> Option<CloseFrame> {
        match err {
            WsError::Io(_) => self.close(CloseReason::TransportError),
            WsError::TooBig { .. } => {
                tracing::warn!(sid = %self.sid, "websocket message over max_payload: closing with 1009");
                self.close(CloseReason::ParseError);
            }
            _ => {
                tracing::warn!(sid = %self.sid, reason = %err, "protocol error: closing session");
                self.close(CloseReason::ParseError);
            }
        }
        err.close_frame()
    }

    pub(crate) fn on_pong(&self) {
        self.pong_deadline_ms.store(u64::MAX, Ordering::Release);
        self.pong.notify_waiters();
    }

    /// Whether the outstanding ping went unanswered past its deadline. The heartbeat task
    /// closes such a session too; this answers the question exactly, even before it runs.
    pub(crate) fn ping_expired(&self) -> bool {
        let deadline = self.pong_deadline_ms.load(Ordering::Acquire);
        deadline != u64::MAX && self.opened.elapsed().as_millis() as u64 >= deadline
    }

    /// Server-driven heartbeat (Engine.IO v4): the first ping `interval` after the session
    /// opened, then `interval` after each pong; a pong must come within `timeout` of the ping
    /// being queued. Returns when the session closes.
    pub(crate) async fn heartbeat(&self, interval: Duration, timeout: Duration) {
        let mut next_ping = self.opened + interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_ping) => {}
                _ = self.closed() => return,
            }
            // Register for the pong before the ping can possibly be answered.
            let pong = self.pong.notified();
            tokio::pin!(pong);
            pong.as_mut().enable();
            let deadline = next_ping + timeout;
            self.pong_deadline_ms.store(
                (deadline - self.opened).as_millis() as u64,
                Ordering::Release,
            );
            self.send_control(PacketType::Ping);
            tokio::select! {
                _ = pong => next_ping = tokio::time::Instant::now() + interval,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(sid = %self.sid, "no pong within ping timeout");
                    self.close(CloseReason::PingTimeout);
                    return;
                }
                _ = self.closed() => return,
            }
        }
    }
}

impl EngineSession {
    /// Engine.IO v3 heartbeat, driven by the client: it pings every `interval`, the server
    /// answers each ping with a pong ([`EngineSession::on_client_ping`]), and a client silent
    /// for `interval + timeout` since its last ping (or since the handshake) is gone. This is
    /// the reference server's v3 timer, which only pings reset. Returns when the session
    /// closes.
    pub(crate) async fn heartbeat_v3(&self, interval: Duration, timeout: Duration) {
        let allowance = interval + timeout;
        let mut deadline = self.opened + allowance;
        loop {
            // Register for the next ping before publishing the deadline it must beat.
            let ping = self.pong.notified();
            tokio::pin!(ping);
            ping.as_mut().enable();
            self.pong_deadline_ms.store(
                (deadline - self.opened).as_millis() as u64,
                Ordering::Release,
            );
            tokio::select! {
                _ = ping => deadline = tokio::time::Instant::now() + allowance,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(sid = %self.sid, "no ping from the (v3) client within pingInterval + pingTimeout");
                    self.close(CloseReason::PingTimeout);
                    return;
                }
                _ = self.closed() => return,
            }
        }
    }

    /// An Engine.IO v3 client pinged: answer with a bare pong (as the reference server does)
    /// and restart its timeout.
    pub(crate) fn on_client_ping(&self) {
        self.pong_deadline_ms.store(u64::MAX, Ordering::Release);
        self.pong.notify_waiters();
        // Through the bounded queue, unlike the server's own pings: the client decides how
        // many pings it sends, so a flood of them must meet the slow-consumer bound.
        let _ = self.send(Frame::bare(PacketType::Pong));
    }
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("the connection is closed")]
    Closed,
    #[error("the connection's outbound queue is full; it has been closed as a slow consumer")]
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> QueueBound {
        QueueBound {
            frames: n,
            bytes: usize::MAX,
        }
    }

    #[test]
    fn full_queue_closes_as_slow_consumer() {
        let s = EngineSession::new(new_sid(), TransportKind::WebSocket, frames(2));
        s.send(Frame::bare(PacketType::Noop)).unwrap();
        s.send_volatile(Frame::bare(PacketType::Noop));
        s.send_volatile(Frame::bare(PacketType::Noop)); // dropped, connection stays up
        assert!(!s.is_closed());
        assert_eq!(s.send(Frame::bare(PacketType::Noop)), Err(SendError::Full));
        assert_eq!(s.close_reason(), Some(CloseReason::SlowConsumer));
        let mut out = Vec::new();
        s.outbox.drain_into(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn sids_are_unique_and_url_safe() {
        let a = new_sid();
        assert_eq!(a.len(), 20);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, new_sid());
    }

    #[test]
    fn the_byte_bound_counts_each_frame_with_its_overhead_and_an_empty_queue_takes_anything() {
        let text = |n: usize| Frame::Text("x".repeat(n).into());
        let bound = QueueBound {
            frames: 1000,
            bytes: 3 * (100 + FRAME_OVERHEAD),
        };
        let s = EngineSession::new(new_sid(), TransportKind::WebSocket, bound);
        for _ in 0..3 {
            s.send(text(100)).unwrap();
        }
        s.send_volatile(text(1)); // over the byte bound: dropped
        let mut out = Vec::new();
        s.outbox.drain_into(&mut out);
        assert_eq!(out.len(), 3);
        // An empty queue takes a frame larger than the whole bound.
        s.send(text(10_000)).unwrap();
        assert_eq!(s.send(text(1)), Err(SendError::Full));
        assert_eq!(s.close_reason(), Some(CloseReason::SlowConsumer));
    }

    #[tokio::test(start_paused = true)]
    async fn v3_client_pings_reset_the_timeout_and_silence_ends_it() {
        let s = Arc::new(EngineSession::with_protocol(
            new_sid(),
            TransportKind::WebSocket,
            frames(8),
            Protocol::V3,
            false,
        ));
        let start = tokio::time::Instant::now();
        let beat = tokio::spawn({
            let s = Arc::clone(&s);
            async move {
                s.heartbeat_v3(Duration::from_millis(300), Duration::from_millis(200))
                    .await
            }
        });
        // Pings 400 ms apart (within interval + timeout = 500 ms) keep it open past 1 s.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(!s.is_closed());
            s.on_client_ping();
        }
        let last_ping = tokio::time::Instant::now();
        beat.await.unwrap();
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        assert_eq!(last_ping.elapsed(), Duration::from_millis(500));
        assert_eq!(start.elapsed(), Duration::from_millis(1700));
        // Each ping was answered with a pong, and the server never pinged.
        let mut out = Vec::new();
        s.outbox.drain_into(&mut out);
        let texts: Vec<&str> = out
            .iter()
            .map(|f| match f {
                Frame::Text(t) => t.as_str(),
                Frame::Binary(_) => "binary",
            })
            .collect();
        assert_eq!(texts, ["3", "3", "3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn missed_pong_times_out() {
        let s = EngineSession::new(new_sid(), TransportKind::WebSocket, frames(8));
        let start = tokio::time::Instant::now();
        s.heartbeat(Duration::from_millis(300), Duration::from_millis(200))
            .await;
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }
}
