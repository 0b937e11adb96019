//! [`RedisAdapter`]: a cluster on Redis pub/sub that speaks the wire format of Node's
//! `@socket.io/redis-adapter` 8.x, so Rust and Node nodes share one cluster (and
//! `@socket.io/redis-emitter` reaches both).
//!
//! Two connections per node: a subscriber (one pattern per namespace for broadcasts, the
//! namespace's request and response channels) and a multiplexed command connection that
//! publishes and counts nodes (`PUBSUB NUMSUB` on the request channel, as Node does). Each
//! reconnects by itself; see [`crate::docs::cluster`] for what is lost while one is down.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc, Mutex, OnceLock},
    time::Duration,
};

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    messages::{self, kind, Channels, Parser},
    shared::{
        gathered_answers, gathered_sockets, lock, next_message, open_client, random_id, Backoff,
        Collected, Commands, Gathered, Requests, Stats,
    },
};
use crate::{
    live::{
        cluster::{
            AckEvent, AckSink, ClusterAdapter, ClusterError, ClusterFuture, ClusterPacket,
            LocalNode, ServerReply, ServerResponses, SocketDetails,
        },
        rooms::{BroadcastOptions, Room},
    },
    wire::payload::Payload,
};

/// How a [`RedisAdapter`] behaves. The defaults are Node's; start from them and set fields:
///
/// ```
/// let mut config = realtime_core::cluster::RedisAdapterConfig::default();
/// config.key = "my-app".into();
/// config.requests_timeout = std::time::Duration::from_secs(2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisAdapterConfig {
    /// Prefix of every channel (Node's `key`); nodes of one cluster share it.
    pub key: String,
    /// How long requests to other nodes (fetch sockets, all rooms, server-side emit with
    /// ack) wait for answers (Node's `requestsTimeout`, 5 s).
    pub requests_timeout: Duration,
    /// Answer requests on the requester's own channel (Node's
    /// `publishOnSpecificResponseChannel`): less traffic for every other node.
    pub publish_on_specific_response_channel: bool,
    /// How broadcasts are encoded (Node's `parser`): msgpack unless every Node node of the
    /// cluster was given a JSON parser.
    pub parser: Parser,
    /// Messages waiting to be published, at most. A node that emits faster than Redis takes
    /// them drops what does not fit (counted in [`RedisAdapterStats::dropped`], logged);
    /// local delivery is unaffected.
    pub max_queued_messages: usize,
    /// How long connecting to Redis may take.
    pub connect_timeout: Duration,
    /// Longest wait between reconnection attempts (they start at 100 ms and double).
    pub max_reconnect_delay: Duration,
    /// How often the subscription is checked with a PING (a connection that died silently
    /// is noticed within this plus `connect_timeout`).
    pub health_check_interval: Duration,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        RedisAdapterConfig {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            parser: Parser::MsgPack,
            max_queued_messages: 16_384,
            connect_timeout: Duration::from_secs(2),
            max_reconnect_delay: Duration::from_secs(5),
            health_check_interval: Duration::from_secs(5),
        }
    }
}

/// What the adapter has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisAdapterStats {
    /// Messages published to other nodes.
    pub published: u64,
    /// Messages for other nodes dropped: the queue was full, or Redis was unreachable.
    pub dropped: u64,
    /// Messages received from other nodes (this node's own not counted).
    pub received: u64,
    /// Messages from other nodes that could not be read (dropped, logged).
    pub malformed: u64,
    /// Times the subscription was re-established after it was lost.
    pub resubscribed: u64,
}

/// A cluster adapter on Redis pub/sub, compatible with Node's `@socket.io/redis-adapter`.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use realtime_core::{Realtime, RedisAdapter};
/// let rt = Realtime::builder()
///     .adapter(RedisAdapter::new("redis://127.0.0.1:6379")?)
///     .build()?;
/// rt.serve("0.0.0.0:3000").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.inner.uid)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RedisAdapterConfig,
    client: redis::Client,
    /// This node's id in the cluster's messages (6 random characters, as Node's).
    uid: String,
    node: OnceLock<LocalNode>,
    /// The namespaces served here, with their channels.
    namespaces: Mutex<HashMap<Arc<str>, Channels>>,
    outbox: mpsc::Sender<Outgoing>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    subscription_changes: mpsc::UnboundedSender<Change>,
    subscription_changes_rx: Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
    /// Publishes and counts nodes.
    commands: Commands,
    /// Requests waiting for answers; broadcasts with acks waiting for acks.
    requests: Requests,
    /// Whether the subscription is up, or why it is not.
    link: watch::Sender<Link>,
    stop: CancellationToken,
    tasks: TaskTracker,
    stats: Stats,
}

/// A message for the publisher.
struct Outgoing {
    channel: String,
    message: Vec<u8>,
}

/// A namespace to (un)subscribe.
enum Change {
    Add(Channels),
    Remove(Channels),
}

/// Messages published per round trip to Redis, at most.
const MAX_BATCH: usize = 256;
/// The state of the subscription, which [`ClusterAdapter::ready`] reports.
#[derive(Debug, Clone)]
enum Link {
    /// The first attempt is under way.
    Connecting,
    Up,
    /// Down, reconnecting; why.
    Down(Arc<str>),
    /// Closed for good.
    Closed(Arc<str>),
}

impl RedisAdapter {
    /// An adapter for the Redis at `url` (`redis://host:port/db`), with Node's defaults.
    /// Does not connect yet: that happens when the server is built, and again whenever the
    /// connection is lost.
    pub fn new(url: &str) -> Result<RedisAdapter, ClusterError> {
        RedisAdapter::with_config(url, RedisAdapterConfig::default())
    }

    /// An adapter for the Redis at `url`, configured.
    pub fn with_config(
        url: &str,
        config: RedisAdapterConfig,
    ) -> Result<RedisAdapter, ClusterError> {
        let client = open_client(url)?;
        let (outbox, outbox_rx) = mpsc::channel(config.max_queued_messages.max(1));
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let commands = Commands::new(
            client.clone(),
            config.connect_timeout,
            config.requests_timeout,
            config.max_reconnect_delay,
        );
        Ok(RedisAdapter {
            inner: Arc::new(Inner {
                uid: random_id(6),
                config,
                client,
                node: OnceLock::new(),
                namespaces: Mutex::new(HashMap::new()),
                outbox,
                outbox_rx: Mutex::new(Some(outbox_rx)),
                subscription_changes: changes,
                subscription_changes_rx: Mutex::new(Some(changes_rx)),
                commands,
                requests: Requests::default(),
                link: watch::Sender::new(Link::Connecting),
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
                stats: Stats::default(),
            }),
        })
    }

    /// An adapter for the Redis that the `REDIS_URL` environment variable names, if it is
    /// set: how the examples join a cluster with no other change.
    pub fn from_env() -> Option<Result<RedisAdapter, ClusterError>> {
        let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())?;
        Some(RedisAdapter::new(&url))
    }

    /// This node's id in the cluster's messages.
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// What the adapter has done so far.
    pub fn stats(&self) -> RedisAdapterStats {
        self.inner.stats.snapshot()
    }
}

impl Inner {
    fn channels(&self, nsp: &str) -> Channels {
        Channels::new(&self.config.key, nsp, &self.uid)
    }

    /// Queues a message without waiting: dropped (counted, logged) when the queue is full.
    fn publish(&self, channel: String, message: Vec<u8>) {
        match self.outbox.try_send(Outgoing { channel, message }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.dropped(
                1,
                "the publish queue is full (Redis is slower than this node emits)",
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues a message, waiting for room in the queue (for requests, which wait anyway).
    async fn publish_waiting(&self, channel: String, message: Vec<u8>) -> Result<(), ClusterError> {
        self.outbox
            .send(Outgoing { channel, message })
            .await
            .map_err(|_| ClusterError::Unavailable("the adapter is closed".into()))
    }

    fn dropped(&self, n: usize, why: &str) {
        self.stats.count_dropped("redis adapter", n, why);
    }

    fn malformed(&self, what: &str, err: &dyn std::fmt::Display) {
        self.stats.count_malformed("redis adapter", what, err);
    }

    /// Publishes queued messages, a batch per round trip, in order.
    async fn run_publisher(self: Arc<Self>, mut outbox: mpsc::Receiver<Outgoing>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let n = tokio::select! {
                n = outbox.recv_many(&mut batch, MAX_BATCH) => n,
                _ = self.stop.cancelled() => break,
            };
            if n == 0 {
                break;
            }
            match self.commands.get().await {
                Ok(mut conn) => {
                    let mut pipe = redis::pipe();
                    for m in &batch {
                        pipe.cmd("PUBLISH").arg(&m.channel).arg(&m.message).ignore();
                    }
                    match pipe.query_async::<()>(&mut conn).await {
                        Ok(()) => {
                            self.stats.published.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(err) => {
                            self.commands.failed().await;
                            self.dropped(n, &format!("publishing failed: {err}"));
                        }
                    }
                }
                Err(err) => self.dropped(n, &err.to_string()),
            }
            batch.clear();
        }
    }

    /// Subscribes to every namespace's channels on a fresh connection.
    async fn subscribe_all(
        &self,
    ) -> redis::RedisResult<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
        let pubsub = self.client.get_async_pubsub().await?;
        let (mut sink, stream) = pubsub.split();
        let all: Vec<Channels> = lock(&self.namespaces).values().cloned().collect();
        for channels in &all {
            subscribe(&mut sink, channels).await?;
        }
        Ok((sink, stream))
    }

    /// Keeps the subscription up: subscribes, reads, and on any failure reconnects with
    /// backoff and subscribes again.
    async fn run_subscriber(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<Change>) {
        let mut backoff = Backoff::new(self.config.max_reconnect_delay);
        let mut connected_before = false;
        while !self.stop.is_cancelled() {
            let attempt =
                tokio::time::timeout(self.config.connect_timeout, self.subscribe_all()).await;
            let (mut sink, mut stream) = match attempt {
                Ok(Ok(pair)) => pair,
                outcome => {
                    let why = match outcome {
                        Ok(Err(err)) => err.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    self.link
                        .send_replace(Link::Down(format!("cannot subscribe: {why}").into()));
                    if !backoff
                        .wait("the adapter cannot subscribe", &why, &self.stop)
                        .await
                    {
                        break;
                    }
                    continue;
                }
            };
            // Changes made while connecting are in the subscription already.
            while changes.try_recv().is_ok() {}
            if connected_before {
                self.stats.resubscribed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    after_failures = backoff.failures(),
                    "redis adapter: subscribed again"
                );
            } else {
                tracing::debug!(uid = %self.uid, "redis adapter: subscribed");
            }
            connected_before = true;
            backoff.reset();
            self.link.send_replace(Link::Up);
            let mut health = tokio::time::interval(self.config.health_check_interval);
            health.tick().await;
            loop {
                tokio::select! {
                    msg = next_message(&mut stream) => match msg {
                        Some(msg) => self.on_message(&msg),
                        None => break,
                    },
                    change = changes.recv() => {
                        let result = match change {
                            Some(Change::Add(c)) => subscribe(&mut sink, &c).await,
                            Some(Change::Remove(c)) => unsubscribe(&mut sink, &c).await,
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
            self.link
                .send_replace(Link::Down("lost the subscription".into()));
            tracing::warn!(
                "redis adapter: lost the subscription; what other nodes publish until it is back is lost; reconnecting"
            );
        }
    }

    /// A message on a subscribed channel.
    fn on_message(self: &Arc<Self>, msg: &redis::Msg) {
        let channel = msg.get_channel_name();
        let bytes = msg.get_payload_bytes();
        let pattern: Option<String> = msg.get_pattern().ok().flatten();
        let key = &self.config.key;
        if let Some(pattern) = pattern {
            // `<key>#<nsp>#*`: a broadcast.
            let Some(prefix) = pattern.strip_suffix('*') else {
                return;
            };
            let Some(nsp) = prefix
                .strip_prefix(key.as_str())
                .and_then(|p| p.strip_prefix('#'))
                .and_then(|p| p.strip_suffix('#'))
            else {
                return;
            };
            self.on_broadcast(nsp, prefix, channel, bytes);
        } else if let Some(rest) = channel
            .strip_prefix(key.as_str())
            .and_then(|c| c.strip_prefix("-request#"))
        {
            let nsp = rest.strip_suffix('#').unwrap_or(rest);
            self.on_request(nsp, channel, bytes);
        } else if channel
            .strip_prefix(key.as_str())
            .is_some_and(|c| c.starts_with("-response#"))
        {
            self.on_response(channel, bytes);
        }
    }

    fn on_broadcast(&self, nsp: &str, prefix: &str, channel: &str, bytes: &[u8]) {
        let Some(node) = self.node.get() else {
            return;
        };
        let room = channel
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix('#'))
            .unwrap_or("");
        // A room's own channel: skipped undecoded where the room has no member.
        if !room.is_empty() && !node.has_room(nsp, room) {
            return;
        }
        match messages::decode_broadcast(bytes, nsp) {
            Ok(b) if b.uid.as_deref() == Some(self.uid.as_str()) => {}
            Ok(b) => {
                self.stats.received.fetch_add(1, Ordering::Relaxed);
                node.broadcast(&b.packet, &b.opts);
            }
            Err(err) => self.malformed(channel, &err),
        }
    }

    /// Publishes an answer to `request` where its sender listens.
    fn respond(&self, nsp: &str, requester: Option<&str>, message: Vec<u8>) {
        let channels = self.channels(nsp);
        let channel = match requester {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", channels.response)
            }
            _ => channels.response,
        };
        self.publish(channel, message);
    }

    fn on_request(self: &Arc<Self>, nsp: &str, channel: &str, bytes: &[u8]) {
        let Some(node) = self.node.get() else {
            return;
        };
        let request = match messages::decode_request(bytes) {
            Ok(r) => r,
            Err(err) => return self.malformed(channel, &err),
        };
        if request.uid.as_deref() == Some(self.uid.as_str()) {
            return;
        }
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let requester = request.uid.as_deref();
        let id = request.request_id.clone();
        // Legacy requests about one socket: `{sid, room}`.
        let one_socket = || -> BroadcastOptions {
            BroadcastOptions {
                rooms: request.str("sid").map(Room::from).into_iter().collect(),
                ..BroadcastOptions::default()
            }
        };
        match request.kind {
            kind::SOCKETS => {
                let opts = BroadcastOptions {
                    rooms: request.rooms().into_iter().collect(),
                    ..BroadcastOptions::default()
                };
                let ids: Vec<String> = node
                    .fetch_sockets(nsp, &opts)
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                self.respond(
                    nsp,
                    requester,
                    messages::json_bytes(&json!({ "requestId": id, "sockets": ids })),
                );
            }
            kind::ALL_ROOMS => {
                let rooms: Vec<String> =
                    node.all_rooms(nsp).iter().map(|r| r.to_string()).collect();
                self.respond(
                    nsp,
                    requester,
                    messages::json_bytes(&json!({ "requestId": id, "rooms": rooms })),
                );
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                let join = request.kind == kind::REMOTE_JOIN;
                let (opts, rooms) = match request.opts() {
                    Some(opts) => (opts, request.rooms()),
                    None => (
                        one_socket(),
                        request.str("room").map(Room::from).into_iter().collect(),
                    ),
                };
                if join {
                    node.add_sockets(nsp, &opts, &rooms);
                } else {
                    node.del_sockets(nsp, &opts, &rooms);
                }
                if request.opts().is_none() {
                    self.respond(
                        nsp,
                        requester,
                        messages::json_bytes(&json!({ "requestId": id })),
                    );
                }
            }
            kind::REMOTE_DISCONNECT => match request.opts() {
                Some(opts) => node.disconnect_sockets(nsp, &opts, request.close()),
                None => {
                    node.disconnect_sockets(nsp, &one_socket(), request.close());
                    self.respond(
                        nsp,
                        requester,
                        messages::json_bytes(&json!({ "requestId": id })),
                    );
                }
            },
            kind::REMOTE_FETCH => {
                let opts = request.opts().unwrap_or_default();
                let sockets = node.fetch_sockets(nsp, &opts);
                self.respond(
                    nsp,
                    requester,
                    messages::json_bytes(&json!({ "requestId": id, "sockets": sockets })),
                );
            }
            kind::SERVER_SIDE_EMIT => {
                let packet = match request.server_side_packet(nsp) {
                    Ok(p) => p,
                    Err(err) => return self.malformed(channel, &err),
                };
                let reply = id.map(|id| {
                    let me = self.clone();
                    let nsp = nsp.to_owned();
                    // Node answers server-side emits on the shared response channel.
                    let reply: ServerReply = Box::new(move |answer: Payload| {
                        me.publish(
                            me.channels(&nsp).response,
                            messages::encode_server_side_answer(&id, &answer),
                        );
                    });
                    reply
                });
                node.server_side_emit(packet, reply);
            }
            kind::BROADCAST => {
                let Some(id) = id else {
                    return self.malformed(channel, &"broadcast with acks without a requestId");
                };
                let (packet, opts, timeout) = match request.broadcast(nsp) {
                    Ok(parts) => parts,
                    Err(err) => return self.malformed(channel, &err),
                };
                let timeout = timeout.unwrap_or(self.config.requests_timeout);
                let (count, mut acks) = node.broadcast_with_ack(&packet, &opts, timeout);
                self.respond(
                    nsp,
                    requester,
                    messages::json_bytes(&json!({
                        "type": kind::BROADCAST_CLIENT_COUNT,
                        "requestId": id,
                        "clientCount": count,
                    })),
                );
                if count > 0 {
                    let me = self.clone();
                    let nsp = nsp.to_owned();
                    let requester = requester.map(str::to_owned);
                    self.tasks.spawn(async move {
                        while let Some(event) = acks.recv().await {
                            if let AckEvent::Response(ack) = event {
                                let message =
                                    messages::encode_broadcast_ack(me.config.parser, &id, &ack);
                                me.respond(&nsp, requester.as_deref(), message);
                            }
                        }
                    });
                }
            }
            other => tracing::debug!(
                kind = other,
                "redis adapter: ignoring a request of unknown type"
            ),
        }
    }

    fn on_response(&self, channel: &str, bytes: &[u8]) {
        let response = match messages::decode_response(bytes) {
            Ok(r) => r,
            Err(err) => return self.malformed(channel, &err),
        };
        if let Some(sink) = self.requests.acks(&response.request_id) {
            match response.kind {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    let n = response
                        .body
                        .get("clientCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    let _ = sink.send(AckEvent::Clients(n as usize));
                }
                Some(kind::BROADCAST_ACK) => {
                    let _ = sink.send(AckEvent::Response(response.payload("packet")));
                }
                _ => {}
            }
            return;
        }
        self.requests
            .answer(&response.request_id, |collected| match collected {
                Collected::Sockets(sockets) => {
                    if let Some(list) = response.body.get("sockets").and_then(Value::as_array) {
                        sockets.extend(list.iter().filter_map(|s| {
                            serde_json::from_value::<SocketDetails>(s.clone()).ok()
                        }));
                    }
                }
                Collected::Rooms(rooms) => {
                    if let Some(list) = response.body.get("rooms").and_then(Value::as_array) {
                        rooms.extend(list.iter().filter_map(|r| match r {
                            Value::String(s) => Some(Room::from(s.as_str())),
                            Value::Number(n) => Some(Room::from(n.to_string())),
                            _ => None,
                        }));
                    }
                }
                Collected::Answers(answers) => answers.push(response.payload("data")),
            });
    }

    /// How many nodes serve `nsp`: subscribers of its request channel.
    async fn server_count(&self, nsp: &str) -> Result<usize, ClusterError> {
        let mut conn = self.commands.get().await?;
        let channel = self.channels(nsp).request;
        let result: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
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

    /// Sends a request to the other nodes of `nsp` and gathers one answer from each.
    async fn request(
        self: &Arc<Self>,
        nsp: &str,
        empty: Collected,
        message: impl FnOnce(&str) -> Vec<u8>,
    ) -> Gathered {
        let expected = self
            .server_count(nsp)
            .await
            .map_err(|e| (e, None))?
            .saturating_sub(1);
        let channel = self.channels(nsp).request;
        let timeout = self.config.requests_timeout;
        self.requests
            .gather(expected, empty, timeout, |id| {
                self.publish_waiting(channel, message(&id))
            })
            .await
    }
}

/// Subscribes to one namespace's channels.
async fn subscribe(sink: &mut redis::aio::PubSubSink, c: &Channels) -> redis::RedisResult<()> {
    sink.psubscribe(c.broadcast_pattern()).await?;
    sink.subscribe(&[&c.request, &c.response, &c.specific_response])
        .await
}

async fn unsubscribe(sink: &mut redis::aio::PubSubSink, c: &Channels) -> redis::RedisResult<()> {
    sink.punsubscribe(c.broadcast_pattern()).await?;
    sink.unsubscribe(&[&c.request, &c.response, &c.specific_response])
        .await
}

impl ClusterAdapter for RedisAdapter {
    fn start(&self, node: LocalNode) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let (Some(outbox), Some(changes)) = (
            lock(&inner.outbox_rx).take(),
            lock(&inner.subscription_changes_rx).take(),
        ) else {
            return Err(ClusterError::Unavailable(
                "this RedisAdapter is already used by a server; make one per server".into(),
            ));
        };
        {
            let mut namespaces = lock(&inner.namespaces);
            for nsp in node.namespaces() {
                let channels = inner.channels(&nsp);
                namespaces.insert(nsp, channels);
            }
        }
        let _ = inner.node.set(node);
        inner.tasks.spawn(inner.clone().run_publisher(outbox));
        inner.tasks.spawn(inner.clone().run_subscriber(changes));
        Ok(())
    }

    fn ready(&self) -> ClusterFuture<Result<(), ClusterError>> {
        let mut link = self.inner.link.subscribe();
        let timeout = self.inner.config.requests_timeout;
        Box::pin(async move {
            // Up, or the first attempt failed (say, connection refused): no need to wait
            // out the timeout to know.
            let settled = link.wait_for(|l| !matches!(l, Link::Connecting));
            match tokio::time::timeout(timeout, settled).await {
                Ok(Ok(l)) => match &*l {
                    Link::Up => Ok(()),
                    Link::Down(why) | Link::Closed(why) => {
                        Err(ClusterError::Unavailable(why.clone()))
                    }
                    Link::Connecting => unreachable!("waited for another state"),
                },
                Ok(Err(_)) => Err(ClusterError::Unavailable("the adapter has stopped".into())),
                Err(_) => Err(ClusterError::Unavailable(
                    format!("not subscribed to Redis within {timeout:?}").into(),
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
            inner
                .link
                .send_replace(Link::Closed("the adapter was closed".into()));
            inner.commands.failed().await;
        })
    }

    fn add_namespace(&self, nsp: &str) {
        let channels = self.inner.channels(nsp);
        lock(&self.inner.namespaces).insert(nsp.into(), channels.clone());
        let _ = self.inner.subscription_changes.send(Change::Add(channels));
    }

    fn remove_namespace(&self, nsp: &str) {
        if let Some(channels) = lock(&self.inner.namespaces).remove(nsp) {
            let _ = self
                .inner
                .subscription_changes
                .send(Change::Remove(channels));
        }
    }

    fn broadcast(&self, packet: &ClusterPacket, opts: &BroadcastOptions) {
        let inner = &self.inner;
        let message = messages::encode_broadcast(inner.config.parser, &inner.uid, packet, opts);
        inner.publish(inner.channels(&packet.nsp).for_broadcast(opts), message);
    }

    fn broadcast_with_ack(
        &self,
        packet: &ClusterPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
        acks: AckSink,
    ) {
        let inner = &self.inner;
        let id = random_id(12);
        inner
            .requests
            .expect_acks(id.clone(), acks, timeout, &inner.tasks);
        let message = messages::encode_broadcast_request(
            inner.config.parser,
            &inner.uid,
            &id,
            packet,
            opts,
            timeout,
        );
        inner.publish(inner.channels(&packet.nsp).request, message);
    }

    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        let inner = &self.inner;
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        let message = messages::encode_socket_request(
            &inner.uid,
            None,
            kind::REMOTE_JOIN,
            opts,
            json!({ "rooms": rooms }),
        );
        inner.publish(inner.channels(nsp).request, message);
    }

    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Room]) {
        let inner = &self.inner;
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        let message = messages::encode_socket_request(
            &inner.uid,
            None,
            kind::REMOTE_LEAVE,
            opts,
            json!({ "rooms": rooms }),
        );
        inner.publish(inner.channels(nsp).request, message);
    }

    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        let inner = &self.inner;
        let message = messages::encode_socket_request(
            &inner.uid,
            None,
            kind::REMOTE_DISCONNECT,
            opts,
            json!({ "close": close }),
        );
        inner.publish(inner.channels(nsp).request, message);
    }

    fn fetch_sockets(
        &self,
        nsp: &str,
        opts: &BroadcastOptions,
    ) -> ClusterFuture<Result<Vec<SocketDetails>, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = nsp.to_owned();
        let opts = opts.clone();
        Box::pin(async move {
            let uid = inner.uid.clone();
            let result = inner
                .request(&nsp, Collected::Sockets(Vec::new()), |id| {
                    messages::encode_socket_request(
                        &uid,
                        Some(id),
                        kind::REMOTE_FETCH,
                        &opts,
                        json!({}),
                    )
                })
                .await;
            gathered_sockets(result)
        })
    }

    fn all_rooms(&self, nsp: &str) -> ClusterFuture<Result<Vec<Room>, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = nsp.to_owned();
        Box::pin(async move {
            let uid = inner.uid.clone();
            let result = inner
                .request(&nsp, Collected::Rooms(Vec::new()), |id| {
                    messages::json_bytes(
                        &json!({ "uid": uid, "requestId": id, "type": kind::ALL_ROOMS }),
                    )
                })
                .await;
            match result {
                Ok((Collected::Rooms(rooms), _)) => Ok(rooms),
                Ok(_) => Ok(Vec::new()),
                Err((err, _)) => Err(err),
            }
        })
    }

    fn server_side_emit(&self, packet: &ClusterPacket) {
        let inner = &self.inner;
        let message = messages::encode_server_side_emit(&inner.uid, None, packet);
        inner.publish(inner.channels(&packet.nsp).request, message);
    }

    fn server_side_emit_with_ack(
        &self,
        packet: &ClusterPacket,
    ) -> ClusterFuture<Result<ServerResponses, ClusterError>> {
        let inner = self.inner.clone();
        let packet = packet.clone();
        Box::pin(async move {
            let uid = inner.uid.clone();
            let result = inner
                .request(&packet.nsp, Collected::Answers(Vec::new()), |id| {
                    messages::encode_server_side_emit(&uid, Some(id), &packet)
                })
                .await;
            gathered_answers(result)
        })
    }

    fn server_count(&self, nsp: &str) -> ClusterFuture<Result<usize, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = nsp.to_owned();
        Box::pin(async move { inner.server_count(&nsp).await })
    }
}
