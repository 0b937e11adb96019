//! What one connection can make the server hold or do is bounded: handlers in flight,
//! events waiting, namespaces joined, time to complete a binary packet, empty dynamic
//! namespaces. And no handler code runs on a connection's I/O task, so a slow handler
//! delays neither its heartbeat nor other connections.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use common::*;
use realtime::{Data, Realtime};
use serde_json::json;

/// A handler whose synchronous part takes a second (the fault: it ran on the connection's
/// I/O task, which also drives the heartbeat, so the heartbeat stopped for that second).
/// Meanwhile the connection keeps its heartbeat, reads the next events, and other
/// connections are served; the handlers still start in arrival order.
///
/// The handler blocks the way tokio requires of blocking code (`block_in_place`, which
/// hands the worker's other tasks to another thread): a handler that blocks a worker
/// thread without it stalls whatever else that worker would run, whatever the framework.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_delays_neither_the_heartbeat_nor_other_connections() {
    async fn slow() -> &'static str {
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1000)));
        "slow done"
    }
    let server = serve(
        echo_server(
            config()
                .with_ping_interval(ms(200))
                .with_ping_timeout(ms(300)),
        )
        .without_registered_handlers()
        .on("slow", slow),
    )
    .await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let (mut other, _) = sio_ws(&server, "/").await;
    let started = tokio::time::Instant::now();
    ws.send_text(r#"421["slow"]"#).await;
    ws.send_text(r#"422["echo","after"]"#).await;
    // Another connection, served while the slow handler runs.
    let other = tokio::spawn(async move {
        tokio::time::sleep(ms(300)).await;
        let asked = tokio::time::Instant::now();
        other.send_text(r#"42["echo","x"]"#).await;
        loop {
            let t = other.recv_text().await;
            if t == "2" {
                other.send_text("3").await;
                continue;
            }
            assert_eq!(t, r#"42["echo","x"]"#);
            return asked.elapsed();
        }
    });
    // While the handler runs: pings keep coming, and are answered.
    let mut pings = 0;
    loop {
        let t = ws.recv_text().await;
        if t == "2" {
            pings += 1;
            ws.send_text("3").await;
            continue;
        }
        assert_eq!(t, r#"431["slow done"]"#);
        break;
    }
    assert!(started.elapsed() >= ms(1000));
    assert!(
        pings >= 3,
        "{pings} pings during a 1 s handler (interval 200 ms)"
    );
    // The event behind it started after it, in order.
    assert_eq!(ws.recv_text_no_ping().await, r#"42["echo","after"]"#);
    // The other connection was answered during the slow handler, not after it.
    let waited = other.await.unwrap();
    assert!(waited < ms(500), "the other connection waited {waited:?}");
}

/// One polling POST carrying thousands of events (the fault: one task each, at once): at
/// most `max_handlers_in_flight` run at a time, every one runs, in order of arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_in_flight_per_connection_are_bounded() {
    #[derive(Clone, Default)]
    struct Gauge {
        now: Arc<AtomicUsize>,
        max: Arc<AtomicUsize>,
        done: Arc<AtomicUsize>,
    }
    async fn work(realtime::State(g): realtime::State<Gauge>, Data(_n): Data<u64>) {
        let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
        g.max.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(ms(5)).await;
        g.now.fetch_sub(1, Ordering::SeqCst);
        g.done.fetch_add(1, Ordering::SeqCst);
    }
    let gauge = Gauge::default();
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .config(config().with_max_handlers_in_flight(16))
            .state(gauge.clone())
            .on("work", work),
    )
    .await;
    let (polling, _) = Polling::open(&server).await;
    polling.connect("/").await;
    const N: usize = 2000;
    let body: Vec<String> = (0..N).map(|n| format!(r#"42["work",{n}]"#)).collect();
    let post = {
        let polling = polling.clone();
        let body = body.join("\x1e");
        tokio::spawn(async move {
            let resp = polling.post(&body).await;
            assert_eq!(resp.status, 200, "{resp:?}");
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gauge.done.load(Ordering::SeqCst) < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all handlers ran"
        );
        tokio::time::sleep(ms(20)).await;
    }
    post.await.unwrap();
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(max <= 16, "{max} handlers of one connection ran at once");
    assert!(max >= 8, "the bound is used ({max})");
}

/// While `max_events_waiting` events wait, the server stops reading from the connection:
/// the POST is answered only once the handlers caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_met_with_backpressure_not_memory() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    async fn blocked(realtime::State(gate): realtime::State<Arc<tokio::sync::Semaphore>>) {
        let _ = gate.acquire().await.map(|p| p.forget());
    }
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .config(
                config()
                    .with_max_handlers_in_flight(4)
                    .with_max_events_waiting(8),
            )
            .state(gate.clone())
            .on("blocked", blocked),
    )
    .await;
    let (polling, _) = Polling::open(&server).await;
    polling.connect("/").await;
    let body = vec![r#"42["blocked"]"#; 100].join("\x1e");
    let post = {
        let polling = polling.clone();
        tokio::spawn(async move { polling.post(&body).await })
    };
    tokio::time::sleep(ms(300)).await;
    assert!(
        !post.is_finished(),
        "the POST waits while handlers are stuck"
    );
    gate.add_permits(100);
    let resp = within("the POST is answered once handlers ran", post)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}

/// A connection may join at most `max_namespaces_per_connection` namespaces; past that a
/// CONNECT is refused with a clear `connect_error`, and the connection keeps working.
#[tokio::test]
async fn namespaces_per_connection_are_bounded() {
    let _logs = init();
    let server = serve(
        echo_server(config().with_max_namespaces_per_connection(3))
            .dynamic_namespace(|n| n.starts_with("/dyn-"), common::echo_ns),
    )
    .await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    sio_connect_on(&mut ws, "/dyn-1").await;
    sio_connect_on(&mut ws, "/dyn-2").await;
    ws.send_text("40/dyn-3,").await;
    assert_eq!(
        ws.recv_text().await,
        r#"44/dyn-3,{"message":"too many namespaces on one connection"}"#
    );
    assert_sio_echo(&mut ws, "still-works").await;
    // Leaving one makes room.
    ws.send_text("41/dyn-1,").await;
    sio_connect_on(&mut ws, "/dyn-3").await;
    assert_no_panics();
}

/// Empty dynamic namespaces are removed (they used to stay for ever); off by config.
#[tokio::test]
async fn empty_dynamic_namespaces_are_removed() {
    let _logs = init();
    let server = serve(
        echo_server(config()).dynamic_namespace(|n| n.starts_with("/room-"), common::echo_ns),
    )
    .await;
    for i in 0..20 {
        let (ws, _) = sio_ws(&server, &format!("/room-{i}")).await;
        drop(ws);
    }
    wait_until("every empty dynamic namespace is gone", || {
        (0..20).all(|i| server.rt.of(&format!("/room-{i}")).is_none())
    })
    .await;
    // A namespace comes back on the next connection, and works.
    let (mut ws, _) = sio_ws(&server, "/room-1").await;
    ws.send_text(r#"42/room-1,["echo","back"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/room-1,["echo","back"]"#);
    assert!(server.rt.of("/room-1").is_some());

    let keep = serve(
        echo_server(config().with_remove_empty_dynamic_namespaces(false))
            .dynamic_namespace(|n| n.starts_with("/room-"), common::echo_ns),
    )
    .await;
    let (ws, _) = sio_ws(&keep, "/room-7").await;
    drop(ws);
    tokio::time::sleep(ms(100)).await;
    assert!(keep.rt.of("/room-7").is_some());
}

/// Many clients racing into and out of one dynamic namespace: every connected socket is in
/// the namespace the server knows by that name (none stranded in a removed one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_on_a_dynamic_namespace_strands_nobody() {
    let server =
        serve(echo_server(config()).dynamic_namespace(|n| n.starts_with("/hot"), common::echo_ns))
            .await;
    let addr = server.addr;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
            tokio::spawn(async move {
                for _ in 0..30 {
                    let mut ws = ws_connect(&url).await;
                    ws.recv_text().await;
                    sio_connect_on(&mut ws, "/hot").await;
                    drop(ws);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (mut ws, sid) = sio_ws(&server, "/hot").await;
    let ns = server
        .rt
        .of("/hot")
        .expect("the namespace exists while a socket is in it");
    assert!(ns
        .socket(realtime::SocketId::parse(&sid).unwrap())
        .is_some());
    ns.emit("hello", &json!(1)).unwrap();
    assert_eq!(ws.recv_text().await, r#"42/hot,["hello",1]"#);
}

/// A binary packet whose attachments never come closes the connection after
/// `binary_attachment_timeout` (it used to hold the partial packet for ever).
#[tokio::test]
async fn a_binary_packet_must_complete_in_time() {
    let logs = init();
    let server = serve(echo_server(
        config().with_binary_attachment_timeout(ms(200)),
    ))
    .await;
    let (mut healthy, _) = sio_ws(&server, "/").await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_bin(b"first").await;
    let started = tokio::time::Instant::now();
    ws.expect_close().await;
    assert!(started.elapsed() >= ms(150));
    logs.wait_for("binary packet's attachments did not all arrive in time")
        .await;
    assert_sio_echo(&mut healthy, "fine").await;
    // A binary packet completed in time is unaffected by an earlier timer.
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"451-["echo",{"_placeholder":true,"num":0}]"#)
        .await;
    ws.send_bin(b"ok").await;
    assert_eq!(
        ws.recv_text().await,
        r#"451-["echo",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(ws.recv_bin().await, b"ok");
    tokio::time::sleep(ms(300)).await;
    assert_sio_echo(&mut ws, "alive").await;
    assert_no_panics();
}
