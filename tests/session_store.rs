//! weroll's sessions: the same behavioural tests against `MemorySessionStore` and
//! `RedisSessionStore` in both of its formats (native, and weroll's own) — save / load /
//! remove, several devices per user, expiry, `verify` — then weroll's Redis layout against
//! sessions written by hand, and the full `$init` handshake over raw Socket.IO and plain
//! WebSocket clients against a server using each store.
//!
//! The Redis tests need the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`; CI
//! starts one) and FAIL with a clear message when there is none. Each test uses its own key
//! prefix and deletes its keys; every key it writes has a TTL of at most a minute, so even a
//! failed run leaves nothing behind for long.

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
    Data, Extension, Lifecycle, MemorySessionStore, Realtime, RedisFormat, RedisSessionStore,
    Session, SessionStore, ShakehandConfig, Socket, State, WerollFormat,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The Redis the tests use: `REDIS_URL`, or the local default.
fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// `host:port` of [`redis_url`], for the raw client.
fn redis_addr() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    }
}

/// Long enough that nothing expires during a test, short enough that leftovers vanish.
const TTL: Duration = Duration::from_secs(60);

/// A session whose data survives every store, weroll's format included (weroll keeps
/// application fields as strings, and `extra` as JSON text).
fn session(userid: &str, token: &str, tokentimestamp: u64) -> Session {
    Session {
        userid: userid.to_owned(),
        token: token.to_owned(),
        tokentimestamp,
        data: json!({ "type": "100", "extra": { "name": userid, "level": 3 } }),
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
            tokio::net::TcpStream::connect(redis_addr()),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => panic!(
                "these tests need a Redis server at {} (REDIS_URL, or 127.0.0.1:6379; CI starts \
                 one; locally run `redis-server --daemonize yes`): {e}",
                redis_addr()
            ),
            Err(_) => panic!("connecting to Redis at {} timed out", redis_addr()),
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
    /// The native format.
    async fn new(test: &str) -> RedisFixture {
        RedisFixture::with_format(test, RedisFormat::native).await
    }

    /// weroll's format (one session per device, or per user with `one_point_enter`).
    async fn weroll(test: &str, one_point_enter: bool) -> RedisFixture {
        RedisFixture::with_format(test, |prefix| {
            RedisFormat::Weroll(WerollFormat::new(prefix).one_point_enter(one_point_enter))
        })
        .await
    }

    async fn with_format(test: &str, format: impl FnOnce(String) -> RedisFormat) -> RedisFixture {
        let prefix = unique_prefix(test);
        let raw = RawRedis::connect().await;
        let url = redis_url();
        let store = match tokio::time::timeout(
            Duration::from_secs(5),
            RedisSessionStore::connect_with_format(&url, format(prefix.clone())),
        )
        .await
        {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => panic!("RedisSessionStore could not connect to {url}: {e}"),
            Err(_) => panic!("RedisSessionStore::connect_with_format({url}) timed out"),
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
        store.load("alice", "t-alice").await.unwrap(),
        None,
        "nothing saved yet"
    );
    let alice = session("alice", "t-alice", 1_700_000_000_000);
    store.save(&alice, TTL).await.unwrap();
    assert_eq!(
        store.load("alice", "t-alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.load("alice", "t-other").await.unwrap(),
        None,
        "another token"
    );
    assert_eq!(
        store.load("bob", "t-alice").await.unwrap(),
        None,
        "other users unaffected"
    );

    // Saving the same token again replaces that session.
    let mut renamed = alice.clone();
    renamed.data = json!({ "type": "200" });
    store.save(&renamed, TTL).await.unwrap();
    assert_eq!(
        store.load("alice", "t-alice").await.unwrap(),
        Some(renamed.clone())
    );

    let bob = session("bob", "t-bob", 5);
    store.save(&bob, TTL).await.unwrap();
    store.remove("alice", "t-alice").await.unwrap();
    assert_eq!(
        store.load("alice", "t-alice").await.unwrap(),
        None,
        "removed"
    );
    assert_eq!(
        store.load("bob", "t-bob").await.unwrap(),
        Some(bob),
        "only alice's"
    );
    store.remove("alice", "t-alice").await.unwrap();
    store.remove("nobody", "t").await.unwrap();
    store.remove_all("nobody").await.unwrap();

    // Any user id and any data survive the round trip.
    let odd = Session {
        userid: "ünï cödé:42 {x}*".into(),
        token: "tok with spaces".into(),
        tokentimestamp: u64::MAX,
        data: json!({ "extra": { "nested": { "list": [1, 2.5, null, "x"] } } }),
    };
    store.save(&odd, TTL).await.unwrap();
    assert_eq!(
        store.load(&odd.userid, &odd.token).await.unwrap(),
        Some(odd.clone())
    );
    store.remove_all(&odd.userid).await.unwrap();
    assert_eq!(store.load(&odd.userid, &odd.token).await.unwrap(), None);
    store.remove("bob", "t-bob").await.unwrap();
}

/// A user logged in on several devices: each login adds a session; logging one device out
/// leaves the others; logging out everywhere ends them all, and only that user's (not those
/// of a user whose id begins with this one's).
async fn several_devices(store: &dyn SessionStore) {
    let phone = session("carol", "phone-token", 1_700_000_000_001);
    let laptop = session("carol", "laptop-token", 1_700_000_000_002);
    let tablet = session("carol", "tablet-token", 1_700_000_000_003);
    let other = session("carol_b", "phone-token", 1_700_000_000_004);
    for s in [&phone, &laptop, &tablet, &other] {
        store.save(s, TTL).await.unwrap();
    }
    for s in [&phone, &laptop, &tablet, &other] {
        assert_eq!(
            session::verify(store, &s.userid, &s.token, s.tokentimestamp)
                .await
                .unwrap()
                .as_ref(),
            Some(s),
            "{} stays valid after the later logins",
            s.token
        );
    }
    store.remove("carol", "laptop-token").await.unwrap();
    assert_eq!(store.load("carol", "laptop-token").await.unwrap(), None);
    assert_eq!(
        store.load("carol", "phone-token").await.unwrap(),
        Some(phone)
    );
    assert_eq!(
        store.load("carol", "tablet-token").await.unwrap(),
        Some(tablet)
    );
    store.remove_all("carol").await.unwrap();
    assert_eq!(store.load("carol", "phone-token").await.unwrap(), None);
    assert_eq!(store.load("carol", "tablet-token").await.unwrap(), None);
    assert_eq!(
        store.load("carol_b", "phone-token").await.unwrap(),
        Some(other),
        "another user's sessions are not the user's"
    );
    store.remove_all("carol_b").await.unwrap();
}

async fn expiry(store: &dyn SessionStore) {
    let short = session("short", "t", 1);
    let long = session("long", "t", 1);
    let other_device = session("short", "t2", 1);
    store
        .save(&short, Duration::from_millis(200))
        .await
        .unwrap();
    store.save(&long, TTL).await.unwrap();
    store.save(&other_device, TTL).await.unwrap();
    assert_eq!(store.load("short", "t").await.unwrap(), Some(short.clone()));
    assert!(session::verify(store, "short", "t", 1)
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.load("short", "t").await.unwrap(), None, "expired");
    assert_eq!(
        session::verify(store, "short", "t", 1).await.unwrap(),
        None,
        "an expired session does not verify"
    );
    assert_eq!(
        store.load("long", "t").await.unwrap(),
        Some(long),
        "still alive"
    );
    assert_eq!(
        store.load("short", "t2").await.unwrap(),
        Some(other_device.clone()),
        "each device's session expires on its own"
    );

    // Saving again restarts the clock. (Wide margins: the whole suite runs in parallel on
    // few cores, and a 100 ms margin was seen to be too little.)
    store
        .save(&short, Duration::from_millis(1000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    store
        .save(&short, Duration::from_millis(1000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.load("short", "t").await.unwrap(), Some(short));
    store.remove_all("long").await.unwrap();
    store.remove_all("short").await.unwrap();
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

    // (userid, token, timestamp, what, refused only because of the timestamp)
    let refused: &[(&str, &str, u64, &str, bool)] = &[
        (
            "alice",
            "a-token-0123456789x",
            1_700_000_000_123,
            "longer token",
            false,
        ),
        (
            "alice",
            "a-token-012345678",
            1_700_000_000_123,
            "a prefix of the token",
            false,
        ),
        (
            "alice",
            "A-TOKEN-0123456789",
            1_700_000_000_123,
            "other case",
            false,
        ),
        ("alice", "", 1_700_000_000_123, "empty token", false),
        (
            "",
            "a-token-0123456789",
            1_700_000_000_123,
            "empty userid",
            false,
        ),
        (
            "alice",
            "a-token-0123456789",
            1_700_000_000_124,
            "wrong timestamp",
            true,
        ),
        ("alice", "a-token-0123456789", 0, "zero timestamp", true),
        // bob's valid credentials presented as alice (and the reverse): forged userid.
        (
            "alice",
            "b-token-9876543210",
            1_700_000_000_456,
            "bob's token as alice",
            false,
        ),
        (
            "bob",
            "a-token-0123456789",
            1_700_000_000_123,
            "alice's token as bob",
            false,
        ),
        (
            "alice",
            "b-token-9876543210",
            1_700_000_000_123,
            "bob's token, alice's timestamp",
            false,
        ),
        (
            "carol",
            "a-token-0123456789",
            1_700_000_000_123,
            "a user with no session",
            false,
        ),
    ];
    for (userid, token, ts, what, timestamp_only) in refused {
        let got = session::verify(store, userid, token, *ts).await.unwrap();
        if *timestamp_only && !store.checks_tokentimestamp() {
            // weroll's Session.check compares the user id and token only.
            assert_eq!(
                got.as_ref(),
                Some(&alice),
                "{what}: weroll ignores the timestamp"
            );
        } else {
            assert_eq!(got, None, "{what}");
        }
    }
    // Refusals change nothing.
    assert_eq!(
        session::verify(store, "bob", "b-token-9876543210", 1_700_000_000_456)
            .await
            .unwrap(),
        Some(bob)
    );
    store.remove("alice", "a-token-0123456789").await.unwrap();
    assert_eq!(
        session::verify(store, "alice", "a-token-0123456789", 1_700_000_000_123)
            .await
            .unwrap(),
        None,
        "logged out"
    );
    store.remove_all("bob").await.unwrap();
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
        mod redis_weroll_format {
            $(
                #[tokio::test]
                async fn $name() {
                    let redis = super::RedisFixture::weroll(stringify!($name), false).await;
                    super::$name(&redis.store).await;
                    redis.cleanup().await;
                }
            )*
        }
    };
}

store_tests!(save_load_remove, several_devices, expiry, verify);

// ---------------------------------------------------------------------------------------
// Redis specifics: the documented key layouts, records written by another process
// ---------------------------------------------------------------------------------------

fn bulk(reply: Resp) -> String {
    match reply {
        Resp::Bulk(Some(s)) => s,
        other => panic!("expected a string, got {other:?}"),
    }
}

/// A hash as `HGETALL` returns it, sorted by field.
async fn hash(raw: &mut RawRedis, key: &str) -> Vec<(String, String)> {
    let Resp::Array(items) = raw.cmd(&["HGETALL", key]).await else {
        panic!("HGETALL {key}")
    };
    let mut fields: Vec<(String, String)> = items
        .chunks(2)
        .map(|kv| match kv {
            [Resp::Bulk(Some(k)), Resp::Bulk(Some(v))] => (k.clone(), v.clone()),
            other => panic!("HGETALL item {other:?}"),
        })
        .collect();
    fields.sort();
    fields
}

async fn pttl(raw: &mut RawRedis, key: &str) -> i64 {
    match raw.cmd(&["PTTL", key]).await {
        Resp::Int(ms) => ms,
        other => panic!("PTTL {key}: {other:?}"),
    }
}

#[tokio::test]
async fn redis_native_layout_is_a_hash_per_user_of_token_to_json() {
    let mut redis = RedisFixture::new("layout").await;
    let phone = session("alice", "tok-phone", 42);
    let laptop = session("alice", "tok-laptop", 43);
    redis
        .store
        .save(&phone, Duration::from_millis(30_000))
        .await
        .unwrap();
    redis
        .store
        .save(&laptop, Duration::from_millis(20_000))
        .await
        .unwrap();
    let key = format!("{}alice", redis.prefix);
    assert_eq!(redis.raw.keys(&redis.prefix).await, vec![key.clone()]);
    let fields = hash(&mut redis.raw, &key).await;
    assert_eq!(
        fields.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["tok-laptop", "tok-phone"]
    );
    let mut stored: Value = serde_json::from_str(&fields[1].1).unwrap();
    let expires_at = stored["expiresAt"].take().as_u64().expect("expiresAt");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        (now + 28_000..=now + 30_000).contains(&expires_at),
        "{expires_at}"
    );
    stored.as_object_mut().unwrap().remove("expiresAt");
    assert_eq!(
        stored,
        json!({ "userid": "alice", "token": "tok-phone", "tokentimestamp": 42, "data": { "type": "100", "extra": { "name": "alice", "level": 3 } } })
    );
    // The hash lives as long as its longest-lived session.
    let ttl = pttl(&mut redis.raw, &key).await;
    assert!((29_000..=30_000).contains(&ttl), "PTTL {ttl}");
    redis.store.remove("alice", "tok-phone").await.unwrap();
    assert_eq!(
        hash(&mut redis.raw, &key).await.len(),
        1,
        "one device logged out"
    );
    redis.store.remove_all("alice").await.unwrap();
    assert_eq!(redis.raw.cmd(&["EXISTS", &key]).await, Resp::Int(0));
    redis.cleanup().await;
}

#[tokio::test]
async fn redis_native_reads_sessions_another_process_wrote() {
    // The HTTP app that logs users in (another language) writes the record; the realtime
    // server verifies it. `data` is optional.
    let mut redis = RedisFixture::new("foreign").await;
    let key = format!("{}dave", redis.prefix);
    let record = r#"{"userid":"dave","token":"from-elsewhere","tokentimestamp":1700000000999,"expiresAt":99999999999999}"#;
    assert_eq!(
        redis
            .raw
            .cmd(&["HSET", &key, "from-elsewhere", record])
            .await,
        Resp::Int(1)
    );
    redis.raw.cmd(&["PEXPIRE", &key, "30000"]).await;
    let found = session::verify(&redis.store, "dave", "from-elsewhere", 1_700_000_000_999)
        .await
        .unwrap()
        .expect("verifies");
    assert_eq!(found.data, Value::Null);

    // A record past its `expiresAt` is no session, even while the hash lives.
    let stale = r#"{"userid":"dave","token":"old","tokentimestamp":1,"expiresAt":1}"#;
    redis.raw.cmd(&["HSET", &key, "old", stale]).await;
    assert_eq!(redis.store.load("dave", "old").await.unwrap(), None);

    // A record that is not a session is an error, not a silent "no session".
    let eve = format!("{}eve", redis.prefix);
    redis.raw.cmd(&["HSET", &eve, "t", "not json"]).await;
    redis.raw.cmd(&["PEXPIRE", &eve, "30000"]).await;
    match redis.store.load("eve", "t").await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("expected a corrupt record error, got {other:?}"),
    }
    redis.cleanup().await;
}

#[tokio::test]
async fn redis_default_prefix_is_realtime_session() {
    let mut raw = RawRedis::connect().await;
    let url = redis_url();
    let store = RedisSessionStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("RedisSessionStore::connect({url}): {e}"));
    let userid = unique_prefix("default").replace(':', "_");
    store
        .save(&session(&userid, "t", 1), Duration::from_secs(30))
        .await
        .unwrap();
    let key = format!("realtime:session:{userid}");
    assert_eq!(raw.cmd(&["EXISTS", &key]).await, Resp::Int(1));
    store.remove_all(&userid).await.unwrap();
    assert_eq!(raw.cmd(&["EXISTS", &key]).await, Resp::Int(0));
}

/// Sessions as weroll's `Session.save` writes them (`HMSET user_sess_<id>_<token> userid ..
/// token .. tokentimestamp .. type .. extra <JSON>`, then `EXPIRE`), written here by hand:
/// they verify; the timestamp is not compared (weroll does not); `extra` is parsed.
#[tokio::test]
async fn redis_weroll_format_reads_sessions_weroll_wrote() {
    let mut redis = RedisFixture::weroll("weroll-read", false).await;
    let p = redis.prefix.clone();
    for (key, token) in [
        (format!("{p}user_sess_1001_tok-phone"), "tok-phone"),
        (format!("{p}user_sess_1001_tok-laptop"), "tok-laptop"),
    ] {
        let hset = redis
            .raw
            .cmd(&[
                "HSET",
                &key,
                "userid",
                "1001",
                "token",
                token,
                "tokentimestamp",
                "1700000000123",
                "type",
                "100",
                "extra",
                r#"["Jay","123.jpg",{"vip":3}]"#,
            ])
            .await;
        assert_eq!(hset, Resp::Int(5));
        redis.raw.cmd(&["EXPIRE", &key, "60"]).await;
    }
    let found = session::verify(&redis.store, "1001", "tok-phone", 1_700_000_000_123)
        .await
        .unwrap()
        .expect("weroll's session verifies");
    assert_eq!(
        found,
        Session {
            userid: "1001".into(),
            token: "tok-phone".into(),
            tokentimestamp: 1_700_000_000_123,
            data: json!({ "type": "100", "extra": ["Jay", "123.jpg", { "vip": 3 }] }),
        }
    );
    assert!(
        session::verify(&redis.store, "1001", "tok-laptop", 42)
            .await
            .unwrap()
            .is_some(),
        "the other device too, whatever timestamp it presents (weroll checks none)"
    );
    assert_eq!(
        session::verify(&redis.store, "1002", "tok-phone", 1_700_000_000_123)
            .await
            .unwrap(),
        None,
        "a forged userid"
    );
    // A hash with the key's user and token but no fields of its own (an older weroll).
    let bare = format!("{p}user_sess_7_bare");
    redis.raw.cmd(&["HSET", &bare, "type", "1"]).await;
    redis.raw.cmd(&["EXPIRE", &bare, "60"]).await;
    assert!(session::verify(&redis.store, "7", "bare", 0)
        .await
        .unwrap()
        .is_some());
    redis.cleanup().await;
}

/// What the weroll-format store writes is what weroll reads: the key, the fields as
/// strings, the expiry.
#[tokio::test]
async fn redis_weroll_format_writes_weroll_s_layout() {
    let mut redis = RedisFixture::weroll("weroll-write", false).await;
    let s = session("1001", "abcdef0123456789", 1_700_000_000_000);
    redis.store.save(&s, Duration::from_secs(30)).await.unwrap();
    let key = format!("{}user_sess_1001_abcdef0123456789", redis.prefix);
    assert_eq!(redis.raw.keys(&redis.prefix).await, vec![key.clone()]);
    assert_eq!(
        hash(&mut redis.raw, &key).await,
        [
            (
                "extra".to_owned(),
                r#"{"level":3,"name":"1001"}"#.to_owned()
            ),
            ("token".into(), "abcdef0123456789".into()),
            ("tokentimestamp".into(), "1700000000000".into()),
            ("type".into(), "100".into()),
            ("userid".into(), "1001".into()),
        ]
    );
    let ttl = pttl(&mut redis.raw, &key).await;
    assert!((29_000..=30_000).contains(&ttl), "PTTL {ttl}");
    assert_eq!(bulk(redis.raw.cmd(&["HGET", &key, "userid"]).await), "1001");
    redis.cleanup().await;
}

/// weroll's `onePointEnter`: `user_sess_<userid>`, one session per user; a new login ends
/// the previous one; logging out with a stale token leaves the newer login alone.
#[tokio::test]
async fn redis_weroll_format_one_point_enter() {
    let mut redis = RedisFixture::weroll("weroll-one", true).await;
    let key = format!("{}user_sess_42", redis.prefix);
    redis
        .raw
        .cmd(&[
            "HSET",
            &key,
            "userid",
            "42",
            "token",
            "first",
            "tokentimestamp",
            "1",
        ])
        .await;
    redis.raw.cmd(&["EXPIRE", &key, "60"]).await;
    assert!(session::verify(&redis.store, "42", "first", 1)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        session::verify(&redis.store, "42", "other", 1)
            .await
            .unwrap(),
        None,
        "only the stored token"
    );
    let second = session("42", "second", 2);
    redis.store.save(&second, TTL).await.unwrap();
    assert_eq!(redis.raw.keys(&redis.prefix).await, vec![key.clone()]);
    assert_eq!(
        redis.store.load("42", "first").await.unwrap(),
        None,
        "replaced"
    );
    redis.store.remove("42", "first").await.unwrap();
    assert_eq!(
        redis.store.load("42", "second").await.unwrap(),
        Some(second),
        "a stale logout leaves the newer login"
    );
    redis.store.remove("42", "second").await.unwrap();
    assert_eq!(redis.raw.cmd(&["EXISTS", &key]).await, Resp::Int(0));
    redis.cleanup().await;
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

    // `$init` with the session: ack, then the `$init` event, both weroll's
    // `{clientID: userid, socketID, time}`.
    ws.send_text(&init_packet(
        2,
        "alice",
        "alice-token",
        json!(1_700_000_000_001u64),
    ))
    .await;
    assert_init_reply(&ws.recv_text().await, "432", "alice", Some(&sid));
    assert_init_reply(&ws.recv_text().await, "42", "alice", Some(&sid));
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
        json!([{"clientID":"alice","userid":"alice","data":{"type":"100","extra":{"name":"alice","level":3}}}])
    );

    // The timestamp as a string (weroll clients), on a second connection of alice.
    let (mut ws2, sid2) = sio_ws(&hs.server, "/").await;
    ws2.send_text(&init_packet(
        1,
        "alice",
        "alice-token",
        json!("1700000000001"),
    ))
    .await;
    assert_init_reply(&ws2.recv_text().await, "431", "alice", Some(&sid2));
    assert_init_reply(&ws2.recv_text().await, "42", "alice", Some(&sid2));
    // A plain WebSocket connection of alice, too.
    let mut plain = plain_ws(&hs.server, "").await;
    plain
        .send_text(
            &json!(["$init", { "_sess": { "userid": "alice", "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }, 7])
                .to_string(),
        )
        .await;
    let plain_sid = assert_init_reply(&plain.recv_text().await, "", "alice", None);
    let event: Value = serde_json::from_str(&plain.recv_text().await).unwrap();
    assert_eq!(event[0], "$init", "{event}");
    assert_init_reply(&event.to_string(), "", "alice", Some(&plain_sid));
    hs.log.take();

    // send_to(userid) reaches all three of alice's connections, once each.
    let (mut bob_ws, bob_sid) = sio_ws(&hs.server, "/").await;
    bob_ws
        .send_text(&init_packet(
            1,
            "bob",
            "bob-token",
            json!(1_700_000_000_002u64),
        ))
        .await;
    assert_init_reply(&bob_ws.recv_text().await, "431", "bob", Some(&bob_sid));
    assert_init_reply(&bob_ws.recv_text().await, "42", "bob", Some(&bob_sid));
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
    store.remove("bob", "bob-token").await.unwrap();
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
    store.remove_all("alice").await.unwrap();
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
    fn load<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn remove<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn remove_all<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
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

/// The `$init` handshake against sessions a weroll app wrote in its own format (written
/// here by hand, as `Session.save` does): a numeric `userid` in `$init`, two devices of one
/// user, weroll's `type` and `extra` reaching the `Session` extractor; a forged one refused.
#[tokio::test]
async fn handshake_with_sessions_in_weroll_s_redis_format() {
    init();
    let mut redis = RedisFixture::weroll("handshake-weroll", false).await;
    for token in ["phone-token", "laptop-token"] {
        let key = format!("{}user_sess_1001_{token}", redis.prefix);
        redis
            .raw
            .cmd(&[
                "HSET",
                &key,
                "userid",
                "1001",
                "token",
                token,
                "tokentimestamp",
                "1700000000123",
                "type",
                "100",
                "extra",
                r#"{"nickname":"Jay"}"#,
            ])
            .await;
        redis.raw.cmd(&["EXPIRE", &key, "60"]).await;
    }
    let hs = handshake_server(Arc::new(redis.store.clone()), Duration::from_secs(10)).await;
    let mut devices = Vec::new();
    for token in ["phone-token", "laptop-token"] {
        let (mut ws, sid) = sio_ws(&hs.server, "/").await;
        ws.send_text(&format!(
            "421{}",
            json!(["$init", { "_sess": { "userid": 1001, "token": token, "tokentimestamp": "1700000000123" } }])
        ))
        .await;
        assert_init_reply(&ws.recv_text().await, "431", "1001", Some(&sid));
        assert_init_reply(&ws.recv_text().await, "42", "1001", Some(&sid));
        devices.push(ws);
    }
    devices[0].send_text(r#"422["whoami"]"#).await;
    assert_eq!(
        devices[0].recv_text().await,
        format!(
            "432{}",
            json!([{ "clientID": "1001", "userid": "1001", "data": { "type": "100", "extra": { "nickname": "Jay" } } }])
        )
    );
    // `dm` needs the session as an extension: both devices get it.
    devices[1].send_text(r#"42["dm","1001"]"#).await;
    for ws in &mut devices {
        assert_eq!(ws.recv_text().await, r#"42["dm",{"from":"1001"}]"#);
    }
    let (mut forged, _) = sio_ws(&hs.server, "/").await;
    forged
        .send_text(&init_packet(
            1,
            "1002",
            "phone-token",
            json!(1_700_000_000_123u64),
        ))
        .await;
    assert_eq!(
        forged.recv_text().await,
        r#"431[{"error":"invalid or expired session"}]"#
    );
    assert_no_panics();
    redis.cleanup().await;
}
