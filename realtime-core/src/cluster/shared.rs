//! What both Redis adapters share: this node's requests to other nodes waiting for their
//! answers, the broadcasts with acks it sent, the command connection with its backoff, and
//! small helpers.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use crate::{
    live::{
        cluster::{AckSink, ClusterError, SocketDetails},
        rooms::Room,
    },
    wire::payload::Payload,
};

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` random alphanumeric characters.
pub(super) fn random_id(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Warnings about dropped or malformed messages: at most one per this period.
const WARNING_PERIOD: Duration = Duration::from_secs(10);

/// Whether a rate-limited warning may be logged now.
pub(super) fn should_warn(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = lock(last);
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < WARNING_PERIOD) {
        return false;
    }
    *last = Some(now);
    true
}

/// A payload's first argument (what socket.io carries for an ack or a node's answer), or
/// `null`.
pub(super) fn first_arg(payload: &Payload) -> serde_json::Value {
    payload.get(0).unwrap_or(serde_json::Value::Null)
}

/// A Redis client for `url`, or why the URL is not one.
pub(super) fn open_client(url: &str) -> Result<redis::Client, ClusterError> {
    redis::Client::open(url)
        .map_err(|e| ClusterError::Unavailable(format!("invalid Redis URL {url:?}: {e}").into()))
}

/// What a request gathers from the nodes that answer.
pub(super) enum Collected {
    Sockets(Vec<SocketDetails>),
    Rooms(Vec<Room>),
    Answers(Vec<Payload>),
}

/// A request of this node, gathering the other nodes' answers.
struct Pending {
    expected: usize,
    answered: usize,
    collected: Collected,
    done: Option<oneshot::Sender<Collected>>,
}

/// This node's requests waiting for answers, and its broadcasts with acks, by request id.
#[derive(Default)]
pub(super) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    acks: Arc<Mutex<HashMap<String, AckSink>>>,
}

/// How a request ended: what was gathered and how many nodes were asked; on timeout,
/// `Err` with what was gathered so far.
pub(super) type Gathered = Result<(Collected, usize), (ClusterError, Option<Collected>)>;

impl Requests {
    /// Sends a request (`send` gets its id) to `expected` other nodes and gathers one
    /// answer from each, for at most `timeout`.
    pub(super) async fn gather<F>(
        &self,
        expected: usize,
        empty: Collected,
        timeout: Duration,
        send: impl FnOnce(String) -> F,
    ) -> Gathered
    where
        F: Future<Output = Result<(), ClusterError>>,
    {
        if expected == 0 {
            return Ok((empty, 0));
        }
        let id = random_id(12);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id.clone(),
            Pending {
                expected,
                answered: 0,
                collected: empty,
                done: Some(tx),
            },
        );
        // Removes the entry however this ends.
        struct Forget<'a>(&'a Requests, &'a str);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                lock(&self.0.pending).remove(self.1);
            }
        }
        let forget = Forget(self, &id);
        send(id.clone()).await.map_err(|e| (e, None))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(collected)) => Ok((collected, expected)),
            _ => {
                let partial = lock(&self.pending).remove(&id);
                drop(forget);
                let (answered, collected) = match partial {
                    Some(p) => (p.answered, Some(p.collected)),
                    None => (0, None),
                };
                Err((
                    ClusterError::Timeout {
                        timeout,
                        expected,
                        missing: expected.saturating_sub(answered),
                    },
                    collected,
                ))
            }
        }
    }

    /// One node's answer to request `id`: `add` adds it to what was gathered. Ignored when
    /// the request is not this node's, or timed out.
    pub(super) fn answer(&self, id: &str, add: impl FnOnce(&mut Collected)) {
        let mut pending = lock(&self.pending);
        let Some(request) = pending.get_mut(id) else {
            return;
        };
        request.answered += 1;
        add(&mut request.collected);
        if request.answered >= request.expected {
            if let Some(mut request) = pending.remove(id) {
                if let Some(done) = request.done.take() {
                    let collected =
                        std::mem::replace(&mut request.collected, Collected::Answers(Vec::new()));
                    let _ = done.send(collected);
                }
            }
        }
    }

    /// Where the acks of this node's broadcast `id` go, until `timeout` (when their
    /// receiver stops waiting too).
    pub(super) fn expect_acks(
        &self,
        id: String,
        sink: AckSink,
        timeout: Duration,
        tasks: &TaskTracker,
    ) {
        lock(&self.acks).insert(id.clone(), sink);
        let acks = Arc::clone(&self.acks);
        tasks.spawn(async move {
            tokio::time::sleep(timeout).await;
            lock(&acks).remove(&id);
        });
    }

    /// The sink of this node's broadcast with acks `id`, while it waits.
    pub(super) fn acks(&self, id: &str) -> Option<AckSink> {
        lock(&self.acks).get(id).cloned()
    }
}

/// A multiplexed command connection to Redis, made when first needed and again after a
/// failure, not more often than a backoff allows (so a Redis that is down costs each use
/// nothing).
pub(super) struct Commands {
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    max_reconnect_delay: Duration,
    /// `None` until connected, and after a failure.
    slot: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    reconnect_at: Mutex<Instant>,
    reconnect_delay: Mutex<Duration>,
}

impl Commands {
    pub(super) fn new(
        client: redis::Client,
        connect_timeout: Duration,
        response_timeout: Duration,
        max_reconnect_delay: Duration,
    ) -> Commands {
        Commands {
            client,
            config: redis::AsyncConnectionConfig::new()
                .set_connection_timeout(connect_timeout)
                .set_response_timeout(response_timeout),
            max_reconnect_delay,
            slot: tokio::sync::Mutex::new(None),
            reconnect_at: Mutex::new(Instant::now()),
            reconnect_delay: Mutex::new(Duration::ZERO),
        }
    }

    /// The connection, connecting if need be and the backoff allows.
    pub(super) async fn get(&self) -> Result<redis::aio::MultiplexedConnection, ClusterError> {
        let mut slot = self.slot.lock().await;
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        if Instant::now() < *lock(&self.reconnect_at) {
            return Err(ClusterError::Unavailable(
                "Redis is unreachable (waiting to reconnect)".into(),
            ));
        }
        match self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
        {
            Ok(conn) => {
                *lock(&self.reconnect_delay) = Duration::ZERO;
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Err(err) => {
                let mut delay = lock(&self.reconnect_delay);
                *delay = (*delay * 2).clamp(Duration::from_millis(100), self.max_reconnect_delay);
                *lock(&self.reconnect_at) = Instant::now() + *delay;
                Err(ClusterError::Unavailable(
                    format!("cannot connect to Redis: {err}").into(),
                ))
            }
        }
    }

    /// Forgets the connection after an error (or on close); the next use reconnects.
    pub(super) async fn failed(&self) {
        *self.slot.lock().await = None;
    }
}

/// The next message of a subscription; `None` once the connection is gone.
pub(super) async fn next_message(stream: &mut redis::aio::PubSubStream) -> Option<redis::Msg> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// What an adapter has done so far, counted as it goes, and when it last warned about
/// what it dropped.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) published: std::sync::atomic::AtomicU64,
    pub(super) dropped: std::sync::atomic::AtomicU64,
    pub(super) received: std::sync::atomic::AtomicU64,
    pub(super) malformed: std::sync::atomic::AtomicU64,
    pub(super) resubscribed: std::sync::atomic::AtomicU64,
    last_drop_warning: Mutex<Option<Instant>>,
    last_malformed_warning: Mutex<Option<Instant>>,
}

impl Stats {
    /// Counts `n` messages for other nodes that `adapter` dropped, and warns (at most once
    /// per [`WARNING_PERIOD`]).
    pub(super) fn count_dropped(&self, adapter: &str, n: usize, why: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.dropped.fetch_add(n as u64, Relaxed) + n as u64;
        if should_warn(&self.last_drop_warning) {
            tracing::warn!(total, "{adapter}: messages for other nodes dropped: {why}");
        }
    }

    /// Counts a message from another node that could not be read (`what`: where it came
    /// from), and warns (at most once per [`WARNING_PERIOD`]; the rest at debug level).
    pub(super) fn count_malformed(&self, adapter: &str, what: &str, err: &dyn std::fmt::Display) {
        use std::sync::atomic::Ordering::Relaxed;
        self.malformed.fetch_add(1, Relaxed);
        if should_warn(&self.last_malformed_warning) {
            tracing::warn!(what, %err, "{adapter}: dropped a message that could not be read");
        } else {
            tracing::debug!(what, %err, "{adapter}: dropped a message that could not be read");
        }
    }

    pub(super) fn snapshot(&self) -> super::RedisAdapterStats {
        use std::sync::atomic::Ordering::Relaxed;
        super::RedisAdapterStats {
            published: self.published.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            received: self.received.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            resubscribed: self.resubscribed.load(Relaxed),
        }
    }
}

/// The sockets a fetch request gathered.
pub(super) fn gathered_sockets(result: Gathered) -> Result<Vec<SocketDetails>, ClusterError> {
    match result {
        Ok((Collected::Sockets(sockets), _)) => Ok(sockets),
        Ok(_) => Ok(Vec::new()),
        Err((err, _)) => Err(err),
    }
}

/// The answers a server-side emit gathered; on timeout, as Node, the answers that came.
pub(super) fn gathered_answers(
    result: Gathered,
) -> Result<crate::live::cluster::ServerResponses, ClusterError> {
    use crate::live::cluster::ServerResponses;
    match result {
        Ok((Collected::Answers(responses), expected)) => Ok(ServerResponses {
            responses,
            expected,
        }),
        Ok((_, expected)) => Ok(ServerResponses {
            responses: Vec::new(),
            expected,
        }),
        Err((ClusterError::Timeout { expected, .. }, Some(Collected::Answers(responses)))) => {
            Ok(ServerResponses {
                responses,
                expected,
            })
        }
        Err((err, _)) => Err(err),
    }
}

/// Reconnection attempts of a long-lived connection (a subscription, a stream reader):
/// waits from 100 ms, doubling up to a maximum; the first failure in a row is a warning.
pub(super) struct Backoff {
    delay: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub(super) fn new(max: Duration) -> Backoff {
        Backoff {
            delay: Duration::from_millis(100),
            max,
            failures: 0,
        }
    }

    /// Failures in a row so far.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// Connected: the next failure starts over.
    pub(super) fn reset(&mut self) {
        self.delay = Duration::from_millis(100);
        self.failures = 0;
    }

    /// A failed attempt (`what` failed because of `why`): logs it, then waits; `false` if
    /// `stop` came first.
    pub(super) async fn wait(
        &mut self,
        what: &str,
        why: &str,
        stop: &tokio_util::sync::CancellationToken,
    ) -> bool {
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(%why, "redis: {what}; retrying");
        } else {
            tracing::debug!(%why, failures = self.failures, "redis: still {what}");
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(self.max);
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.cancelled() => false,
        }
    }
}
