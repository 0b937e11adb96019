//! Events that arrive right behind `$init` (what every client does: `$init`, then its first
//! events, in the same tick): they wait for the verification and run in order once it
//! succeeds; they are refused when it fails; the wait is bounded. And a failed `$init` on a
//! plain WebSocket closes with 1008 and the reason.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use realtime::{
    session::StoreFuture, Data, MemorySessionStore, Realtime, Session, SessionStore,
    ShakehandConfig, State,
};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn alice() -> Session {
    Session {
        userid: "alice".into(),
        token: "alice-token".into(),
        tokentimestamp: 1_700_000_000_001,
        data: json!({}),
    }
}

/// The memory store, answering after `delay`: makes "events arrive while `$init` is being
/// verified" certain instead of likely.
#[derive(Debug)]
struct SlowStore {
    inner: MemorySessionStore,
    delay: Duration,
}

impl SessionStore for SlowStore {
    fn save<'a>(&'a self, s: &'a Session, ttl: Duration) -> StoreFuture<'a, ()> {
        self.inner.save(s, ttl)
    }
    fn load<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.inner.load(userid, token).await
        })
    }
    fn remove<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        self.inner.remove(userid, token)
    }
    fn remove_all<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()> {
        self.inner.remove_all(userid)
    }
}

/// The order in which `note` events ran.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<Vec<u64>>>);

async fn note(State(ran): State<Ran>, Data(n): Data<u64>) -> u64 {
    ran.0.lock().unwrap().push(n);
    n
}

async fn gate_server(delay: Duration, max_queued: usize) -> (Server, Ran) {
    let inner = MemorySessionStore::new();
    inner.save(&alice(), Duration::from_secs(60)).await.unwrap();
    let store = SlowStore { inner, delay };
    let ran = Ran::default();
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .state(ran.clone())
            .shakehand(
                ShakehandConfig::new(store)
                    .required(true)
                    .max_queued_events(max_queued),
            )
            .on("note", note),
    )
    .await;
    (server, ran)
}

fn init(ack: u64, token: &str) -> String {
    format!(
        "42{ack}{}",
        json!(["$init", { "_sess": { "userid": "alice", "token": token, "tokentimestamp": 1_700_000_000_001u64 } }])
    )
}

fn note_packet(ack: u64, n: u64) -> Message {
    Message::text(format!(r#"42{ack}["note",{n}]"#))
}

/// `$init` and five events in one write: the handshake answers first, then the five run in
/// order, each answering its ack.
#[tokio::test]
async fn events_behind_init_run_in_order_after_success() {
    let _logs = common::init();
    let (server, ran) = gate_server(Duration::from_millis(100), 64).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let mut batch = vec![Message::text(init(1, "alice-token"))];
    batch.extend((0..5).map(|n| note_packet(10 + n, n)));
    ws.send_batch(batch).await;
    assert_init_reply(&ws.recv_text().await, "431", "alice", Some(&sid));
    assert_init_reply(&ws.recv_text().await, "42", "alice", Some(&sid));
    for n in 0..5 {
        assert_eq!(ws.recv_text().await, format!("43{}[{n}]", 10 + n));
    }
    assert_eq!(*ran.0.lock().unwrap(), [0, 1, 2, 3, 4]);
    // And the next event, after the gate opened, runs as usual.
    ws.send(note_packet(20, 5)).await;
    assert_eq!(ws.recv_text().await, "4320[5]");
    assert_no_panics();
}

/// The same without the artificial delay, many times: whatever the timing, nothing is
/// refused and the order holds (it used to depend on which task ran first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_behind_init_are_never_refused_whatever_the_timing() {
    let (server, ran) = gate_server(Duration::ZERO, 64).await;
    for round in 0..100 {
        ran.0.lock().unwrap().clear();
        let (mut ws, sid) = sio_ws(&server, "/").await;
        let mut batch = vec![Message::text(init(1, "alice-token"))];
        batch.extend((0..3).map(|n| note_packet(10 + n, n)));
        ws.send_batch(batch).await;
        assert_init_reply(&ws.recv_text().await, "431", "alice", Some(&sid));
        assert_init_reply(&ws.recv_text().await, "42", "alice", Some(&sid));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(ws.recv_text().await);
        }
        assert_eq!(got, ["4310[0]", "4311[1]", "4312[2]"], "round {round}");
        assert_eq!(*ran.0.lock().unwrap(), [0, 1, 2], "round {round}");
    }
}

/// Past `max_queued_events`, events waiting for the handshake are refused with a clear
/// error; those within the bound still run.
#[tokio::test]
async fn the_wait_is_bounded() {
    let _logs = common::init();
    let (server, ran) = gate_server(Duration::from_millis(100), 2).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let mut batch = vec![Message::text(init(1, "alice-token"))];
    batch.extend((0..4).map(|n| note_packet(10 + n, n)));
    ws.send_batch(batch).await;
    let refused = r#"[{"error":"too many events before the $init handshake completed"}]"#;
    assert_eq!(ws.recv_text().await, format!("4312{refused}"));
    assert_eq!(ws.recv_text().await, format!("4313{refused}"));
    assert_init_reply(&ws.recv_text().await, "431", "alice", Some(&sid));
    assert_init_reply(&ws.recv_text().await, "42", "alice", Some(&sid));
    assert_eq!(ws.recv_text().await, "4310[0]");
    assert_eq!(ws.recv_text().await, "4311[1]");
    assert_eq!(*ran.0.lock().unwrap(), [0, 1]);
}

/// After a failed `$init`, the events that waited for it are refused and never run.
#[tokio::test]
async fn events_behind_a_failed_init_are_refused() {
    let _logs = common::init();
    let (server, ran) = gate_server(Duration::from_millis(100), 64).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_batch(vec![
        Message::text(init(1, "wrong-token")),
        note_packet(10, 0),
        Message::text(r#"42["note",1]"#),
    ])
    .await;
    assert_eq!(
        ws.recv_text().await,
        r#"431[{"error":"invalid or expired session"}]"#
    );
    assert_eq!(
        ws.recv_text().await,
        r#"4310[{"error":"$init handshake failed"}]"#
    );
    assert_eq!(
        ws.recv_text().await,
        r#"42["$error",{"event":"note","error":"$init handshake failed"}]"#
    );
    assert_eq!(ws.recv_text().await, "41");
    assert!(ran.0.lock().unwrap().is_empty());
    assert_no_panics();
}

/// A failed `$init` on a plain WebSocket: the `$error` frame, then a close with 1008 and
/// the reason (it used to be a bare close, seen as 1005 with no reason).
#[tokio::test]
async fn failed_init_on_plain_websocket_closes_with_1008_and_the_reason() {
    let _logs = common::init();
    let (server, _) = gate_server(Duration::ZERO, 64).await;
    let mut ws = plain_ws(&server, "").await;
    ws.send_text(
        &json!(["$init", { "_sess": { "userid": "alice", "token": "nope", "tokentimestamp": 1 } }])
            .to_string(),
    )
    .await;
    let closed = ws.expect_close().await;
    assert_eq!(
        closed.texts(),
        [r#"["$error",{"event":"$init","error":"invalid or expired session"}]"#]
    );
    assert_eq!(closed.code(), Some(1008), "{closed:?}");
    assert_eq!(closed.reason(), "invalid or expired session");
    assert_no_panics();
}

/// A plain client that never sends `$init`: closed with 1008 "handshake timed out".
#[tokio::test]
async fn plain_websocket_handshake_timeout_closes_with_1008() {
    let _logs = common::init();
    let store = MemorySessionStore::new();
    let server = serve(
        Realtime::builder().without_registered_handlers().shakehand(
            ShakehandConfig::new(store)
                .required(true)
                .timeout(Duration::from_millis(200)),
        ),
    )
    .await;
    let mut ws = plain_ws(&server, "").await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1008), "{closed:?}");
    assert_eq!(closed.reason(), "handshake timed out");
}

/// `$init` pushed without a required handshake needs no session store; a required one that
/// admits sessions is refused at build() when there is none.
#[tokio::test]
async fn a_session_store_is_needed_only_by_a_required_handshake() {
    let _logs = common::init();
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .shakehand(realtime::ShakehandConfig::default()),
    )
    .await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    assert_init_reply(&ws.recv_text().await, "42", &sid, Some(&sid));
    let err = Realtime::builder()
        .without_registered_handlers()
        .shakehand(realtime::ShakehandConfig::default().required(true))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("needs a session store"), "{err}");
}
