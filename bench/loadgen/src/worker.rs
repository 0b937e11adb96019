//! A load-generator process: holds N client connections on a multi-threaded runtime and
//! runs the commands the suite sends on stdin (one JSON object per line), answering each
//! with one JSON line on stdout.
//!
//! Every client is its own task: receipt timestamps are taken by whichever runtime thread
//! reads that connection, not by one read loop, and latencies are computed from the `t`
//! (CLOCK_MONOTONIC µs) carried in each payload, so senders and receivers may live in
//! different processes.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{
    io::AsyncBufReadExt,
    sync::{broadcast, Semaphore},
    time::Instant,
};

use crate::{
    client::{Conn, Error, Incoming, Proto},
    jitter::{Totals, Track},
    util::{hist_to_json, now_us, raise_nofile, Shards},
};

/// How a worker process is started (passed as one JSON argument).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerCfg {
    pub server: SocketAddr,
    pub proto: Proto,
    pub clients: usize,
    /// Global index of this worker's first client (spreads source addresses across workers).
    pub first_index: usize,
    /// Source addresses 127.0.0.1 ..= 127.0.0.<sources>, round-robin by client index.
    pub sources: u8,
    /// Connection handshakes in flight at once during the initial connect.
    pub connect_concurrency: usize,
    /// Runtime worker threads.
    pub threads: usize,
    /// Bound of the initial connect phase.
    pub connect_timeout_ms: u64,
    /// The process exits by itself after this long, whatever happens.
    pub max_seconds: u64,
    /// Emit → receipt latency is recorded for one client in `latency_every` (by global
    /// index; 0 or 1: every client). Every receipt is still counted per client.
    #[serde(default)]
    pub latency_every: usize,
    /// Ask the kernel for receive timestamps, so that each tick also gets the latency to
    /// the moment its bytes reached the receiver's socket (see `stream.rs`).
    #[serde(default)]
    pub rx_timestamps: bool,
}

/// Commands from the suite. `timeout_ms` bounds each.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Cmd {
    /// Every client joins `room` (ack awaited).
    Join { room: String, timeout_ms: u64 },
    /// Every client emits `fanout` `emits` times to `room`: paced by the ack when
    /// `interval_us` is 0, otherwise one emit per interval without waiting.
    Fanout {
        room: String,
        emits: u64,
        interval_us: u64,
        timeout_ms: u64,
    },
    /// Every client does `count` echo round trips, one at a time.
    Echo { count: u64, timeout_ms: u64 },
    /// Waits until every client received `expected_per_client` ticks (or the timeout), then
    /// reports and resets the tick counters.
    Collect {
        expected_per_client: u64,
        timeout_ms: u64,
    },
    /// Every client drops its connection at once and reconnects with socket.io-client's
    /// backoff (base `delay_ms`, ×2 per attempt, at most 5 s, ±50 % jitter).
    Reconnect { delay_ms: u64, timeout_ms: u64 },
    /// The `jitter` scenario (connection state recovery under random cuts). Every client,
    /// already in `room`, reads the stream of `tick`s numbered 0..`emits` (its `s`) while
    /// its connection is cut `cuts` times, at instants drawn uniformly in
    /// [`cut_from_ms`, `cut_to_ms`] after this command (a cut waits until the client has an
    /// offset to present, when the server gives them). A cut is a TCP reset; the client
    /// comes back after a pause drawn uniformly in [`pause_min_ms`, `pause_max_ms`],
    /// presenting its pid and last offset as socket.io-client does, and joins `room` again
    /// when the server did not recover its session. Answered `armed` at once; the figures
    /// come with [`Cmd::JitterEnd`].
    Jitter {
        room: String,
        emits: u64,
        cuts: u32,
        cut_from_ms: u64,
        cut_to_ms: u64,
        pause_min_ms: u64,
        pause_max_ms: u64,
    },
    /// Ends the jitter scenario once every client is connected, done with its cuts and has
    /// the end of the stream (or after `timeout_ms`), and reports.
    JitterEnd { timeout_ms: u64 },
    /// Counters only.
    Stats,
    /// Close every connection and exit.
    Close,
}

struct Worker {
    cfg: WorkerCfg,
    connect_sem: Semaphore,
    connected: AtomicU64,
    connect_failed: AtomicU64,
    connect_first_us: AtomicU64,
    connect_last_us: AtomicU64,
    /// Connections that ended without being asked to.
    lost: AtomicU64,
    /// Clients done with the current command.
    done: AtomicU64,
    failed_ops: AtomicU64,
    ops: AtomicU64,
    op_first_us: AtomicU64,
    op_last_us: AtomicU64,
    op_hist: Shards,
    ticks: AtomicU64,
    tick_first_us: AtomicU64,
    tick_last_us: AtomicU64,
    tick_per_client: Vec<AtomicU32>,
    tick_hist: Shards,
    /// Emit → the kernel's receive stamp (with `rx_timestamps`).
    tick_kernel_hist: Shards,
    bad_ticks: AtomicU64,
    reconnect_t0: AtomicU64,
    reconnected: AtomicU64,
    reconnect_retries: AtomicU64,
    reconnect_last_us: AtomicU64,
    reconnect_hist: Shards,
    /// Duration of the successful connection attempt (TCP + WebSocket + CONNECT).
    handshake_hist: Shards,
    /// Jitter: clients that entered the scenario, each client's state (see
    /// [`jitter_state`]), and the figures of those done.
    jitter_armed: AtomicU64,
    jitter_state: Vec<AtomicU8>,
    jitter: Mutex<Totals>,
    errors: Mutex<Vec<String>>,
}

impl Worker {
    fn note_error(&self, what: &str, e: &Error) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 5 {
            errors.push(format!("{what}: {e}"));
        }
    }

    fn on_incoming(&self, idx: usize, inc: Incoming) {
        let (t, kernel_us) = match inc {
            Incoming::Tick { t, kernel_us } => (t, kernel_us),
            Incoming::Event { name, args } if name == "tick" => (
                args.first()
                    .and_then(|a| a.get("t"))
                    .and_then(Value::as_u64),
                None,
            ),
            _ => return,
        };
        let now = now_us();
        match t {
            Some(t) => {
                let every = self.cfg.latency_every.max(1);
                if (self.cfg.first_index + idx).is_multiple_of(every) {
                    self.tick_hist.record(idx, now.saturating_sub(t));
                    if let Some(k) = kernel_us {
                        self.tick_kernel_hist.record(idx, k.saturating_sub(t));
                    }
                }
            }
            None => {
                self.bad_ticks.fetch_add(1, Relaxed);
            }
        }
        self.ticks.fetch_add(1, Relaxed);
        self.tick_per_client[idx].fetch_add(1, Relaxed);
        self.tick_first_us.fetch_min(now, Relaxed);
        self.tick_last_us.fetch_max(now, Relaxed);
    }

    fn source(&self, idx: usize) -> IpAddr {
        let n = self.cfg.sources.max(1) as usize;
        IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + ((self.cfg.first_index + idx) % n) as u8,
        ))
    }

    fn counters(&self) -> Value {
        json!({
            "connected": self.connected.load(Relaxed),
            "connect_failed": self.connect_failed.load(Relaxed),
            "lost": self.lost.load(Relaxed),
            "errors": *self.errors.lock().unwrap(),
        })
    }

    fn reset_ops(&self) {
        self.done.store(0, Relaxed);
        self.failed_ops.store(0, Relaxed);
        self.ops.store(0, Relaxed);
        self.op_first_us.store(u64::MAX, Relaxed);
        self.op_last_us.store(0, Relaxed);
        let _ = self.op_hist.take();
    }
}

const FANOUT_PAD: &str = "0123456789abcdef0123456789abcdef";

/// Sends `event` asking for an ack and waits for it, recording anything else that arrives.
async fn request(
    w: &Worker,
    idx: usize,
    conn: &mut Conn,
    next_id: &mut u64,
    event: &str,
    arg: &str,
    deadline: Instant,
) -> Result<Vec<Value>, Error> {
    let id = *next_id;
    *next_id += 1;
    conn.emit(event, arg, Some(id)).await?;
    loop {
        match tokio::time::timeout_at(deadline, conn.next()).await {
            Err(_) => return Err(format!("no ack to {event} before the deadline").into()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Incoming::Ack { id: got, args })) if got == id => return Ok(args),
            Ok(Ok(inc)) => w.on_incoming(idx, inc),
        }
    }
}

async fn run_op(
    w: &Worker,
    idx: usize,
    conn: &mut Conn,
    next_id: &mut u64,
    cmd: &Cmd,
) -> Result<(), Error> {
    match cmd {
        Cmd::Join { room, timeout_ms } => {
            let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
            let arg = serde_json::to_string(room)?;
            let args = request(w, idx, conn, next_id, "join", &arg, deadline).await?;
            if args.first() != Some(&Value::Bool(true)) {
                return Err(format!("join answered {args:?}").into());
            }
            w.ops.fetch_add(1, Relaxed);
        }
        Cmd::Echo { count, timeout_ms } => {
            let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
            for i in 0..*count {
                let t0 = now_us();
                w.op_first_us.fetch_min(t0, Relaxed);
                let arg = format!(r#"{{"t":{t0},"i":{i},"c":{idx}}}"#);
                let args = request(w, idx, conn, next_id, "echo", &arg, deadline).await?;
                let t1 = now_us();
                if args
                    .first()
                    .and_then(|a| a.get("t"))
                    .and_then(Value::as_u64)
                    != Some(t0)
                {
                    return Err(format!("echo answered {args:?}").into());
                }
                w.op_hist.record(idx, t1 - t0);
                w.ops.fetch_add(1, Relaxed);
                w.op_last_us.fetch_max(t1, Relaxed);
            }
        }
        Cmd::Fanout {
            room,
            emits,
            interval_us,
            timeout_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
            let room_json = serde_json::to_string(room)?;
            let payload = |t: u64, s: u64| {
                format!(r#"{{"room":{room_json},"t":{t},"s":{s},"c":{idx},"d":"{FANOUT_PAD}"}}"#)
            };
            if *interval_us == 0 {
                // Saturation: the next emit leaves as soon as the previous one is acked.
                for s in 0..*emits {
                    let t0 = now_us();
                    w.op_first_us.fetch_min(t0, Relaxed);
                    let args =
                        request(w, idx, conn, next_id, "fanout", &payload(t0, s), deadline).await?;
                    let t1 = now_us();
                    if args.first() != Some(&Value::Bool(true)) {
                        return Err(format!("fanout answered {args:?}").into());
                    }
                    w.op_hist.record(idx, t1 - t0);
                    w.ops.fetch_add(1, Relaxed);
                    w.op_last_us.fetch_max(t1, Relaxed);
                }
            } else {
                // Fixed offered load: one emit per interval, acks counted as they come.
                let mut interval = tokio::time::interval(Duration::from_micros(*interval_us));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut pending = std::collections::HashMap::new();
                let (mut sent, mut acked) = (0u64, 0u64);
                while acked < *emits {
                    tokio::select! {
                        _ = interval.tick(), if sent < *emits => {
                            let t0 = now_us();
                            w.op_first_us.fetch_min(t0, Relaxed);
                            let id = *next_id;
                            *next_id += 1;
                            conn.emit("fanout", &payload(t0, sent), Some(id)).await?;
                            pending.insert(id, t0);
                            sent += 1;
                        }
                        r = tokio::time::timeout_at(deadline, conn.next()) => match r {
                            Err(_) => return Err(format!("{} fanout acks missing at the deadline", emits - acked).into()),
                            Ok(Err(e)) => return Err(e),
                            Ok(Ok(Incoming::Ack { id, .. })) => {
                                if let Some(t0) = pending.remove(&id) {
                                    let t1 = now_us();
                                    w.op_hist.record(idx, t1 - t0);
                                    w.ops.fetch_add(1, Relaxed);
                                    w.op_last_us.fetch_max(t1, Relaxed);
                                    acked += 1;
                                }
                            }
                            Ok(Ok(inc)) => w.on_incoming(idx, inc),
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// socket.io-client's reconnection delay for attempt `n` (0-based): base × 2^n, ±50 %
/// jitter, at most 5 s.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let ms = (base_ms as f64) * 2f64.powi(attempt.min(16) as i32);
    let rand: f64 = rand::random();
    let deviation = (rand * 0.5 * ms).floor();
    let ms = if ((rand * 10.0).floor() as u64) & 1 == 0 {
        ms - deviation
    } else {
        ms + deviation
    };
    Duration::from_millis(ms.min(5000.0) as u64)
}

async fn client(idx: usize, w: Arc<Worker>, mut rx: broadcast::Receiver<Arc<Cmd>>) {
    let source = w.source(idx);
    let connect_timeout = Duration::from_secs(20);
    let mut conn = {
        let _permit = w.connect_sem.acquire().await;
        w.connect_first_us.fetch_min(now_us(), Relaxed);
        match Conn::connect(w.cfg.server, source, w.cfg.proto, connect_timeout).await {
            Ok(mut c) => {
                c.fast_ticks = true;
                if w.cfg.rx_timestamps {
                    if let Err(e) = c.enable_rx_timestamps() {
                        w.note_error("SO_TIMESTAMPING", &e);
                    }
                }
                w.connect_last_us.fetch_max(now_us(), Relaxed);
                w.connected.fetch_add(1, Relaxed);
                Some(c)
            }
            Err(e) => {
                w.note_error("connect", &e);
                w.connect_failed.fetch_add(1, Relaxed);
                None
            }
        }
    };
    let mut next_id = 1u64;
    enum Step {
        In(Result<Incoming, Error>),
        Cmd(Result<Arc<Cmd>, broadcast::error::RecvError>),
    }
    loop {
        let step = match conn.as_mut() {
            Some(c) => tokio::select! {
                r = c.next() => Step::In(r),
                r = rx.recv() => Step::Cmd(r),
            },
            None => Step::Cmd(rx.recv().await),
        };
        let cmd = match step {
            Step::In(Ok(inc)) => {
                w.on_incoming(idx, inc);
                continue;
            }
            Step::In(Err(e)) => {
                w.note_error("connection lost", &e);
                w.lost.fetch_add(1, Relaxed);
                conn = None;
                continue;
            }
            Step::Cmd(Ok(cmd)) => cmd,
            Step::Cmd(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Step::Cmd(Err(broadcast::error::RecvError::Closed)) => break,
        };
        match &*cmd {
            Cmd::Close => {
                if let Some(c) = conn.take() {
                    c.close().await;
                }
                w.done.fetch_add(1, Relaxed);
                break;
            }
            Cmd::Reconnect {
                delay_ms,
                timeout_ms,
            } => {
                let t0 = w.reconnect_t0.load(Relaxed);
                let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
                drop(conn.take()); // abrupt: no close frame, the TCP connection just ends
                let mut attempt = 0;
                loop {
                    tokio::time::sleep(backoff(*delay_ms, attempt)).await;
                    if Instant::now() >= deadline {
                        break;
                    }
                    let left = deadline - Instant::now();
                    let attempt_t0 = now_us();
                    match Conn::connect(
                        w.cfg.server,
                        source,
                        w.cfg.proto,
                        connect_timeout.min(left),
                    )
                    .await
                    {
                        Ok(mut c) => {
                            c.fast_ticks = true;
                            if w.cfg.rx_timestamps {
                                let _ = c.enable_rx_timestamps();
                            }
                            let t = now_us();
                            w.reconnect_hist.record(idx, t.saturating_sub(t0));
                            w.handshake_hist.record(idx, t.saturating_sub(attempt_t0));
                            w.reconnect_last_us.fetch_max(t, Relaxed);
                            w.reconnected.fetch_add(1, Relaxed);
                            conn = Some(c);
                            break;
                        }
                        Err(e) => {
                            if attempt == 0 {
                                w.note_error("reconnect", &e);
                            }
                            w.reconnect_retries.fetch_add(1, Relaxed);
                            attempt += 1;
                        }
                    }
                }
                w.done.fetch_add(1, Relaxed);
            }
            Cmd::Jitter { .. } => {
                if jitter(&w, idx, &mut conn, &mut next_id, &mut rx, &cmd).await {
                    // Asked to close in the middle (the suite gave up).
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                    w.done.fetch_add(1, Relaxed);
                    break;
                }
            }
            Cmd::Collect { .. } | Cmd::Stats | Cmd::JitterEnd { .. } => {}
            op => {
                let result = match conn.as_mut() {
                    Some(c) => run_op(&w, idx, c, &mut next_id, op).await,
                    None => Err("not connected".into()),
                };
                if let Err(e) = result {
                    w.note_error("operation", &e);
                    w.failed_ops.fetch_add(1, Relaxed);
                }
                w.done.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Jitter: how long a client waits for the ack of a `join` before sending it again.
const JOIN_TIMEOUT: Duration = Duration::from_millis(500);

/// Where a client of the jitter scenario is.
mod jitter_state {
    /// Cuts to come, disconnected, or its `join` not yet answered.
    pub const BUSY: u8 = 0;
    /// Connected and in the room for good, without the end of the stream (yet).
    pub const SETTLED: u8 = 1;
    /// ... and it has the end of the stream.
    pub const DONE: u8 = 2;
}

/// How long after [`Cmd::JitterEnd`] (sent once the last tick was acked to the sender) a
/// settled client still without the end of the stream is waited for: deliveries already
/// queued, not a lost one.
const JITTER_GRACE: Duration = Duration::from_secs(1);

/// A whole number of milliseconds drawn uniformly in [lo, hi].
fn uniform_ms(lo: u64, hi: u64) -> Duration {
    let span = hi.saturating_sub(lo);
    Duration::from_millis(lo + (rand::random::<f64>() * (span + 1) as f64) as u64)
}

/// One client's part of the jitter scenario (see [`Cmd::Jitter`]); returns when
/// [`Cmd::JitterEnd`] comes (its figures added to the worker's), or `true` when the suite
/// asked to close instead.
async fn jitter(
    w: &Worker,
    idx: usize,
    conn: &mut Option<Conn>,
    next_id: &mut u64,
    rx: &mut broadcast::Receiver<Arc<Cmd>>,
    cmd: &Cmd,
) -> bool {
    let Cmd::Jitter {
        room,
        emits,
        cuts,
        cut_from_ms,
        cut_to_ms,
        pause_min_ms,
        pause_max_ms,
    } = cmd
    else {
        return false;
    };
    let start = Instant::now();
    let since = |at: Instant| at.saturating_duration_since(start).as_millis() as u64;
    let mut schedule: Vec<Instant> = (0..*cuts)
        .map(|_| start + uniform_ms(*cut_from_ms, *cut_to_ms))
        .collect();
    schedule.sort();
    let mut next_cut = 0;
    let mut track = Track::new(*emits);
    if let Some(c) = conn.as_mut() {
        c.fast_ticks = false;
        track.pid = c.pid.clone();
        track.sid = c.sid.clone();
    }
    let room_json = serde_json::to_string(room).unwrap_or_default();
    let source = w.source(idx);
    // While disconnected: when to try again, the attempt number, and when it was lost.
    let mut reconnect_at = conn.is_none().then(Instant::now);
    let mut attempt = 0;
    let mut lost_at = Instant::now();
    // A `join` sent after a reconnect that was not recovered, until its ack: its ack id
    // and when to send it again if no ack came (as an application would, with
    // socket.io-client's `socket.timeout(ms).emit(..)`): an event that reaches the server
    // before its handlers exist gets no answer (socketioxide registers them in a task it
    // spawns after sending the CONNECT reply).
    let mut join_pending: Option<(u64, Instant)> = None;
    // Ticks still to come that the server replayed before its CONNECT reply, and the
    // stream numbers among them.
    let mut replays_left: usize = 0;
    let mut replay_span: Option<(u64, u64)> = None;
    // The first tick after a reconnect is noted in the timeline.
    let mut note_next_live = false;
    let mut close = false;
    w.jitter_armed.fetch_add(1, Relaxed);

    enum Step {
        In(Result<Incoming, Error>),
        Cut,
        Reconnect,
        Join,
        Cmd(Result<Arc<Cmd>, broadcast::error::RecvError>),
    }
    loop {
        let settled = conn.is_some() && next_cut == schedule.len() && join_pending.is_none();
        w.jitter_state[idx].store(
            match (settled, track.has_end()) {
                (false, _) => jitter_state::BUSY,
                (true, false) => jitter_state::SETTLED,
                (true, true) => jitter_state::DONE,
            },
            Relaxed,
        );
        // A client with a pid cuts only once it has an offset to come back with (as a
        // socket.io client that received nothing yet could not recover either), and never
        // with replayed events still unread: socket.io-client handles a frame's events as
        // it reads them.
        let can_cut = next_cut < schedule.len()
            && join_pending.is_none()
            && (track.pid.is_none() || track.last_offset.is_some())
            && conn.as_ref().is_some_and(|c| !c.has_pending());
        let cut_at = schedule.get(next_cut).copied().unwrap_or(start);
        let rejoin_at = join_pending.map_or(start, |(_, at)| at);
        let step = match conn.as_mut() {
            Some(c) => tokio::select! {
                biased;
                r = rx.recv() => Step::Cmd(r),
                r = c.next() => Step::In(r),
                _ = tokio::time::sleep_until(cut_at), if can_cut => Step::Cut,
                _ = tokio::time::sleep_until(rejoin_at), if join_pending.is_some() => Step::Join,
            },
            None => tokio::select! {
                biased;
                r = rx.recv() => Step::Cmd(r),
                _ = tokio::time::sleep_until(reconnect_at.unwrap_or_else(Instant::now)) => Step::Reconnect,
            },
        };
        match step {
            Step::Cmd(Ok(cmd)) => match &*cmd {
                Cmd::JitterEnd { .. } => break,
                Cmd::Close => {
                    close = true;
                    break;
                }
                _ => {}
            },
            Step::Cmd(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Step::Cmd(Err(broadcast::error::RecvError::Closed)) => {
                close = true;
                break;
            }
            Step::In(Ok(Incoming::Event { name, args })) if name == "tick" => {
                let now = now_us();
                let replay = replays_left > 0;
                replays_left = replays_left.saturating_sub(1);
                w.ticks.fetch_add(1, Relaxed);
                w.tick_first_us.fetch_min(now, Relaxed);
                w.tick_last_us.fetch_max(now, Relaxed);
                let Some(tick) = track.tick(&args) else {
                    w.bad_ticks.fetch_add(1, Relaxed);
                    continue;
                };
                let at = since(Instant::now());
                if tick.duplicate {
                    track.note(at, format!("duplicate s={}", tick.s));
                }
                if replay {
                    replay_span = Some(
                        replay_span
                            .map_or((tick.s, tick.s), |(a, b)| (a.min(tick.s), b.max(tick.s))),
                    );
                    if replays_left == 0 {
                        if let Some((a, b)) = replay_span.take() {
                            track.note(at, format!("replayed s={a}–{b}"));
                        }
                        track.mark_seam();
                    }
                } else {
                    if note_next_live {
                        track.note(at, format!("first live s={}", tick.s));
                        note_next_live = false;
                    }
                    // Latency of live deliveries only: a replay is as old as the cut.
                    if let Some(t) = tick.t {
                        let every = w.cfg.latency_every.max(1);
                        if (w.cfg.first_index + idx).is_multiple_of(every) {
                            w.tick_hist.record(idx, now.saturating_sub(t));
                        }
                    }
                }
            }
            Step::In(Ok(Incoming::Ack { id, args })) if Some(id) == join_pending.map(|j| j.0) => {
                join_pending = None;
                let at = since(Instant::now());
                if args.first() == Some(&Value::Bool(true)) {
                    track.note(at, "joined the room again");
                } else {
                    track.note(at, format!("join answered {args:?}"));
                    w.note_error("jitter", &Error::from(format!("join answered {args:?}")));
                    w.failed_ops.fetch_add(1, Relaxed);
                }
            }
            Step::In(Ok(_)) => {}
            Step::In(Err(e)) => {
                // Not a cut of ours: the server (or the network) ended it. Come back as
                // socket.io-client would, after its first reconnection delay.
                w.note_error("jitter: connection lost", &e);
                w.lost.fetch_add(1, Relaxed);
                track.server_drops += 1;
                track.note(since(Instant::now()), format!("connection lost: {e}"));
                *conn = None;
                join_pending = None;
                replays_left = 0;
                lost_at = Instant::now();
                reconnect_at = Some(lost_at + backoff(1000, 0));
                attempt = 0;
            }
            Step::Join => {
                track.join_retries += 1;
                track.note(
                    since(Instant::now()),
                    "no answer to join within 0.5 s: again",
                );
                join_pending = None;
                if let Some(c) = conn.as_mut() {
                    let id = *next_id;
                    *next_id += 1;
                    match c.emit("join", &room_json, Some(id)).await {
                        Ok(()) => join_pending = Some((id, Instant::now() + JOIN_TIMEOUT)),
                        Err(e) => {
                            w.note_error("jitter: join", &e);
                            w.failed_ops.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            Step::Cut => {
                if let Some(c) = conn.take() {
                    c.cut();
                }
                next_cut += 1;
                track.cuts += 1;
                lost_at = Instant::now();
                track.note(
                    since(lost_at),
                    format!(
                        "cut after s={} (offset {})",
                        track.max_s.map_or("none".to_owned(), |s| s.to_string()),
                        track.last_offset.as_deref().unwrap_or("none")
                    ),
                );
                reconnect_at = Some(lost_at + uniform_ms(*pause_min_ms, *pause_max_ms));
                attempt = 0;
            }
            Step::Reconnect => {
                let auth = track.auth();
                let t0 = Instant::now();
                match Conn::connect_with_auth(
                    w.cfg.server,
                    source,
                    w.cfg.proto,
                    Duration::from_secs(10),
                    auth.as_deref(),
                )
                .await
                {
                    Ok(mut c) => {
                        let back = Instant::now();
                        c.fast_ticks = false;
                        w.handshake_hist.record(idx, (back - t0).as_micros() as u64);
                        w.reconnect_hist
                            .record(idx, (back - lost_at).as_micros() as u64);
                        track.reconnects += 1;
                        track.replayed += c.replayed as u64;
                        replays_left = c.replayed;
                        replay_span = None;
                        note_next_live = true;
                        let recovered = track.pid.is_some() && c.pid == track.pid;
                        let at = since(back);
                        if recovered {
                            track.recovered += 1;
                            if c.replayed == 0 {
                                track.mark_seam();
                            }
                            if c.sid != track.sid {
                                track.recovered_other_sid += 1;
                                track.note(
                                    at,
                                    format!("recovered, but sid {} became {}", track.sid, c.sid),
                                );
                            }
                            track.note(at, format!("back, recovered, {} replayed", c.replayed));
                        } else {
                            track.note(
                                at,
                                format!(
                                    "back, new session{} ({} replayed): joining the room again",
                                    if auth.is_some() {
                                        " (recovery refused)"
                                    } else {
                                        ""
                                    },
                                    c.replayed
                                ),
                            );
                            let id = *next_id;
                            *next_id += 1;
                            match c.emit("join", &room_json, Some(id)).await {
                                Ok(()) => {
                                    join_pending = Some((id, Instant::now() + JOIN_TIMEOUT));
                                    track.rejoins += 1;
                                }
                                Err(e) => {
                                    w.note_error("jitter: join", &e);
                                    w.failed_ops.fetch_add(1, Relaxed);
                                }
                            }
                        }
                        track.pid = c.pid.clone();
                        track.sid = c.sid.clone();
                        *conn = Some(c);
                        reconnect_at = None;
                    }
                    Err(e) => {
                        if track.failed_attempts == 0 {
                            w.note_error("jitter: reconnect", &e);
                        }
                        track.failed_attempts += 1;
                        attempt += 1;
                        track.note(since(Instant::now()), format!("attempt failed: {e}"));
                        reconnect_at = Some(Instant::now() + backoff(1000, attempt));
                    }
                }
            }
        }
    }
    w.jitter
        .lock()
        .unwrap()
        .add(w.cfg.first_index + idx, &track, conn.is_some());
    if !close {
        w.done.fetch_add(1, Relaxed);
    }
    close
}

fn reply(v: Value) {
    println!("{v}");
}

/// Waits until `cond` holds or `deadline` passes; returns whether it held.
async fn wait_until(deadline: Instant, cond: impl Fn() -> bool) -> bool {
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn main(cfg: WorkerCfg) {
    let nofile = raise_nofile();
    if (nofile as usize) < cfg.clients + 64 {
        eprintln!(
            "loadgen worker: {} clients need more than the open-file limit {nofile}",
            cfg.clients
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let max = Duration::from_secs(cfg.max_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(max);
        eprintln!("loadgen worker: {} s bound reached, exiting", max.as_secs());
        std::process::exit(3);
    });
    rt.block_on(run(cfg));
}

async fn run(cfg: WorkerCfg) {
    let n = cfg.clients;
    let w = Arc::new(Worker {
        connect_sem: Semaphore::new(cfg.connect_concurrency.max(1)),
        connected: AtomicU64::new(0),
        connect_failed: AtomicU64::new(0),
        connect_first_us: AtomicU64::new(u64::MAX),
        connect_last_us: AtomicU64::new(0),
        lost: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed_ops: AtomicU64::new(0),
        ops: AtomicU64::new(0),
        op_first_us: AtomicU64::new(u64::MAX),
        op_last_us: AtomicU64::new(0),
        op_hist: Shards::new(64),
        ticks: AtomicU64::new(0),
        tick_first_us: AtomicU64::new(u64::MAX),
        tick_last_us: AtomicU64::new(0),
        tick_per_client: (0..n).map(|_| AtomicU32::new(0)).collect(),
        tick_hist: Shards::new(64),
        tick_kernel_hist: Shards::new(64),
        bad_ticks: AtomicU64::new(0),
        reconnect_t0: AtomicU64::new(0),
        reconnected: AtomicU64::new(0),
        reconnect_retries: AtomicU64::new(0),
        reconnect_last_us: AtomicU64::new(0),
        reconnect_hist: Shards::new(64),
        handshake_hist: Shards::new(64),
        jitter_armed: AtomicU64::new(0),
        jitter_state: (0..n).map(|_| AtomicU8::new(jitter_state::BUSY)).collect(),
        jitter: Mutex::new(Totals::default()),
        errors: Mutex::new(Vec::new()),
        cfg,
    });
    let (tx, _) = broadcast::channel::<Arc<Cmd>>(16);
    let mut tasks = Vec::with_capacity(n);
    for idx in 0..n {
        tasks.push(tokio::spawn(client(idx, w.clone(), tx.subscribe())));
    }
    let deadline = Instant::now() + Duration::from_millis(w.cfg.connect_timeout_ms);
    let all = wait_until(deadline, || {
        (w.connected.load(Relaxed) + w.connect_failed.load(Relaxed)) as usize >= n
    })
    .await;
    let first = w.connect_first_us.load(Relaxed);
    reply(json!({
        "ev": "connected",
        "timed_out": !all,
        "start_us": if first == u64::MAX { 0 } else { first },
        "end_us": w.connect_last_us.load(Relaxed),
        "pid": std::process::id(),
        "counters": w.counters(),
    }));

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let cmd: Cmd = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(e) => {
                reply(json!({"ev": "error", "error": format!("bad command {line:?}: {e}")}));
                continue;
            }
        };
        match &cmd {
            Cmd::Stats => reply(json!({"ev": "stats", "counters": w.counters()})),
            Cmd::Collect {
                expected_per_client,
                timeout_ms,
            } => {
                let expected = expected_per_client * w.connected.load(Relaxed);
                let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
                let reached = wait_until(deadline, || w.ticks.load(Relaxed) >= expected).await;
                if reached {
                    // Room for duplicates to show up.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let (mut short, mut over) = (0u64, 0u64);
                for c in &w.tick_per_client {
                    let got = c.swap(0, Relaxed) as u64;
                    if got < *expected_per_client {
                        short += 1;
                    } else if got > *expected_per_client {
                        over += 1;
                    }
                }
                let first = w.tick_first_us.swap(u64::MAX, Relaxed);
                reply(json!({
                    "ev": "collected",
                    "timed_out": !reached,
                    "received": w.ticks.swap(0, Relaxed),
                    "expected": expected,
                    "clients_short": short,
                    "clients_over": over,
                    "bad_ticks": w.bad_ticks.swap(0, Relaxed),
                    "first_us": if first == u64::MAX { 0 } else { first },
                    "last_us": w.tick_last_us.swap(0, Relaxed),
                    "hist": hist_to_json(&w.tick_hist.take()),
                    "kernel_hist": hist_to_json(&w.tick_kernel_hist.take()),
                    "counters": w.counters(),
                }));
            }
            Cmd::Close => {
                w.done.store(0, Relaxed);
                let _ = tx.send(Arc::new(cmd.clone()));
                let deadline = Instant::now() + Duration::from_secs(10);
                let all = wait_until(deadline, || tasks.iter().all(|t| t.is_finished())).await;
                reply(json!({"ev": "closed", "timed_out": !all, "counters": w.counters()}));
                return;
            }
            Cmd::Jitter { .. } => {
                w.reset_ops();
                w.jitter_armed.store(0, Relaxed);
                for st in &w.jitter_state {
                    st.store(jitter_state::BUSY, Relaxed);
                }
                *w.jitter.lock().unwrap() = Totals::default();
                w.ticks.store(0, Relaxed);
                w.tick_first_us.store(u64::MAX, Relaxed);
                w.tick_last_us.store(0, Relaxed);
                let _ = w.tick_hist.take();
                let _ = w.reconnect_hist.take();
                let _ = w.handshake_hist.take();
                let _ = tx.send(Arc::new(cmd.clone()));
                let deadline = Instant::now() + Duration::from_secs(10);
                let all = wait_until(deadline, || w.jitter_armed.load(Relaxed) as usize >= n).await;
                reply(json!({"ev": "armed", "timed_out": !all, "counters": w.counters()}));
            }
            Cmd::JitterEnd { timeout_ms } => {
                // Every client has the end of the stream; or every one is settled, a grace
                // period after the stream ended (the rest lost it); or the timeout.
                let t0 = Instant::now();
                let deadline = t0 + Duration::from_millis(*timeout_ms);
                let at_least = |state: u8| w.jitter_state.iter().all(|s| s.load(Relaxed) >= state);
                let _ = wait_until(deadline, || {
                    at_least(jitter_state::DONE)
                        || (t0.elapsed() >= JITTER_GRACE && at_least(jitter_state::SETTLED))
                })
                .await;
                let all_ready = at_least(jitter_state::DONE);
                let all_settled = at_least(jitter_state::SETTLED);
                // Room for duplicates to show up.
                tokio::time::sleep(Duration::from_millis(300)).await;
                w.done.store(0, Relaxed);
                let _ = tx.send(Arc::new(cmd.clone()));
                let deadline = Instant::now() + Duration::from_secs(15);
                let all = wait_until(deadline, || w.done.load(Relaxed) as usize >= n).await;
                let totals = w.jitter.lock().unwrap().clone();
                let first = w.tick_first_us.load(Relaxed);
                reply(json!({
                    "ev": "jittered",
                    "timed_out": !all,
                    "all_ready": all_ready,
                    "all_settled": all_settled,
                    "totals": totals,
                    "failed_ops": w.failed_ops.load(Relaxed),
                    "bad_ticks": w.bad_ticks.swap(0, Relaxed),
                    "first_us": if first == u64::MAX { 0 } else { first },
                    "last_us": w.tick_last_us.load(Relaxed),
                    "hist": hist_to_json(&w.tick_hist.take()),
                    "reconnect_hist": hist_to_json(&w.reconnect_hist.take()),
                    "handshake_hist": hist_to_json(&w.handshake_hist.take()),
                    "counters": w.counters(),
                }));
            }
            Cmd::Reconnect { timeout_ms, .. } => {
                w.reset_ops();
                w.reconnected.store(0, Relaxed);
                w.reconnect_retries.store(0, Relaxed);
                w.reconnect_last_us.store(0, Relaxed);
                let _ = w.reconnect_hist.take();
                let _ = w.handshake_hist.take();
                let t0 = now_us();
                w.reconnect_t0.store(t0, Relaxed);
                let _ = tx.send(Arc::new(cmd.clone()));
                let deadline = Instant::now() + Duration::from_millis(timeout_ms + 2_000);
                let all = wait_until(deadline, || w.done.load(Relaxed) as usize >= n).await;
                reply(json!({
                    "ev": "reconnected",
                    "timed_out": !all,
                    "start_us": t0,
                    "end_us": w.reconnect_last_us.load(Relaxed),
                    "back": w.reconnected.load(Relaxed),
                    "retries": w.reconnect_retries.load(Relaxed),
                    "hist": hist_to_json(&w.reconnect_hist.take()),
                    "handshake_hist": hist_to_json(&w.handshake_hist.take()),
                    "counters": w.counters(),
                }));
            }
            Cmd::Join { timeout_ms, .. }
            | Cmd::Echo { timeout_ms, .. }
            | Cmd::Fanout { timeout_ms, .. } => {
                w.reset_ops();
                let _ = tx.send(Arc::new(cmd.clone()));
                let deadline = Instant::now() + Duration::from_millis(timeout_ms + 2_000);
                let all = wait_until(deadline, || w.done.load(Relaxed) as usize >= n).await;
                let first = w.op_first_us.load(Relaxed);
                reply(json!({
                    "ev": "done",
                    "timed_out": !all,
                    "ops": w.ops.load(Relaxed),
                    "failed": w.failed_ops.load(Relaxed),
                    "start_us": if first == u64::MAX { 0 } else { first },
                    "end_us": w.op_last_us.load(Relaxed),
                    "hist": hist_to_json(&w.op_hist.take()),
                    "counters": w.counters(),
                }));
            }
        }
    }
    // stdin closed: the suite is gone.
}
