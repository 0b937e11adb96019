//! weroll's sessions: the same behavioural tests against `MemorySessionStore` and
//! `RedisSessionStore` (save / load / remove, expiry, `verify`), then the full `$init`
//! handshake over raw Socket.IO and plain WebSocket clients against a server using each store.
//!
//! The Redis tests need a Redis at 127.0.0.1:6379 (CI starts one) and FAIL with a clear
//! message when there is none. Each test uses its own key prefix and deletes its keys; every
//! key it writes has a TTL of at most a minute, so even a failed run leaves nothing behind
//! for long.

mod common;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::*;
use realtime::{
    session::{self, StoreError, StoreFuture},
    Data, Extension, Lifecycle, MemorySessionStore, Realtime, RedisSessionStore, Session,
    SessionStore, ShakehandConfig, Socket, State,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const REDIS_ADDR: &str = "127.0.0.1:6379";
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Long enough that nothing expires during a test, short enough that leftovers vanish.
const TTL: Duration = Duration::from_secs(60);

fn session(userid: &str, token: &str, tokentimestamp: u64) -> Session {
    Session {
        userid: userid.to_owned(),
        token: token.to_owned(),
        tokentimestamp,
        data: json!({ "name": userid, "level": 3 }),
    }
}

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "realtime-test:{test}:{}-{nanos}-{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------------------
// A minimal Redis client (RESP over TCP), to look at and clean up what the store wrote
// without depending on the store under test.
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Resp>),
}

struct RawRedis {
    conn: BufReader<tokio::net::TcpStream>,
}

impl RawRedis {
    async fn connect() -> RawRedis {
        let stream = match tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(REDIS_ADDR),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => panic!(
                "these tests need a Redis server at {REDIS_ADDR} (CI starts one; locally run \
                 `redis-server --daemonize yes`): {e}"
            ),
            Err(_) => panic!("connecting to Redis at {REDIS_ADDR} timed out"),
        };
        RawRedis {
            conn: BufReader::new(stream),
        }
    }

    async fn cmd(&mut self, args: &[&str]) -> Resp {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        within("redis command", async {
            self.conn.get_mut().write_all(out.as_bytes()).await.unwrap();
            self.read().await
        })
        .await
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        self.conn.read_line(&mut line).await.unwrap();
        line.trim_end_matches("\r\n").to_owned()
    }

    async fn bulk(&mut self, len: i64) -> Option<String> {
        if len < 0 {
            return None;
        }
        let mut buf = vec![0; len as usize + 2];
        self.conn.read_exact(&mut buf).await.unwrap();
        buf.truncate(len as usize);
        Some(String::from_utf8(buf).unwrap())
    }

    /// One reply; arrays may hold scalars only (enough for KEYS).
    async fn read(&mut self) -> Resp {
        let line = self.line().await;
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Resp::Simple(rest.to_owned()),
            "-" => Resp::Error(rest.to_owned()),
            ":" => Resp::Int(rest.parse().unwrap()),
            "$" => Resp::Bulk(self.bulk(rest.parse().unwrap()).await),
            "*" => {
                let n: i64 = rest.parse().unwrap();
                let mut items = Vec::new();
                for _ in 0..n.max(0) {
                    let line = self.line().await;
                    let (kind, rest) = line.split_at(1);
                    items.push(match kind {
                        "$" => Resp::Bulk(self.bulk(rest.parse().unwrap()).await),
                        ":" => Resp::Int(rest.parse().unwrap()),
                        "+" => Resp::Simple(rest.to_owned()),
                        other => panic!("unexpected RESP array item {other}{rest}"),
                    });
                }
                Resp::Array(items)
            }
            other => panic!("unexpected RESP reply {other}{rest}"),
        }
    }

    async fn keys(&mut self, prefix: &str) -> Vec<String> {
        match self.cmd(&["KEYS", &format!("{prefix}*")]).await {
            Resp::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Resp::Bulk(Some(k)) => k,
                    other => panic!("KEYS item {other:?}"),
                })
                .collect(),
            other => panic!("KEYS: {other:?}"),
        }
    }

    async fn delete_prefix(&mut self, prefix: &str) {
        for key in self.keys(prefix).await {
            self.cmd(&["DEL", &key]).await;
        }
    }
}

/// A `RedisSessionStore` with a prefix of its own, and a raw connection to check and clean
/// up what it wrote.
struct RedisFixture {
    store: RedisSessionStore,
    prefix: String,
    raw: RawRedis,
}

impl RedisFixture {
    async fn new(test: &str) -> RedisFixture {
        let prefix = unique_prefix(test);
        let raw = RawRedis::connect().await;
        let store = match tokio::time::timeout(
            Duration::from_secs(5),
            RedisSessionStore::connect_with_prefix(REDIS_URL, &prefix),
        )
        .await
        {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => panic!("RedisSessionStore could not connect to {REDIS_URL}: {e}"),
            Err(_) => panic!("RedisSessionStore::connect_with_prefix({REDIS_URL}) timed out"),
        };
        RedisFixture { store, prefix, raw }
    }

    /// Deletes every key of this test and checks none is left.
    async fn cleanup(mut self) {
        self.raw.delete_prefix(&self.prefix).await;
        assert_eq!(self.raw.keys(&self.prefix).await, Vec::<String>::new());
    }
}

// ---------------------------------------------------------------------------------------
// The behaviour every store must have
// ---------------------------------------------------------------------------------------

async fn save_load_remove(store: &dyn SessionStore) {
    assert_eq!(
        store.load("alice").await.unwrap(),
        None,
        "nothing saved yet"
    );
    let alice = session("alice", "t-alice", 1_700_000_000_000);
    store.save(&alice, TTL).await.unwrap();
    assert_eq!(store.load("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(
        store.load("bob").await.unwrap(),
        None,
        "other users unaffected"
    );

    // A new login replaces the session.
    let again = session("alice", "t-alice-2", 1_700_000_000_001);
    store.save(&again, TTL).await.unwrap();
    assert_eq!(store.load("alice").await.unwrap(), Some(again));

    let bob = session("bob", "t-bob", 5);
    store.save(&bob, TTL).await.unwrap();
    store.remove("alice").await.unwrap();
    assert_eq!(store.load("alice").await.unwrap(), None, "removed");
    assert_eq!(store.load("bob").await.unwrap(), Some(bob), "only alice's");
    store.remove("alice").await.unwrap();
    store.remove("nobody").await.unwrap();

    // Any user id and any data survive the round trip.
    let odd = Session {
        userid: "ünï cödé:42 {x}".into(),
        token: "tok with spaces".into(),
        tokentimestamp: u64::MAX,
        data: json!({ "nested": { "list": [1, 2.5, null, "x"] } }),
    };
    store.save(&odd, TTL).await.unwrap();
    assert_eq!(store.load(&odd.userid).await.unwrap(), Some(odd.clone()));
    store.remove(&odd.userid).await.unwrap();
    store.remove("bob").await.unwrap();
}

async fn expiry(store: &dyn SessionStore) {
    let short = session("short", "t", 1);
    let long = session("long", "t", 1);
    store
        .save(&short, Duration::from_millis(200))
        .await
        .unwrap();
    store.save(&long, TTL).await.unwrap();
    assert_eq!(store.load("short").await.unwrap(), Some(short.clone()));
    assert!(session::verify(store, "short", "t", 1)
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.load("short").await.unwrap(), None, "expired");
    assert_eq!(
        session::verify(store, "short", "t", 1).await.unwrap(),
        None,
        "an expired session does not verify"
    );
    assert_eq!(store.load("long").await.unwrap(), Some(long), "still alive");

    // Saving again restarts the clock.
    store
        .save(&short, Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    store
        .save(&short, Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.load("short").await.unwrap(), Some(short));
    store.remove("long").await.unwrap();
    store.remove("short").await.unwrap();
}

async fn verify(store: &dyn SessionStore) {
    let alice = session("alice", "a-token-0123456789", 1_700_000_000_123);
    let bob = session("bob", "b-token-9876543210", 1_700_000_000_456);
    store.save(&alice, TTL).await.unwrap();
    store.save(&bob, TTL).await.unwrap();

    let ok = session::verify(store, "alice", "a-token-0123456789", 1_700_000_000_123).await;
    assert_eq!(
        ok.unwrap(),
        Some(alice.clone()),
        "right token and timestamp"
    );

    let refused: &[(&str, &str, u64, &str)] = &[
        (
            "alice",
            "a-token-0123456789x",
            1_700_000_000_123,
            "longer token",
        ),
        (
            "alice",
            "a-token-012345678",
            1_700_000_000_123,
            "a prefix of the token",
        ),
        (
            "alice",
            "A-TOKEN-0123456789",
            1_700_000_000_123,
            "other case",
        ),
        ("alice", "", 1_700_000_000_123, "empty token"),
        (
            "alice",
            "a-token-0123456789",
            1_700_000_000_124,
            "wrong timestamp",
        ),
        ("alice", "a-token-0123456789", 0, "zero timestamp"),
        // bob's valid credentials presented as alice (and the reverse): forged userid.
        (
            "alice",
            "b-token-9876543210",
            1_700_000_000_456,
            "bob's token as alice",
        ),
        (
            "bob",
            "a-token-0123456789",
            1_700_000_000_123,
            "alice's token as bob",
        ),
        (
            "alice",
            "b-token-9876543210",
            1_700_000_000_123,
            "bob's token, alice's timestamp",
        ),
        (
            "carol",
            "a-token-0123456789",
            1_700_000_000_123,
            "a user with no session",
        ),
    ];
    for (userid, token, ts, what) in refused {
        assert_eq!(
            session::verify(store, userid, token, *ts).await.unwrap(),
            None,
            "{what}"
        );
    }
    // Refusals change nothing.
    assert_eq!(
        session::verify(store, "bob", "b-token-9876543210", 1_700_000_000_456)
            .await
            .unwrap(),
        Some(bob)
    );
    store.remove("alice").await.unwrap();
    assert_eq!(
        session::verify(store, "alice", "a-token-0123456789", 1_700_000_000_123)
            .await
            .unwrap(),
        None,
        "logged out"
    );
    store.remove("bob").await.unwrap();
}

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&realtime::MemorySessionStore::new()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let redis = super::RedisFixture::new(stringify!($name)).await;
                    super::$name(&redis.store).await;
                    redis.cleanup().await;
                }
            )*
        }
    };
}

store_tests!(save_load_remove, expiry, verify);

// ---------------------------------------------------------------------------------------
// Redis specifics: the documented key layout, records written by another process
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn redis_keys_are_prefix_userid_with_json_and_a_px_ttl() {
    let mut redis = RedisFixture::new("layout").await;
    let alice = session("alice", "tok", 42);
    redis
        .store
        .save(&alice, Duration::from_millis(30_000))
        .await
        .unwrap();
    let key = format!("{}alice", redis.prefix);
    assert_eq!(redis.raw.keys(&redis.prefix).await, vec![key.clone()]);
    let Resp::Bulk(Some(json)) = redis.raw.cmd(&["GET", &key]).await else {
        panic!("GET {key}")
    };
    let stored: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        stored,
        json!({ "userid": "alice", "token": "tok", "tokentimestamp": 42, "data": { "name": "alice", "level": 3 } })
    );
    let Resp::Int(pttl) = redis.raw.cmd(&["PTTL", &key]).await else {
        panic!("PTTL")
    };
    assert!((29_000..=30_000).contains(&pttl), "PTTL {pttl}");
    redis.store.remove("alice").await.unwrap();
    assert_eq!(redis.raw.cmd(&["EXISTS", &key]).await, Resp::Int(0));
    redis.cleanup().await;
}

#[tokio::test]
async fn redis_reads_sessions_another_process_wrote() {
    // The HTTP app that logs users in (weroll's Session model, another language) writes the
    // record; the realtime server verifies it. `data` is optional.
    let mut redis = RedisFixture::new("foreign").await;
    let key = format!("{}dave", redis.prefix);
    let record = r#"{"userid":"dave","token":"from-elsewhere","tokentimestamp":1700000000999}"#;
    assert_eq!(
        redis.raw.cmd(&["SET", &key, record, "PX", "30000"]).await,
        Resp::Simple("OK".into())
    );
    let found = session::verify(&redis.store, "dave", "from-elsewhere", 1_700_000_000_999)
        .await
        .unwrap()
        .expect("verifies");
    assert_eq!(found.data, Value::Null);

    // A record that is not a session is an error, not a silent "no session".
    redis
        .raw
        .cmd(&[
            "SET",
            &format!("{}eve", redis.prefix),
            "not json",
            "PX",
            "30000",
        ])
        .await;
    match redis.store.load("eve").await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("expected a corrupt record error, got {other:?}"),
    }
    redis.cleanup().await;
}

#[tokio::test]
async fn redis_default_prefix_is_realtime_session() {
    let mut raw = RawRedis::connect().await;
    let store = RedisSessionStore::connect(REDIS_URL)
        .await
        .unwrap_or_else(|e| panic!("RedisSessionStore::connect({REDIS_URL}): {e}"));
    let userid = unique_prefix("default").replace(':', "_");
    store
        .save(&session(&userid, "t", 1), Duration::from_secs(30))
        .await
        .unwrap();
    let key = format!("realtime:session:{userid}");
    assert_eq!(raw.cmd(&["EXISTS", &key]).await, Resp::Int(1));
    store.remove(&userid).await.unwrap();
    assert_eq!(raw.cmd(&["EXISTS", &key]).await, Resp::Int(0));
}

/// With redis 0.32's default `ConnectionManager` backoff, connecting to a Redis that is not
/// there took minutes to fail; the store bounds retries and timeouts so it fails in seconds.
#[tokio::test]
async fn redis_unreachable_is_an_unavailable_error() {
    // Nothing listens on port 1: every attempt is refused at once.
    match tokio::time::timeout(
        Duration::from_secs(10),
        RedisSessionStore::connect("redis://127.0.0.1:1"),
    )
    .await
    {
        Ok(Err(StoreError::Unavailable(message))) => assert!(!message.is_empty()),
        Ok(other) => panic!("expected Unavailable, got {other:?}"),
        Err(_) => panic!("connecting to a closed port did not fail within 10 s"),
    }
}

// ---------------------------------------------------------------------------------------
// The `$init` handshake against a server using each store
// ---------------------------------------------------------------------------------------

/// The lifecycle events the server's handlers saw, in order.
#[derive(Clone, Default)]
struct LifecycleLog(Arc<Mutex<Vec<String>>>);

impl LifecycleLog {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn on_start(State(log): State<LifecycleLog>, socket: Socket) {
    log.push(format!("start {}", socket.id()));
}
async fn on_complete(State(log): State<LifecycleLog>, socket: Socket, Data(ok): Data<bool>) {
    log.push(format!("complete {} {ok}", socket.id()));
}
async fn on_success(State(log): State<LifecycleLog>, socket: Socket) {
    log.push(format!("success {} {}", socket.id(), socket.client_id()));
}
async fn on_fail(State(log): State<LifecycleLog>, socket: Socket, Data(reason): Data<String>) {
    log.push(format!("fail {} {reason}", socket.id()));
}

/// Who the connection is: the `Session` extractor (rejects connections without one).
async fn whoami(socket: Socket, session: Session) -> Value {
    json!({ "clientID": &*socket.client_id(), "userid": session.userid, "data": session.data })
}

/// Counts its runs: proves a refused event never reached it.
async fn count_runs(State(n): State<Arc<AtomicU64>>) -> u64 {
    n.fetch_add(1, Ordering::SeqCst) + 1
}

async fn dm(socket: Socket, Extension(me): Extension<Session>, Data(to): Data<String>) {
    let _ = socket.send_to(&to, "dm", &json!({ "from": me.userid }));
}

struct HandshakeServer {
    server: Server,
    log: LifecycleLog,
    count: Arc<AtomicU64>,
}

async fn handshake_server(store: Arc<dyn SessionStore>, timeout: Duration) -> HandshakeServer {
    let log = LifecycleLog::default();
    let count = Arc::new(AtomicU64::new(0));
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .state(log.clone())
            .state(count.clone())
            .shakehand(
                ShakehandConfig::with_store(store)
                    .required(true)
                    .timeout(timeout),
            )
            .namespace("/", |ns| {
                ns.on_lifecycle(Lifecycle::ShakehandStart, on_start)
                    .on_lifecycle(Lifecycle::ShakehandComplete, on_complete)
                    .on_lifecycle(Lifecycle::ShakehandSuccess, on_success)
                    .on_lifecycle(Lifecycle::ShakehandFail, on_fail)
                    .on("whoami", whoami)
                    .on("count", count_runs)
                    .on("dm", dm)
            }),
    )
    .await;
    HandshakeServer { server, log, count }
}

fn init_packet(ack: u64, userid: &str, token: &str, ts: Value) -> String {
    format!(
        "42{ack}{}",
        json!(["$init", { "_sess": { "userid": userid, "token": token, "tokentimestamp": ts } }])
    )
}

/// The whole `$init` story over raw Socket.IO WebSocket clients, against `store`.
async fn handshake_story(store: Arc<dyn SessionStore>) {
    init();
    let alice = session("alice", "alice-token", 1_700_000_000_001);
    let bob = session("bob", "bob-token", 1_700_000_000_002);
    store.save(&alice, TTL).await.unwrap();
    store.save(&bob, TTL).await.unwrap();
    store
        .save(
            &session("brief", "brief-token", 3),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    let hs = handshake_server(store.clone(), Duration::from_secs(10)).await;

    // Events before `$init` are refused and never run.
    let (mut ws, sid) = sio_ws(&hs.server, "/").await;
    ws.send_text(r#"421["count"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"431[{"error":"handshake required: emit $init first"}]"#
    );
    ws.send_text(r#"42["whoami"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["$error",{"event":"whoami","error":"handshake required: emit $init first"}]"#
    );
    assert_eq!(hs.count.load(Ordering::SeqCst), 0);

    // `$init` with the session: ack, then the `$init` event, both `{clientID: userid}`.
    ws.send_text(&init_packet(
        2,
        "alice",
        "alice-token",
        json!(1_700_000_000_001u64),
    ))
    .await;
    assert_eq!(ws.recv_text().await, r#"432[{"clientID":"alice"}]"#);
    assert_eq!(ws.recv_text().await, r#"42["$init",{"clientID":"alice"}]"#);
    assert_eq!(
        hs.log.take(),
        [
            format!("start {sid}"),
            format!("complete {sid} true"),
            format!("success {sid} alice")
        ],
        "the documented order"
    );
    ws.send_text(r#"423["count"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        "433[1]",
        "the refused event never ran"
    );
    ws.send_text(r#"424["whoami"]"#).await;
    let reply = ws.recv_text().await;
    let reply: Value = serde_json::from_str(reply.strip_prefix("434").expect("the ack")).unwrap();
    assert_eq!(
        reply,
        json!([{"clientID":"alice","userid":"alice","data":{"name":"alice","level":3}}])
    );

    // The timestamp as a string (weroll clients), on a second connection of alice.
    let (mut ws2, _) = sio_ws(&hs.server, "/").await;
    ws2.send_text(&init_packet(
        1,
        "alice",
        "alice-token",
        json!("1700000000001"),
    ))
    .await;
    assert_eq!(ws2.recv_text().await, r#"431[{"clientID":"alice"}]"#);
    assert_eq!(ws2.recv_text().await, r#"42["$init",{"clientID":"alice"}]"#);
    // A plain WebSocket connection of alice, too.
    let mut plain = plain_ws(&hs.server, "").await;
    plain
        .send_text(
            &json!(["$init", { "_sess": { "userid": "alice", "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }, 7])
                .to_string(),
        )
        .await;
    assert_eq!(
        plain.recv_text().await,
        r#"["$ack",7,{"clientID":"alice"}]"#
    );
    assert_eq!(plain.recv_text().await, r#"["$init",{"clientID":"alice"}]"#);
    hs.log.take();

    // send_to(userid) reaches all three of alice's connections, once each.
    let (mut bob_ws, _) = sio_ws(&hs.server, "/").await;
    bob_ws
        .send_text(&init_packet(
            1,
            "bob",
            "bob-token",
            json!(1_700_000_000_002u64),
        ))
        .await;
    assert_eq!(bob_ws.recv_text().await, r#"431[{"clientID":"bob"}]"#);
    assert_eq!(
        bob_ws.recv_text().await,
        r#"42["$init",{"clientID":"bob"}]"#
    );
    bob_ws.send_text(r#"42["dm","alice"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["dm",{"from":"bob"}]"#);
    assert_eq!(ws2.recv_text().await, r#"42["dm",{"from":"bob"}]"#);
    assert_eq!(plain.recv_text().await, r#"["dm",{"from":"bob"}]"#);
    // Nothing more for anyone: a round trip on each shows the next frame is the answer.
    ws.send_text(r#"425["count"]"#).await;
    assert_eq!(ws.recv_text().await, "435[2]");
    ws2.send_text(r#"421["count"]"#).await;
    assert_eq!(ws2.recv_text().await, "431[3]");
    bob_ws.send_text(r#"422["count"]"#).await;
    assert_eq!(bob_ws.recv_text().await, "432[4]", "the sender got no dm");
    hs.log.take();

    // Refusals: the error ack, the lifecycle in order, then DISCONNECT.
    let refusals: &[(Value, &str)] = &[
        // A forged userid: bob's valid credentials presented as alice.
        (
            json!({ "_sess": { "userid": "alice", "token": "bob-token", "tokentimestamp": 1_700_000_000_002u64 } }),
            "invalid or expired session",
        ),
        (
            json!({ "_sess": { "userid": "alice", "token": "alice-token", "tokentimestamp": 1 } }),
            "invalid or expired session",
        ),
        (
            json!({ "_sess": { "userid": "mallory", "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }),
            "invalid or expired session",
        ),
        (json!({}), "a session is required (guests are not allowed)"),
    ];
    for (payload, reason) in refusals {
        let (mut ws, sid) = sio_ws(&hs.server, "/").await;
        ws.send_text(&format!("421{}", json!(["$init", payload])))
            .await;
        assert_eq!(
            ws.recv_text().await,
            format!(r#"431[{{"error":"{reason}"}}]"#),
            "{payload}"
        );
        assert_eq!(ws.recv_text().await, "41", "disconnected from /");
        assert_eq!(
            hs.log.take(),
            [
                format!("start {sid}"),
                format!("complete {sid} false"),
                format!("fail {sid} {reason}")
            ]
        );
    }

    // An expired session.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (mut ws3, _) = sio_ws(&hs.server, "/").await;
    ws3.send_text(&init_packet(1, "brief", "brief-token", json!(3)))
        .await;
    assert_eq!(
        ws3.recv_text().await,
        r#"431[{"error":"invalid or expired session"}]"#
    );

    // Logged out: the session is gone from the store.
    store.remove("bob").await.unwrap();
    let (mut ws4, _) = sio_ws(&hs.server, "/").await;
    ws4.send_text(&init_packet(
        1,
        "bob",
        "bob-token",
        json!(1_700_000_000_002u64),
    ))
    .await;
    assert_eq!(
        ws4.recv_text().await,
        r#"431[{"error":"invalid or expired session"}]"#
    );
    store.remove("alice").await.unwrap();
    assert_eq!(hs.count.load(Ordering::SeqCst), 4);
    assert_no_panics();
}

/// No `$init` in time: `$error` with the reason, then DISCONNECT; only `shakeHandFail` fires.
async fn handshake_timeout(store: Arc<dyn SessionStore>) {
    init();
    let hs = handshake_server(store, Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    let (mut ws, sid) = sio_ws(&hs.server, "/").await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["$error",{"event":"$init","error":"handshake timed out"}]"#
    );
    assert_eq!(ws.recv_text().await, "41");
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(hs.log.take(), [format!("fail {sid} handshake timed out")]);
    // Too late: the socket left `/`; an event for it now is a protocol error.
    ws.send_text(&init_packet(1, "alice", "alice-token", json!(1)))
        .await;
    let closed = ws.expect_close().await;
    assert!(closed.texts().is_empty(), "no answer: {closed:?}");
    assert!(hs.log.take().is_empty(), "no handshake started");
    assert_no_panics();
}

#[tokio::test]
async fn handshake_with_memory_store() {
    handshake_story(Arc::new(MemorySessionStore::new())).await;
}

#[tokio::test]
async fn handshake_with_redis_store() {
    let redis = RedisFixture::new("handshake").await;
    handshake_story(Arc::new(redis.store.clone())).await;
    redis.cleanup().await;
}

#[tokio::test]
async fn handshake_timeout_with_memory_store() {
    handshake_timeout(Arc::new(MemorySessionStore::new())).await;
}

#[tokio::test]
async fn handshake_timeout_with_redis_store() {
    let redis = RedisFixture::new("timeout").await;
    handshake_timeout(Arc::new(redis.store.clone())).await;
    redis.cleanup().await;
}

/// A store that is down: `$init` fails with `session store unavailable`, never with a
/// success.
#[derive(Debug)]
struct DownStore;

impl SessionStore for DownStore {
    fn save<'a>(&'a self, _: &'a Session, _: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn load<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn remove<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
}

#[tokio::test]
async fn handshake_with_a_store_that_is_down_fails_closed() {
    let logs = init();
    let hs = handshake_server(Arc::new(DownStore), Duration::from_secs(10)).await;
    let (mut ws, sid) = sio_ws(&hs.server, "/").await;
    ws.send_text(&init_packet(1, "alice", "t", json!(1))).await;
    assert_eq!(
        ws.recv_text().await,
        r#"431[{"error":"session store unavailable"}]"#
    );
    assert_eq!(ws.recv_text().await, "41");
    assert_eq!(
        hs.log.take(),
        [
            format!("start {sid}"),
            format!("complete {sid} false"),
            format!("fail {sid} session store unavailable")
        ]
    );
    logs.wait_for("session store failed during $init").await;
    assert_no_panics();
}
