//! The cluster API from Rust: on a single node (no adapter: every call works for this node
//! alone), and on two in-process nodes joined by `RedisAdapter` on the Redis at `REDIS_URL`
//! (default 127.0.0.1:6379; `.ci/run` starts one), each run on a cluster key of its own.
//! The cross-process and Node interop tests are in `tests/interop/node/test/cluster.test.mjs`.

mod common;

use std::time::Duration;

use common::*;
use realtime::{
    cluster::RedisAdapterConfig, ClusterError, Payload, Realtime, RedisAdapter, ServerEvent,
};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Reads frames until a text frame starts with `prefix` (skipping what earlier steps
/// sent, binary frames included).
async fn recv_starting(ws: &mut Ws, prefix: &str) -> String {
    within(prefix, async {
        loop {
            if let Message::Text(t) = ws.recv().await {
                if t.starts_with(prefix) {
                    return t.to_string();
                }
            }
        }
    })
    .await
}

/// The ack id of an event packet `42<id>[...]`.
fn ack_id(packet: &str) -> u64 {
    let rest = &packet[2..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().expect("an ack id")
}

// ---------------------------------------------------------------------------------------
// One node, no adapter
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn single_node_fetch_sockets_rooms_and_server_count() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (_a, sid_a) = sio_ws(&server, "/").await;
    let (mut b, sid_b) = sio_ws(&server, "/").await;
    let a = server.socket("/", &sid_a);
    a.set_data(&json!({"name": "ann"})).unwrap();
    a.join("lobby");
    let ns = server.rt.of("/").unwrap();

    let sockets = ns.fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 2);
    let fa = sockets.iter().find(|s| s.id() == sid_a).unwrap();
    assert_eq!(fa.data::<Value>().unwrap(), json!({"name": "ann"}));
    assert_eq!(fa.rooms(), [sid_a.clone(), "lobby".to_owned()]);
    assert!(fa.local().is_some());
    assert_eq!(fa.handshake().url, "/socket.io/?EIO=4&transport=websocket");
    let fb = sockets.iter().find(|s| s.id() == sid_b).unwrap();
    assert_eq!(
        fb.data::<Value>().unwrap(),
        json!({}),
        "no data is an empty object"
    );

    let in_lobby = ns.broadcast().to("lobby").fetch_sockets().await.unwrap();
    assert_eq!(in_lobby.len(), 1);
    assert_eq!(in_lobby[0].id(), sid_a);

    let mut rooms = ns.all_rooms().await.unwrap();
    rooms.sort();
    let mut want = vec![sid_a.clone(), sid_b.clone(), "lobby".to_owned()];
    want.sort();
    assert_eq!(
        rooms.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        want
    );

    assert_eq!(ns.server_count().await.unwrap(), 1);
    ns.server_side_emit("nobody", &1).unwrap();
    let answers = ns.server_side_emit_with_ack("nobody", &1).await.unwrap();
    assert_eq!((answers.responses.len(), answers.expected), (0, 0));

    // A fetched socket can be talked to.
    fb.emit("direct", &"hi").unwrap();
    assert_eq!(b.recv_text().await, r#"42["direct","hi"]"#);
    fb.join("late");
    assert!(ns.rooms().iter().any(|r| &**r == "late"));
}

#[tokio::test]
async fn single_node_broadcast_with_acks_collects_and_times_out() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (mut a, _) = sio_ws(&server, "/").await;
    let (mut b, sid_b) = sio_ws(&server, "/").await;
    let ns = server.rt.of("/").unwrap();

    // Both answer.
    let acks = ns
        .timeout(Duration::from_secs(5))
        .emit_with_ack("q", &1)
        .unwrap();
    assert_eq!(acks.expected(), 2);
    for (ws, answer) in [(&mut a, "\"from-a\""), (&mut b, "\"from-b\"")] {
        let packet = ws.recv_text().await;
        assert!(packet.ends_with(r#"["q",1]"#), "{packet}");
        // A second argument is dropped: broadcast acks carry the first, as socket.io's do.
        ws.send_text(&format!("43{}[{answer},2]", ack_id(&packet)))
            .await;
    }
    let all = within("acks", acks.collect()).await;
    assert!(!all.timed_out);
    assert_eq!(all.expected, 2);
    let mut values = all.values::<String>().unwrap();
    values.sort();
    assert_eq!(values, ["from-a", "from-b"]);

    // b stays silent: the timeout ends the wait with what came.
    let mut acks = ns
        .broadcast()
        .timeout(Duration::from_millis(300))
        .emit_with_ack("q", &2)
        .unwrap();
    let packet = a.recv_text().await;
    a.send_text(&format!("43{}[\"again\"]", ack_id(&packet)))
        .await;
    let first = within("first ack", acks.next()).await.unwrap();
    assert_eq!(first.get::<String>(0).unwrap(), "again");
    assert!(within("timeout", acks.next()).await.is_none());
    let rest = acks.collect().await;
    assert!(rest.timed_out);
    assert_eq!(rest.expected, 2);

    // b's late answer is dropped without trouble; b still works.
    let packet = b.recv_text().await;
    b.send_text(&format!("43{}[\"late\"]", ack_id(&packet)))
        .await;
    assert_sio_echo(&mut b, "after-late-broadcast-ack").await;
    let _ = sid_b;
}

// ---------------------------------------------------------------------------------------
// Two nodes on Redis
// ---------------------------------------------------------------------------------------

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis adapter on a cluster key of this test alone, with short request timeouts.
fn adapter(key: &str) -> RedisAdapter {
    let mut config = RedisAdapterConfig::default();
    config.key = key.to_owned();
    config.requests_timeout = Duration::from_millis(800);
    RedisAdapter::with_config(&redis_url(), config).expect("a Redis URL")
}

async fn node(key: &str, name: &'static str) -> (Server, RedisAdapter) {
    let adapter = adapter(key);
    let builder = echo_server(config())
        .adapter(adapter.clone())
        .namespace("/", move |ns| {
            ns.on_server_event("who", move |mut ev: ServerEvent| {
                let _ = ev.reply(&name);
                std::future::ready(())
            })
        });
    let server = serve(builder).await;
    within("cluster ready", server.rt.cluster_ready())
        .await
        .expect("Redis at REDIS_URL (default 127.0.0.1:6379) answers");
    (server, adapter)
}

#[tokio::test]
async fn two_nodes_share_broadcasts_sockets_and_requests() {
    let _logs = init();
    let key = unique_name("two-nodes");
    let (one, stats_one) = node(&key, "one").await;
    let (two, _) = node(&key, "two").await;
    let (mut c1, sid1) = sio_ws(&one, "/").await;
    let (mut c2, sid2) = sio_ws(&two, "/").await;
    two.socket("/", &sid2).join("room");
    two.socket("/", &sid2)
        .set_data(&json!({"user": 2}))
        .unwrap();
    let ns1 = one.rt.of("/").unwrap();

    assert_eq!(ns1.server_count().await.unwrap(), 2);

    // A broadcast reaches the other node's client once, and this node's.
    ns1.emit("news", &1).unwrap();
    assert_eq!(c1.recv_text().await, r#"42["news",1]"#);
    assert_eq!(c2.recv_text().await, r#"42["news",1]"#);
    // Rooms select on the other node too; a room with members only there still counts.
    ns1.to("room").emit("room-news", &2).unwrap();
    assert_eq!(c2.recv_text().await, r#"42["room-news",2]"#);
    // Binary crosses as binary.
    let payload = Payload::new().arg("x").unwrap().binary_arg(vec![1u8, 2]);
    ns1.emit_payload("bin", &payload).unwrap();
    assert_eq!(
        recv_starting(&mut c2, "451-").await,
        r#"451-["bin","x",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(c2.recv_bin().await, [1u8, 2]);

    // fetch_sockets sees the other node's socket with its data and handshake.
    let sockets = ns1.fetch_sockets().await.unwrap();
    let remote = sockets
        .iter()
        .find(|s| s.id() == sid2)
        .expect("remote socket");
    assert!(remote.local().is_none());
    assert_eq!(remote.data::<Value>().unwrap(), json!({"user": 2}));
    assert_eq!(remote.rooms(), [sid2.clone(), "room".to_owned()]);
    assert_eq!(remote.handshake().query.get("EIO"), Some(&json!("4")));
    remote.emit("direct", &"to-two").unwrap();
    assert_eq!(c2.recv_text().await, r#"42["direct","to-two"]"#);

    // Remote join, then a broadcast to the new room.
    ns1.broadcast().to(sid2.as_str()).join("joined");
    wait_until("c2 joined remotely", || {
        two.rt
            .of("/")
            .unwrap()
            .rooms()
            .iter()
            .any(|r| &**r == "joined")
    })
    .await;

    // Server-side emit with acks: one answer from the other node.
    let answers = ns1.server_side_emit_with_ack("who", &()).await.unwrap();
    assert_eq!(answers.expected, 1);
    assert_eq!(answers.values::<String>().unwrap(), ["two"]);

    // An event no node answers: on timeout, the answers that came (none of the one
    // expected), as Node's `err.responses`.
    let partial = ns1
        .server_side_emit_with_ack("nobody-answers", &())
        .await
        .unwrap();
    assert_eq!((partial.responses.len(), partial.expected), (0, 1));
    assert!(!partial.complete());

    // Broadcast acks from both nodes' clients.
    let acks = ns1
        .timeout(Duration::from_secs(3))
        .emit_with_ack("q", &0)
        .unwrap();
    for (ws, answer) in [(&mut c1, "1"), (&mut c2, "2")] {
        let packet = recv_starting(ws, "42").await;
        ws.send_text(&format!("43{}[{answer}]", ack_id(&packet)))
            .await;
    }
    let all = within("acks of two nodes", acks.collect()).await;
    assert!(!all.timed_out, "{all:?}");
    assert_eq!(all.expected, 2);
    let mut values = all.values::<u32>().unwrap();
    values.sort();
    assert_eq!(values, [1, 2]);

    // A node's own messages are never delivered to it twice.
    ns1.emit("once", &0).unwrap();
    assert_eq!(recv_starting(&mut c1, "42").await, r#"42["once",0]"#);
    ns1.emit("sentinel", &0).unwrap();
    assert_eq!(c1.recv_text().await, r#"42["sentinel",0]"#);
    assert!(stats_one.stats().published >= 1);
    let _ = sid1;
}

#[tokio::test]
async fn unreachable_redis_leaves_a_working_single_node_with_clear_errors() {
    let _logs = init();
    // Nothing listens on port 1.
    let mut config = RedisAdapterConfig::default();
    config.connect_timeout = Duration::from_millis(300);
    let adapter = RedisAdapter::with_config("redis://127.0.0.1:1", config).unwrap();
    let rt = echo_server(common::config())
        .adapter(adapter.clone())
        .build()
        .unwrap();
    assert!(matches!(
        within("ready fails", rt.cluster_ready()).await,
        Err(ClusterError::Unavailable(_))
    ));
    let server = serve_app(rt.clone(), rt.router()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let ns = rt.of("/").unwrap();
    // Local delivery works.
    ns.emit("local", &1).unwrap();
    assert_eq!(ws.recv_text().await, r#"42["local",1]"#);
    assert_sio_echo(&mut ws, "without-redis").await;
    // Requests fail clearly and at once.
    let err = within("fetch fails", ns.fetch_sockets()).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(matches!(
        within("count fails", ns.server_count()).await,
        Err(ClusterError::Unavailable(_))
    ));
    // What could not be published is counted.
    wait_until("dropped counted", || adapter.stats().dropped >= 1).await;
    let _: Realtime = rt;
}
