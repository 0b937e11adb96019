//! [`RedisStreamsAdapter`]: a cluster on a Redis stream that also keeps connection state
//! recovery's history and sessions, so a client that drops may come back to any node. It
//! speaks the wire format of Node's `@socket.io/redis-streams-adapter` 0.3 (on
//! `socket.io-adapter`'s `ClusterAdapter` messages): Rust and Node nodes share one cluster
//! and recover each other's clients.
//!
//! - Broadcasts, joins, leaves and disconnects are entries of one stream (`socket.io`,
//!   `XADD MAXLEN ~ 10000`) with the fields `uid`, `nsp`, `type` (a decimal string) and
//!   `data` (JSON, or base64 msgpack when it carries binary). Every node reads the stream
//!   from where it was (`XREAD BLOCK`); a broadcast's offset is its entry id.
//! - Requests that wait for answers (fetch sockets, server-side emits, broadcasts with acks)
//!   go through pub/sub, msgpack, on `socket.io#<nsp>#`; answers on the asker's
//!   `socket.io#<nsp>#<uid>#`. The number of nodes is the subscribers of the first.
//! - A dropped socket's session is `SET sio:session:<pid> <base64 msgpack> PX <ttl>`; a
//!   client coming back takes it (`GET` + `DEL`) and reads what it missed with `XRANGE`.
//!
//! One difference from Node: this node delivers its own recoverable broadcasts when it
//! reads them back from the stream (Node delivers them once `XADD` answers). One reader
//! delivers everything in the stream's order, which is what lets a returning socket join
//! in step with it (see [`ClusterAdapter::replay`]): no broadcast is both replayed and
//! delivered live, none is neither.

use std::{
    collections::{HashMap, HashSet},
    sync::{atomic::Ordering, Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

mod format;

pub(crate) use format::fuzz_read;

use format::{
    broadcast_data, decode_data, encode_data, entries, entry_id, field, next_id, read_broadcast,
    request_id, rooms_of,
};

use super::{
    messages, msgpack,
    shared::{
        first_arg, gathered_answers, gathered_sockets, lock, next_message, open_client, Backoff,
        Collected, Commands, Requests, Stats,
    },
    RedisAdapterStats,
};
use crate::live::{
    cluster::{
        AckEvent, AckSink, ClusterAdapter, ClusterError, ClusterFuture, ClusterPacket, LocalNode,
        ServerReply, ServerResponses, SessionState, SocketDetails, Undelivered,
    },
    recovery::was_for,
    rooms::{BroadcastOptions, Room},
};

/// Message types (`MessageType` of `socket.io-adapter`'s cluster adapter).
mod kind {
    pub(super) const BROADCAST: u64 = 3;
    pub(super) const SOCKETS_JOIN: u64 = 4;
    pub(super) const SOCKETS_LEAVE: u64 = 5;
    pub(super) const DISCONNECT_SOCKETS: u64 = 6;
    pub(super) const FETCH_SOCKETS: u64 = 7;
    pub(super) const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub(super) const SERVER_SIDE_EMIT: u64 = 9;
    pub(super) const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub(super) const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub(super) const BROADCAST_ACK: u64 = 12;
}

/// How a [`RedisStreamsAdapter`] behaves. The defaults are Node's; start from them and set
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStreamsAdapterConfig {
    /// The stream every node writes and reads (Node's `streamName`).
    pub stream_name: String,
    /// Prefix of the pub/sub channels (Node's `channelPrefix`).
    pub channel_prefix: String,
    /// Prefix of the keys sessions are kept under (Node's `sessionKeyPrefix`).
    pub session_key_prefix: String,
    /// The stream is trimmed to about this many entries (Node's `maxLen`): the history a
    /// returning client can be given, for the whole cluster.
    pub max_len: usize,
    /// Entries read per round trip (Node's `readCount`).
    pub read_count: usize,
    /// How long one read waits for new entries (Node's `blockTimeInMs`).
    pub block_time: Duration,
    /// How long requests to other nodes wait for answers (5 s, as Node's).
    pub requests_timeout: Duration,
    /// Messages waiting to be written, at most; what does not fit is dropped (counted,
    /// logged), and a recoverable broadcast is then delivered on this node without offset.
    pub max_queued_messages: usize,
    /// How long connecting to Redis may take.
    pub connect_timeout: Duration,
    /// Longest wait between reconnection attempts (they start at 100 ms and double).
    pub max_reconnect_delay: Duration,
}

impl Default for RedisStreamsAdapterConfig {
    fn default() -> Self {
        RedisStreamsAdapterConfig {
            stream_name: "socket.io".to_owned(),
            channel_prefix: "socket.io".to_owned(),
            session_key_prefix: "sio:session:".to_owned(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            requests_timeout: Duration::from_secs(5),
            max_queued_messages: 16_384,
            connect_timeout: Duration::from_secs(2),
            max_reconnect_delay: Duration::from_secs(5),
        }
    }
}

/// A cluster adapter on a Redis stream, compatible with Node's
/// `@socket.io/redis-streams-adapter`, that keeps connection state recovery's history and
/// sessions in Redis: with recovery on, a client that drops may come back to any node.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use realtime_core::{config::Recovery, Realtime, RedisStreamsAdapter};
/// let rt = Realtime::builder()
///     .adapter(RedisStreamsAdapter::new("redis://127.0.0.1:6379")?)
///     .connection_state_recovery(Recovery::default())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStreamsAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamsAdapter")
            .field("uid", &self.inner.uid)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RedisStreamsAdapterConfig,
    client: redis::Client,
    /// This node's id in the cluster's messages (16 hex digits, as Node's).
    uid: String,
    node: OnceLock<LocalNode>,
    namespaces: Mutex<HashSet<Arc<str>>>,
    outbox: mpsc::Sender<Outgoing>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    subscription_changes: mpsc::UnboundedSender<(bool, Arc<str>)>,
    subscription_changes_rx: Mutex<Option<NamespaceChanges>>,
    commands: Commands,
    requests: Requests,
    /// The id of the last stream entry this node has passed. Entries are delivered, and
    /// returning sockets join, under this lock.
    position: Mutex<Option<String>>,
    /// Whether the stream is being read, and the subscription is up.
    reading: watch::Sender<Option<Result<(), Arc<str>>>>,
    subscribed: watch::Sender<Option<Result<(), Arc<str>>>>,
    stop: CancellationToken,
    tasks: TaskTracker,
    stats: Stats,
}

/// Namespaces to subscribe (`true`) or unsubscribe.
type NamespaceChanges = mpsc::UnboundedReceiver<(bool, Arc<str>)>;

/// What the writer sends to Redis, in order.
enum Outgoing {
    /// A stream entry; a recoverable broadcast of this node carries what delivers it here
    /// if it cannot be written.
    Entry {
        fields: [(&'static str, String); 4],
        undelivered: Option<Undelivered>,
    },
    Publish {
        channel: String,
        message: Vec<u8>,
    },
    Session {
        key: String,
        value: String,
        ttl: Duration,
    },
}

/// Messages written per round trip to Redis, at most.
const MAX_BATCH: usize = 256;
/// How long a returning client waits at most for this node to catch up with its offset.
const CATCH_UP: Duration = Duration::from_secs(3);
/// Entries read per `XRANGE` while replaying.
const REPLAY_PAGE: usize = 1_000;

impl RedisStreamsAdapter {
    /// An adapter for the Redis at `url`, with Node's defaults. Connects when the server is
    /// built, and again whenever a connection is lost.
    pub fn new(url: &str) -> Result<RedisStreamsAdapter, ClusterError> {
        RedisStreamsAdapter::with_config(url, RedisStreamsAdapterConfig::default())
    }

    /// An adapter for the Redis at `url`, configured.
    pub fn with_config(
        url: &str,
        config: RedisStreamsAdapterConfig,
    ) -> Result<RedisStreamsAdapter, ClusterError> {
        let client = open_client(url)?;
        let (outbox, outbox_rx) = mpsc::channel(config.max_queued_messages.max(1));
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let commands = Commands::new(
            client.clone(),
            config.connect_timeout,
            config.requests_timeout,
            config.max_reconnect_delay,
        );
        let uid: String = {
            use rand::Rng;
            let bytes: [u8; 8] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        Ok(RedisStreamsAdapter {
            inner: Arc::new(Inner {
                uid,
                config,
                client,
                node: OnceLock::new(),
                namespaces: Mutex::new(HashSet::new()),
                outbox,
                outbox_rx: Mutex::new(Some(outbox_rx)),
                subscription_changes: changes,
                subscription_changes_rx: Mutex::new(Some(changes_rx)),
                commands,
                requests: Requests::default(),
                position: Mutex::new(None),
                reading: watch::Sender::new(None),
                subscribed: watch::Sender::new(None),
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
                stats: Stats::default(),
            }),
        })
    }

    /// This node's id in the cluster's messages.
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// What the adapter has done so far (`resubscribed` counts re-established
    /// subscriptions and stream readers).
    pub fn stats(&self) -> RedisAdapterStats {
        self.inner.stats.snapshot()
    }
}

impl Inner {
    fn public_channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.config.channel_prefix)
    }

    fn private_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.config.channel_prefix)
    }

    fn queue(&self, message: Outgoing) {
        match self.outbox.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                self.dropped(
                    1,
                    "the write queue is full (Redis is slower than this node emits)",
                );
                if let Outgoing::Entry {
                    undelivered: Some(undelivered),
                    ..
                } = message
                {
                    undelivered();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues a stream entry.
    fn add_entry(&self, nsp: &str, kind: u64, data: String, undelivered: Option<Undelivered>) {
        self.queue(Outgoing::Entry {
            fields: [
                ("uid", self.uid.clone()),
                ("nsp", nsp.to_owned()),
                ("type", kind.to_string()),
                ("data", data),
            ],
            undelivered,
        });
    }

    /// A pub/sub message: msgpack `{uid, nsp, type, data}`.
    fn message(&self, nsp: &str, kind: u64, data: &Value, binary: &[Bytes]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        msgpack::write(
            &mut out,
            &json!({ "uid": self.uid, "nsp": nsp, "type": kind, "data": data }),
            binary,
        );
        out
    }

    fn dropped(&self, n: usize, why: &str) {
        self.stats.count_dropped("redis streams adapter", n, why);
    }

    fn malformed(&self, what: &str, err: &dyn std::fmt::Display) {
        self.stats
            .count_malformed("redis streams adapter", what, err);
    }

    /// Writes queued messages, a batch per round trip, in order.
    async fn run_writer(self: Arc<Self>, mut outbox: mpsc::Receiver<Outgoing>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let n = tokio::select! {
                n = outbox.recv_many(&mut batch, MAX_BATCH) => n,
                _ = self.stop.cancelled() => break,
            };
            if n == 0 {
                break;
            }
            let written = match self.commands.get().await {
                Ok(mut conn) => {
                    let mut pipe = redis::pipe();
                    for m in &batch {
                        match m {
                            Outgoing::Entry { fields, .. } => {
                                let cmd = pipe
                                    .cmd("XADD")
                                    .arg(&self.config.stream_name)
                                    .arg("MAXLEN")
                                    .arg("~")
                                    .arg(self.config.max_len)
                                    .arg("*");
                                for (k, v) in fields {
                                    cmd.arg(*k).arg(v);
                                }
                                cmd.ignore();
                            }
                            Outgoing::Publish { channel, message } => {
                                pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
                            }
                            Outgoing::Session { key, value, ttl } => {
                                pipe.cmd("SET")
                                    .arg(key)
                                    .arg(value)
                                    .arg("PX")
                                    .arg(ttl.as_millis().max(1) as u64)
                                    .ignore();
                            }
                        }
                    }
                    match pipe.query_async::<()>(&mut conn).await {
                        Ok(()) => Ok(()),
                        Err(err) => {
                            self.commands.failed().await;
                            Err(format!("writing failed: {err}"))
                        }
                    }
                }
                Err(err) => Err(err.to_string()),
            };
            match written {
                Ok(()) => {
                    self.stats.published.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(why) => {
                    self.dropped(n, &why);
                    for m in batch.drain(..) {
                        if let Outgoing::Entry {
                            undelivered: Some(undelivered),
                            ..
                        } = m
                        {
                            undelivered();
                        }
                    }
                }
            }
            batch.clear();
        }
    }

    /// Reads the stream from where this node was, and delivers each entry: the stream's
    /// order is the order of everything delivered here.
    async fn run_reader(self: Arc<Self>) {
        let mut backoff = Backoff::new(self.config.max_reconnect_delay);
        let mut read_before = false;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.config.connect_timeout)
            .set_response_timeout(self.config.block_time + self.config.connect_timeout);
        while !self.stop.is_cancelled() {
            let attempt = async {
                let mut conn = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                if lock(&self.position).is_none() {
                    // From the end as it is now: what came before is history.
                    let last: redis::Value = redis::cmd("XREVRANGE")
                        .arg(&self.config.stream_name)
                        .arg("+")
                        .arg("-")
                        .arg("COUNT")
                        .arg(1)
                        .query_async(&mut conn)
                        .await?;
                    let id = entries(last)
                        .into_iter()
                        .next()
                        .map(|(id, _)| id)
                        .unwrap_or_else(|| "0-0".to_owned());
                    *lock(&self.position) = Some(id);
                }
                redis::RedisResult::Ok(conn)
            };
            let mut conn = match tokio::time::timeout(self.config.connect_timeout, attempt).await {
                Ok(Ok(conn)) => conn,
                outcome => {
                    let why = match outcome {
                        Ok(Err(err)) => err.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    self.reading
                        .send_replace(Some(Err(format!("cannot read the stream: {why}").into())));
                    if !backoff
                        .wait(
                            "the streams adapter cannot read the stream",
                            &why,
                            &self.stop,
                        )
                        .await
                    {
                        break;
                    }
                    continue;
                }
            };
            if read_before {
                self.stats.resubscribed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    after_failures = backoff.failures(),
                    "redis streams adapter: reading the stream again"
                );
            }
            read_before = true;
            backoff.reset();
            self.reading.send_replace(Some(Ok(())));
            loop {
                let from = lock(&self.position).clone().unwrap_or_else(|| "0-0".into());
                let mut xread = redis::cmd("XREAD");
                xread
                    .arg("COUNT")
                    .arg(self.config.read_count)
                    .arg("BLOCK")
                    .arg(self.config.block_time.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&self.config.stream_name)
                    .arg(&from);
                let read = xread.query_async::<redis::Value>(&mut conn);
                let reply = tokio::select! {
                    reply = read => reply,
                    _ = self.stop.cancelled() => return,
                };
                match reply {
                    Ok(redis::Value::Nil) => {}
                    Ok(value) => self.on_read(value),
                    Err(err) => {
                        self.reading
                            .send_replace(Some(Err(
                                format!("lost the stream reader: {err}").into()
                            )));
                        tracing::warn!(%err, "redis streams adapter: lost the stream reader; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// An `XREAD` answer: `[[stream, entries]]` (RESP2) or `{stream: entries}` (RESP3).
    fn on_read(&self, value: redis::Value) {
        let streams: Vec<redis::Value> = match value {
            redis::Value::Array(streams) => streams
                .into_iter()
                .filter_map(|s| match s {
                    redis::Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                    _ => None,
                })
                .collect(),
            redis::Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
            _ => Vec::new(),
        };
        for stream in streams {
            for (id, fields) in entries(stream) {
                self.on_entry(&id, &fields);
            }
        }
    }

    /// Delivers one stream entry here, and moves this node's position past it.
    fn on_entry(&self, id: &str, fields: &HashMap<String, redis::Value>) {
        let mut position = lock(&self.position);
        *position = Some(id.to_owned());
        let Some(node) = self.node.get() else {
            return;
        };
        let (Some(uid), Some(nsp), Some(kind)) = (
            field(fields, "uid"),
            field(fields, "nsp"),
            field(fields, "type").and_then(|t| t.parse::<u64>().ok()),
        ) else {
            return;
        };
        if !lock(&self.namespaces).contains(nsp.as_str()) {
            return;
        }
        let own = uid == self.uid;
        if !own {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        let data = match field(fields, "data").map(|d| decode_data(&d)).transpose() {
            Ok(data) => data,
            Err(err) => return self.malformed("stream entry", &err),
        };
        let (data, binary) = data.unwrap_or((Value::Null, Vec::new()));
        match kind {
            kind::BROADCAST => {
                let (packet, opts, request_id) = match read_broadcast(&nsp, &data, &binary) {
                    Ok(parts) => parts,
                    Err(err) => return self.malformed("stream entry", &err),
                };
                // This node's own broadcasts were delivered here already, but for the
                // recoverable ones, which wait for their offset (see the module's docs).
                let waits_for_offset = node.recovers_in_cluster(&nsp) && !opts.volatile;
                if request_id.is_none() && (!own || waits_for_offset) {
                    node.broadcast_stored(&packet, &opts, id);
                }
            }
            _ if own => {}
            kind::SOCKETS_JOIN => {
                let opts = messages::options(data.get("opts").unwrap_or(&Value::Null));
                node.add_sockets(&nsp, &opts, &rooms_of(&data));
            }
            kind::SOCKETS_LEAVE => {
                let opts = messages::options(data.get("opts").unwrap_or(&Value::Null));
                node.del_sockets(&nsp, &opts, &rooms_of(&data));
            }
            kind::DISCONNECT_SOCKETS => {
                let opts = messages::options(data.get("opts").unwrap_or(&Value::Null));
                let close = data.get("close").and_then(Value::as_bool) == Some(true);
                node.disconnect_sockets(&nsp, &opts, close);
            }
            _ => {}
        }
        drop(position);
    }

    /// Keeps the pub/sub subscription up: every namespace's public channel and this node's
    /// private one.
    async fn run_subscriber(self: Arc<Self>, mut changes: NamespaceChanges) {
        let mut backoff = Backoff::new(self.config.max_reconnect_delay);
        while !self.stop.is_cancelled() {
            let attempt = async {
                let pubsub = self.client.get_async_pubsub().await?;
                let (mut sink, stream) = pubsub.split();
                let all: Vec<Arc<str>> = lock(&self.namespaces).iter().cloned().collect();
                for nsp in &all {
                    sink.subscribe(&[
                        self.public_channel(nsp),
                        self.private_channel(nsp, &self.uid),
                    ])
                    .await?;
                }
                redis::RedisResult::Ok((sink, stream))
            };
            let (mut sink, mut stream) =
                match tokio::time::timeout(self.config.connect_timeout, attempt).await {
                    Ok(Ok(pair)) => pair,
                    outcome => {
                        let why = match outcome {
                            Ok(Err(err)) => err.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        self.subscribed
                            .send_replace(Some(Err(format!("cannot subscribe: {why}").into())));
                        if !backoff
                            .wait("the streams adapter cannot subscribe", &why, &self.stop)
                            .await
                        {
                            break;
                        }
                        continue;
                    }
                };
            while changes.try_recv().is_ok() {}
            backoff.reset();
            self.subscribed.send_replace(Some(Ok(())));
            let mut health = tokio::time::interval(Duration::from_secs(5));
            health.tick().await;
            loop {
                tokio::select! {
                    msg = next_message(&mut stream) => match msg {
                        Some(msg) => self.on_message(msg.get_payload_bytes()),
                        None => break,
                    },
                    change = changes.recv() => {
                        let result = match change {
                            Some((add, nsp)) => {
                                let channels = [self.public_channel(&nsp), self.private_channel(&nsp, &self.uid)];
                                if add { sink.subscribe(&channels).await } else { sink.unsubscribe(&channels).await }
                            }
                            None => Ok(()),
                        };
                        if result.is_err() {
                            break;
                        }
                    }
                    _ = health.tick() => {
                        let ping = tokio::time::timeout(
                            self.config.connect_timeout,
                            sink.ping::<redis::Value>(),
                        ).await;
                        if !matches!(ping, Ok(Ok(_))) {
                            break;
                        }
                    }
                    _ = self.stop.cancelled() => return,
                }
            }
            self.subscribed
                .send_replace(Some(Err("lost the subscription".into())));
            tracing::warn!("redis streams adapter: lost the subscription; reconnecting");
        }
    }

    /// Publishes an answer on the asking node's private channel.
    fn respond(&self, nsp: &str, to: &str, kind: u64, data: &Value, binary: &[Bytes]) {
        let message = self.message(nsp, kind, data, binary);
        self.queue(Outgoing::Publish {
            channel: self.private_channel(nsp, to),
            message,
        });
    }

    /// A pub/sub message: a request of another node, or an answer to one of ours.
    fn on_message(self: &Arc<Self>, bytes: &[u8]) {
        let Some(node) = self.node.get() else {
            return;
        };
        let (message, binary) = match msgpack::decode(bytes) {
            Ok(m) => m,
            Err(err) => return self.malformed("pub/sub message", &err),
        };
        let uid = message.get("uid").and_then(Value::as_str).unwrap_or("");
        if uid == self.uid {
            return;
        }
        let (Some(nsp), Some(kind)) = (
            message.get("nsp").and_then(Value::as_str),
            message.get("type").and_then(Value::as_u64),
        ) else {
            return self.malformed("pub/sub message", &"without nsp or type");
        };
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let data = message.get("data").unwrap_or(&Value::Null);
        let id = request_id(data);
        match kind {
            kind::BROADCAST => {
                let (packet, opts, Some(id)) = (match read_broadcast(nsp, data, &binary) {
                    Ok(parts) => parts,
                    Err(err) => return self.malformed("pub/sub message", &err),
                }) else {
                    return;
                };
                let timeout = data
                    .pointer("/opts/flags/timeout")
                    .and_then(Value::as_u64)
                    .map(Duration::from_millis)
                    .unwrap_or(self.config.requests_timeout);
                let (count, mut acks) = node.broadcast_with_ack(&packet, &opts, timeout);
                self.respond(
                    nsp,
                    uid,
                    kind::BROADCAST_CLIENT_COUNT,
                    &json!({ "requestId": id, "clientCount": count }),
                    &[],
                );
                if count > 0 {
                    let me = self.clone();
                    let (nsp, uid) = (nsp.to_owned(), uid.to_owned());
                    self.tasks.spawn(async move {
                        while let Some(event) = acks.recv().await {
                            if let AckEvent::Response(ack) = event {
                                let arg = first_arg(&ack);
                                me.respond(
                                    &nsp,
                                    &uid,
                                    kind::BROADCAST_ACK,
                                    &json!({ "requestId": id, "packet": arg }),
                                    ack.binary(),
                                );
                            }
                        }
                    });
                }
            }
            kind::FETCH_SOCKETS => {
                let opts = messages::options(data.get("opts").unwrap_or(&Value::Null));
                let sockets = node.fetch_sockets(nsp, &opts);
                self.respond(
                    nsp,
                    uid,
                    kind::FETCH_SOCKETS_RESPONSE,
                    &json!({ "requestId": id, "sockets": sockets }),
                    &[],
                );
            }
            kind::SERVER_SIDE_EMIT => {
                let Some(args) = data.get("packet").and_then(Value::as_array) else {
                    return self.malformed("pub/sub message", &"server-side emit without a packet");
                };
                let packet = match messages::event_packet(nsp, args, &binary) {
                    Ok(p) => p,
                    Err(err) => return self.malformed("pub/sub message", &err),
                };
                let reply = id.map(|id| {
                    let me = self.clone();
                    let (nsp, uid) = (nsp.to_owned(), uid.to_owned());
                    let reply: ServerReply = Box::new(move |answer| {
                        let arg = first_arg(&answer);
                        me.respond(
                            &nsp,
                            &uid,
                            kind::SERVER_SIDE_EMIT_RESPONSE,
                            &json!({ "requestId": id, "packet": arg }),
                            answer.binary(),
                        );
                    });
                    reply
                });
                node.server_side_emit(packet, reply);
            }
            kind::FETCH_SOCKETS_RESPONSE | kind::SERVER_SIDE_EMIT_RESPONSE => {
                let Some(id) = id else { return };
                self.requests.answer(&id, |collected| match collected {
                    Collected::Sockets(sockets) => {
                        if let Some(list) = data.get("sockets").and_then(Value::as_array) {
                            sockets.extend(list.iter().filter_map(|s| {
                                serde_json::from_value::<SocketDetails>(s.clone()).ok()
                            }));
                        }
                    }
                    Collected::Answers(answers) => answers.push(messages::payload_with_binary(
                        vec![data.get("packet").cloned().unwrap_or(Value::Null)],
                        &binary,
                    )),
                    Collected::Rooms(_) => {}
                });
            }
            kind::BROADCAST_CLIENT_COUNT | kind::BROADCAST_ACK => {
                let Some(sink) = id.and_then(|id| self.requests.acks(&id)) else {
                    return;
                };
                let _ = sink.send(if kind == kind::BROADCAST_CLIENT_COUNT {
                    let n = data.get("clientCount").and_then(Value::as_u64).unwrap_or(0);
                    AckEvent::Clients(n as usize)
                } else {
                    AckEvent::Response(messages::payload_with_binary(
                        vec![data.get("packet").cloned().unwrap_or(Value::Null)],
                        &binary,
                    ))
                });
            }
            _ => {}
        }
    }

    /// How many nodes serve `nsp`: subscribers of its public channel.
    async fn server_count(&self, nsp: &str) -> Result<usize, ClusterError> {
        let mut conn = self.commands.get().await?;
        let result: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(self.public_channel(nsp))
            .query_async(&mut conn)
            .await;
        match result {
            Ok((_, n)) => Ok(n),
            Err(err) => {
                self.commands.failed().await;
                Err(ClusterError::Unavailable(
                    format!("cannot count nodes: {err}").into(),
                ))
            }
        }
    }

    /// Asks the other nodes of `nsp` (`data` gets the request id) and gathers their answers.
    async fn request(
        self: &Arc<Self>,
        nsp: &str,
        kind: u64,
        empty: Collected,
        data: impl FnOnce(&str) -> (Value, Vec<Bytes>),
    ) -> super::shared::Gathered {
        let expected = self
            .server_count(nsp)
            .await
            .map_err(|e| (e, None))?
            .saturating_sub(1);
        let channel = self.public_channel(nsp);
        self.requests
            .gather(expected, empty, self.config.requests_timeout, |id| {
                let (data, binary) = data(&id);
                let message = self.message(nsp, kind, &data, &binary);
                async move {
                    self.outbox
                        .send(Outgoing::Publish { channel, message })
                        .await
                        .map_err(|_| ClusterError::Unavailable("the adapter is closed".into()))
                }
            })
            .await
    }

    /// Waits (a few seconds at most) until this node has delivered the entry `offset`.
    async fn caught_up(&self, offset: &str) {
        let Some(target) = entry_id(offset) else {
            return;
        };
        let deadline = Instant::now() + CATCH_UP;
        loop {
            let at = lock(&self.position).as_deref().and_then(entry_id);
            if at.is_some_and(|at| at >= target) {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(offset, "redis streams adapter: this node is behind a returning client's offset; it may see some broadcasts twice");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The broadcasts of `nsp` after `after` up to `until` that a socket in `rooms` would
    /// have received, each with its offset appended.
    async fn read_missed(
        &self,
        nsp: &str,
        rooms: &[Room],
        after: &str,
        until: Option<&str>,
    ) -> Vec<ClusterPacket> {
        let mut missed = Vec::new();
        let (Some(mut from), Some(until)) = (next_id(after), until) else {
            return missed;
        };
        let Some(end) = entry_id(until) else {
            return missed;
        };
        // At most the whole stream (and a margin for trimming being approximate).
        let mut budget = self.config.max_len.saturating_mul(2).max(REPLAY_PAGE);
        while entry_id(&from).is_some_and(|f| f <= end) && budget > 0 {
            let page = async {
                let mut conn = self.commands.get().await.map_err(|e| e.to_string())?;
                redis::cmd("XRANGE")
                    .arg(&self.config.stream_name)
                    .arg(&from)
                    .arg(until)
                    .arg("COUNT")
                    .arg(REPLAY_PAGE)
                    .query_async::<redis::Value>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            };
            let page = match page.await {
                Ok(page) => entries(page),
                Err(err) => {
                    tracing::warn!(%err, "redis streams adapter: cannot read what a returning client missed");
                    break;
                }
            };
            let Some(last) = page.last().map(|(id, _)| id.clone()) else {
                break;
            };
            budget = budget.saturating_sub(page.len());
            for (id, fields) in &page {
                if field(fields, "nsp").as_deref() != Some(nsp)
                    || field(fields, "type").as_deref() != Some("3")
                {
                    continue;
                }
                let Some(Ok((data, binary))) = field(fields, "data").map(|d| decode_data(&d))
                else {
                    continue;
                };
                let Ok((packet, opts, None)) = read_broadcast(nsp, &data, &binary) else {
                    continue;
                };
                if opts.volatile || !was_for(rooms, &opts.rooms, &opts.except) {
                    continue;
                }
                let Ok(payload) = packet.payload.clone().arg(id.as_str()) else {
                    continue;
                };
                missed.push(ClusterPacket { payload, ..packet });
            }
            match next_id(&last) {
                Some(next) if page.len() == REPLAY_PAGE => from = next,
                _ => break,
            }
        }
        missed
    }
}

impl ClusterAdapter for RedisStreamsAdapter {
    fn start(&self, node: LocalNode) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let (Some(outbox), Some(changes)) = (
            lock(&inner.outbox_rx).take(),
            lock(&inner.subscription_changes_rx).take(),
        ) else {
            return Err(ClusterError::Unavailable(
                "this RedisStreamsAdapter is already used by a server; make one per server".into(),
            ));
        };
        lock(&inner.namespaces).extend(node.namespaces());
        let _ = inner.node.set(node);
        inner.tasks.spawn(inner.clone().run_writer(outbox));
        inner.tasks.spawn(inner.clone().run_reader());
        inner.tasks.spawn(inner.clone().run_subscriber(changes));
        Ok(())
    }

    fn ready(&self) -> ClusterFuture<Result<(), ClusterError>> {
        let mut reading = self.inner.reading.subscribe();
        let mut subscribed = self.inner.subscribed.subscribe();
        let timeout = self.inner.config.requests_timeout;
        Box::pin(async move {
            let both = async {
                for state in [&mut reading, &mut subscribed] {
                    let settled = state.wait_for(|s| s.is_some()).await;
                    match settled.as_deref().cloned() {
                        Ok(Some(Ok(()))) => {}
                        Ok(Some(Err(why))) => return Err(ClusterError::Unavailable(why)),
                        _ => {
                            return Err(ClusterError::Unavailable("the adapter has stopped".into()))
                        }
                    }
                }
                Ok(())
            };
            match tokio::time::timeout(timeout, both).await {
                Ok(result) => result,
                Err(_) => Err(ClusterError::Unavailable(
                    format!("not connected to Redis within {timeout:?}").into(),
                )),
            }
        })
    }

    fn close(&self) -> ClusterFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner.stop.cancel();
            inner.tasks.close();
            let _ = tokio::time::timeout(inner.config.connect_timeout, inner.tasks.wait()).await;
            inner.commands.failed().await;
        })
    }

    fn add_namespace(&self, nsp: &str) {
        let nsp: Arc<str> = nsp.into();
        lock(&self.inner.namespaces).insert(nsp.clone());
        let _ = self.inner.subscription_changes.send((true, nsp));
    }

    fn remove_namespace(&self, nsp: &str) {
        if lock(&self.inner.namespaces).remove(nsp) {
            let _ = self.inner.subscription_changes.send((false, nsp.into()));
        }
    }

    fn broadcast(&self, packet: &ClusterPacket, opts: &BroadcastOptions) {
        let data = broadcast_data(packet, opts, messages::flags(opts));
        let data = encode_data(&data, packet.payload.binary());
        self.inner
            .add_entry(&packet.nsp, kind::BROADCAST, data, None);
    }

    fn broadcast_with_ack(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
        acks: AckSink,
    ) {
        let inner = &self.inner;
        let id = super::shared::random_id(12);
        inner
            .requests
            .expect_acks(id.clone(), acks, timeout, &inner.tasks);
        let mut flags = messages::flags(opts);
        flags["timeout"] = json!(timeout.as_millis() as u64);
        let mut data = broadcast_data(packet, opts, flags);
        data["requestId"] = json!(id);
        let message = inner.message(&packet.nsp, kind::BROADCAST, &data, packet.payload.binary());
        inner.queue(Outgoing::Publish {
            channel: inner.public_channel(&packet.nsp),
            message,
        });
    }

    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        let data = json!({ "opts": messages::options_value(opts, json!({})), "rooms": rooms });
        self.inner
            .add_entry(nsp, kind::SOCKETS_JOIN, data.to_string(), None);
    }

    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        let data = json!({ "opts": messages::options_value(opts, json!({})), "rooms": rooms });
        self.inner
            .add_entry(nsp, kind::SOCKETS_LEAVE, data.to_string(), None);
    }

    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        let data = json!({ "opts": messages::options_value(opts, json!({})), "close": close });
        self.inner
            .add_entry(nsp, kind::DISCONNECT_SOCKETS, data.to_string(), None);
    }

    fn fetch_sockets(
        &self,
        nsp: &str,
        opts: &BroadcastOptions,
    ) -> ClusterFuture<Result<Vec<SocketDetails>, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = nsp.to_owned();
        let opts = messages::options_value(opts, json!({}));
        Box::pin(async move {
            let result = inner
                .request(
                    &nsp,
                    kind::FETCH_SOCKETS,
                    Collected::Sockets(Vec::new()),
                    |id| (json!({ "opts": opts, "requestId": id }), Vec::new()),
                )
                .await;
            gathered_sockets(result)
        })
    }

    /// Node's cluster adapter has no message for this: the rooms of other nodes are not
    /// known (as with Node's streams adapter, `all_rooms` lists this node's).
    fn all_rooms(&self, _nsp: &str) -> ClusterFuture<Result<Vec<Room>, ClusterError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn server_side_emit(&self, packet: &ClusterPacket) {
        let inner = &self.inner;
        let data = json!({ "packet": messages::packet_data(packet) });
        let message = inner.message(
            &packet.nsp,
            kind::SERVER_SIDE_EMIT,
            &data,
            packet.payload.binary(),
        );
        inner.queue(Outgoing::Publish {
            channel: inner.public_channel(&packet.nsp),
            message,
        });
    }

    fn server_side_emit_with_ack(
        &self,
        packet: &ClusterPacket,
    ) -> ClusterFuture<Result<ServerResponses, ClusterError>> {
        let inner = self.inner.clone();
        let packet = packet.clone();
        Box::pin(async move {
            let result = inner
                .request(
                    &packet.nsp,
                    kind::SERVER_SIDE_EMIT,
                    Collected::Answers(Vec::new()),
                    |id| {
                        (
                            json!({ "requestId": id, "packet": messages::packet_data(&packet) }),
                            packet.payload.binary().to_vec(),
                        )
                    },
                )
                .await;
            gathered_answers(result)
        })
    }

    fn server_count(&self, nsp: &str) -> ClusterFuture<Result<usize, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = nsp.to_owned();
        Box::pin(async move { inner.server_count(&nsp).await })
    }

    fn stores_sessions(&self) -> bool {
        true
    }

    fn broadcast_stored(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        undelivered: Undelivered,
    ) {
        let data = broadcast_data(packet, opts, messages::flags(opts));
        let data = encode_data(&data, packet.payload.binary());
        self.inner
            .add_entry(&packet.nsp, kind::BROADCAST, data, Some(undelivered));
    }

    fn save_session(&self, _nsp: &str, session: SessionState, ttl: Duration) {
        let inner = &self.inner;
        let mut out = Vec::with_capacity(64);
        let value = serde_json::to_value(&session).unwrap_or(Value::Null);
        msgpack::write(&mut out, &value, &[]);
        inner.queue(Outgoing::Session {
            key: format!("{}{}", inner.config.session_key_prefix, session.pid),
            value: base64::engine::general_purpose::STANDARD.encode(out),
            ttl,
        });
    }

    fn restore_session(
        &self,
        _nsp: &str,
        pid: &str,
        offset: &str,
    ) -> ClusterFuture<Option<SessionState>> {
        let inner = self.inner.clone();
        let key = format!("{}{pid}", inner.config.session_key_prefix);
        let offset = offset.to_owned();
        Box::pin(async move {
            entry_id(&offset)?;
            let mut conn = inner.commands.get().await.ok()?;
            let (session,): (Option<String>,) = redis::pipe()
                .atomic()
                .get(&key)
                .del(&key)
                .ignore()
                .query_async(&mut conn)
                .await
                .ok()?;
            let kept: redis::Value = redis::cmd("XRANGE")
                .arg(&inner.config.stream_name)
                .arg(&offset)
                .arg(&offset)
                .query_async(&mut conn)
                .await
                .ok()?;
            if entries(kept).is_empty() {
                tracing::debug!(
                    offset,
                    "redis streams adapter: a returning client's offset is no longer in the stream"
                );
                return None;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(session?)
                .ok()?;
            let (value, _) = msgpack::decode(&bytes).ok()?;
            serde_json::from_value(value).ok()
        })
    }

    fn replay(
        &self,
        nsp: &str,
        rooms: &[Room],
        after: &str,
        join: Box<dyn FnOnce() + Send>,
    ) -> ClusterFuture<Vec<ClusterPacket>> {
        let inner = self.inner.clone();
        let (nsp, rooms, after) = (nsp.to_owned(), rooms.to_vec(), after.to_owned());
        Box::pin(async move {
            // The client may have come from a node further ahead in the stream: what this
            // node has not delivered yet up to its offset, it already has.
            inner.caught_up(&after).await;
            let until = {
                let position = lock(&inner.position);
                join();
                position.clone()
            };
            inner
                .read_missed(&nsp, &rooms, &after, until.as_deref())
                .await
        })
    }
}
