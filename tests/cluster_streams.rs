//! `RedisStreamsAdapter` from Rust: connection state recovery across two in-process nodes
//! (a client drops on one and comes back to the other), with a stream, channels and
//! session keys of this test alone (the adapter's configuration), on the Redis at
//! `REDIS_URL` (default 127.0.0.1:6379; `.ci/run` starts one); and what a node does when
//! Redis cannot be reached. Interop with Node's `@socket.io/redis-streams-adapter`:
//! `tests/interop/node/test/cluster-recovery.test.mjs`.

mod common;

use std::time::Duration;

use common::*;
use realtime::{
    cluster::RedisStreamsAdapterConfig, config::Recovery, ClusterError, RedisStreamsAdapter,
};
use serde_json::{json, Value};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// An adapter whose stream, channels and session keys are this test's alone.
fn adapter(prefix: &str) -> RedisStreamsAdapter {
    let mut config = RedisStreamsAdapterConfig::default();
    config.stream_name = format!("{prefix}-stream");
    config.channel_prefix = prefix.to_owned();
    config.session_key_prefix = format!("{prefix}:session:");
    config.requests_timeout = Duration::from_millis(800);
    config.block_time = Duration::from_millis(500);
    RedisStreamsAdapter::with_config(&redis_url(), config).expect("a Redis URL")
}

async fn node(prefix: &str) -> Server {
    let builder = echo_server(config())
        .adapter(adapter(prefix))
        .connection_state_recovery(Recovery::default());
    let server = serve(builder).await;
    within("cluster ready", server.rt.cluster_ready())
        .await
        .expect("Redis at REDIS_URL (default 127.0.0.1:6379) answers");
    server
}

/// `40{"sid":..,"pid":..}` → (sid, pid).
fn connect_reply(text: &str) -> (String, String) {
    let reply: Value = serde_json::from_str(text.strip_prefix("40").expect("a CONNECT reply"))
        .expect("CONNECT JSON");
    (
        reply["sid"].as_str().expect("sid").to_owned(),
        reply["pid"].as_str().expect("pid").to_owned(),
    )
}

/// `42["m",<n>,"<offset>"]` → (n, offset).
fn event(text: &str) -> (i64, String) {
    let args: Value =
        serde_json::from_str(text.strip_prefix("42").expect("an event")).expect("event JSON");
    assert_eq!(args[0], "m", "{text}");
    (
        args[1].as_i64().expect("a number"),
        args[2].as_str().expect("an offset").to_owned(),
    )
}

#[tokio::test]
async fn a_client_that_drops_on_one_node_comes_back_to_another() {
    let _logs = init();
    let prefix = unique_name("rt-streams");
    let a = node(&prefix).await;
    let b = node(&prefix).await;
    let count = within("server count", a.rt.of("/").unwrap().server_count())
        .await
        .unwrap();
    assert_eq!(count, 2);

    let (mut ws, _) = eio_ws(&a).await;
    ws.send_text("40").await;
    let (sid, pid) = connect_reply(&ws.recv_text().await);
    a.socket("/", &sid).join("room");
    let ns_b = b.rt.of("/").unwrap();
    ns_b.to("room").emit("m", &0).unwrap();
    let (n, offset) = event(&ws.recv_text().await);
    assert_eq!(n, 0);
    assert!(offset.contains('-'), "a stream entry id: {offset}");

    // The connection drops (no DISCONNECT): node a keeps the session in Redis.
    drop(ws);
    wait_until("a sees the drop", || {
        a.rt.of("/").unwrap().socket_count() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 1..=3 {
        ns_b.to("room").emit("m", &i).unwrap();
    }
    // A direct emit to another socket is not for it; a volatile one is never replayed.
    ns_b.to("elsewhere").emit("m", &99).unwrap();
    ns_b.to("room").volatile().emit("m", &98).unwrap();

    // Node b has read them all from the stream (it reads as they come).
    tokio::time::sleep(Duration::from_millis(300)).await;

    // It comes back to node b.
    let (mut back, _) = eio_ws(&b).await;
    back.send_text(&format!("40{}", json!({ "pid": pid, "offset": offset })))
        .await;
    let mut missed = Vec::new();
    let reply = loop {
        let text = back.recv_text().await;
        if text.starts_with("40") {
            break text;
        }
        missed.push(event(&text).0);
    };
    assert_eq!(
        missed,
        [1, 2, 3],
        "missed once, in order, before the CONNECT reply"
    );
    let (sid_back, pid_back) = connect_reply(&reply);
    assert_eq!(
        (sid_back.as_str(), pid_back.as_str()),
        (sid.as_str(), pid.as_str())
    );
    let socket = b.socket("/", &sid);
    assert!(socket.recovered());
    assert!(
        socket.rooms().iter().any(|r| &**r == "room"),
        "its room came back"
    );
    ns_b.to("room").emit("m", &4).unwrap();
    assert_eq!(event(&back.recv_text().await).0, 4);

    // The session was taken: presenting it again gives a new socket.
    let (mut again, _) = eio_ws(&a).await;
    again
        .send_text(&format!("40{}", json!({ "pid": pid, "offset": offset })))
        .await;
    let (other, _) = connect_reply(&again.recv_text().await);
    assert_ne!(other, sid);
}

#[tokio::test]
async fn without_redis_broadcasts_still_reach_this_node_without_offsets() {
    let _logs = init();
    let mut config = RedisStreamsAdapterConfig::default();
    config.connect_timeout = Duration::from_millis(300);
    let adapter = RedisStreamsAdapter::with_config("redis://127.0.0.1:1", config).unwrap();
    let rt = echo_server(common::config())
        .adapter(adapter.clone())
        .connection_state_recovery(Recovery::default())
        .build()
        .unwrap();
    assert!(matches!(
        within("ready fails", rt.cluster_ready()).await,
        Err(ClusterError::Unavailable(_))
    ));
    let server = serve_app(rt.clone(), rt.router()).await;
    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text("40").await;
    let (sid, _pid) = connect_reply(&ws.recv_text().await);
    // Could not be stored: delivered here all the same, without an offset.
    rt.of("/").unwrap().emit("local", &1).unwrap();
    assert_eq!(ws.recv_text().await, r#"42["local",1]"#);
    server.socket("/", &sid).emit("direct", &2).unwrap();
    assert_eq!(ws.recv_text().await, r#"42["direct",2]"#);
    assert_sio_echo(&mut ws, "without-redis").await;
    wait_until("dropped counted", || adapter.stats().dropped >= 2).await;
}

#[tokio::test]
async fn a_plain_websocket_client_comes_back_to_another_node() {
    let _logs = init();
    let prefix = unique_name("rt-streams-plain");
    let a = node(&prefix).await;
    let b = node(&prefix).await;
    let mut ws = plain_ws(&a, "?recover=1").await;
    let session: Value = serde_json::from_str(&ws.recv_text().await).unwrap();
    assert_eq!(session[0], "$session");
    assert_eq!(session[1]["recovered"], false);
    let sid = session[1]["sid"].as_str().unwrap().to_owned();
    let pid = session[1]["pid"].as_str().unwrap().to_owned();
    a.socket("/", &sid).join("room");
    let ns_b = b.rt.of("/").unwrap();
    ns_b.to("room").emit("m", &0).unwrap();
    let first: Value = serde_json::from_str(&ws.recv_text().await).unwrap();
    assert_eq!(first[1], 0);
    let offset = first[2]["$offset"].as_str().expect("an offset").to_owned();

    drop(ws);
    wait_until("a sees the drop", || {
        a.rt.of("/").unwrap().socket_count() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 1..=2 {
        ns_b.to("room").emit("m", &i).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let query = format!("?pid={pid}&offset={offset}");
    let mut back = plain_ws(&b, &query).await;
    let session: Value = serde_json::from_str(&back.recv_text().await).unwrap();
    assert_eq!(
        session,
        json!(["$session", { "sid": sid, "pid": pid, "recovered": true }])
    );
    for i in 1..=2 {
        let frame: Value = serde_json::from_str(&back.recv_text().await).unwrap();
        assert_eq!((&frame[0], &frame[1]), (&json!("m"), &json!(i)), "{frame}");
        assert!(frame[2]["$offset"].is_string(), "{frame}");
    }
}
