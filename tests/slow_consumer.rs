//! Slow consumers (see realtime-core/src/docs/slow_consumers.md): a bounded outbound queue
//! per connection; a full queue closes the connection for a normal emit and drops the packet
//! for a volatile one; other clients are unaffected.

mod common;

use common::*;
use realtime::{engine::SendError, EmitError, Socket};
use tokio_tungstenite::tungstenite::Message;

const QUEUE: usize = 8;
const BIG: usize = 256 * 1024;

/// A Socket.IO client on a small receive buffer, joined to `/`.
async fn slow_client(server: &Server) -> (Ws, Socket) {
    let mut ws = ws_connect_small_rcvbuf(&server.sio_ws_url(), server.addr).await;
    let open = ws.recv_text().await;
    assert!(open.starts_with("0{"));
    let sid = sio_connect_on(&mut ws, "/").await;
    let socket = server.socket("/", &sid);
    (ws, socket)
}

/// Emits needed to overfill a stalled connection: the pipe, the queue, and some more.
fn overfill() -> usize {
    pipe_bound() / BIG + QUEUE + 8
}

/// The index carried by a `big` event (`42["big",[i,"xxx..."]]`).
fn big_index(text: &str) -> usize {
    let rest = text
        .strip_prefix(r#"42["big",["#)
        .unwrap_or_else(|| panic!("not a big event: {:.40}", text));
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_while_others_keep_receiving() {
    let logs = init();
    let server = serve(echo_server(config().with_max_buffered_packets(QUEUE))).await;
    let (mut normal, _) = sio_ws(&server, "/").await;
    let (mut slow, slow_socket) = slow_client(&server).await;
    let ns = server.rt.of("/").unwrap();

    // Broadcast big packets; the normal client reads each before the next is sent, the slow
    // one reads nothing.
    let filler = "x".repeat(BIG);
    let mut sent = 0;
    while slow_socket.connected() {
        assert!(
            sent < overfill(),
            "the slow client was not closed after {sent} packets of {BIG} bytes"
        );
        ns.emit("big", &(sent, &filler)).unwrap();
        assert_eq!(big_index(&normal.recv_text().await), sent);
        sent += 1;
    }
    assert!(sent > QUEUE, "closed after only {sent} packets");
    logs.wait_for("outbound queue full: closing slow consumer")
        .await;
    assert!(logs.contains("reason=slow consumer"), "{}", logs.text());
    wait_until("the slow socket left", || ns.socket_count() == 1).await;

    // The normal client continues.
    ns.emit("after", &1).unwrap();
    assert_eq!(normal.recv_text().await, r#"42["after",1]"#);
    assert_sio_echo(&mut normal, "still-fine").await;

    // The slow client got an unbroken prefix of the packets, then the close: never a gap.
    let closed = slow.expect_close().await;
    let got: Vec<usize> = closed
        .before
        .iter()
        .map(|m| match m {
            Message::Text(t) => big_index(t.as_str()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, (0..got.len()).collect::<Vec<_>>());
    assert!(got.len() < sent);
    assert_no_panics();
}

#[tokio::test]
async fn volatile_emits_to_a_full_queue_are_dropped_without_closing() {
    let logs = init();
    let server = serve(echo_server(config().with_max_buffered_packets(QUEUE))).await;
    let (mut slow, slow_socket) = slow_client(&server).await;

    let filler = "x".repeat(BIG);
    let total = overfill();
    for i in 0..total {
        slow_socket.emit_volatile("big", &(i, &filler)).unwrap();
        // Let the connection's writer move what it can into the socket.
        tokio::task::yield_now().await;
    }
    assert!(slow_socket.connected());
    assert!(!logs.contains("slow consumer"), "{}", logs.text());

    // Reading again: some packets arrived, in order, the rest were dropped; the connection
    // still works.
    slow.send_text(r#"42["echo","done"]"#).await;
    let mut got = Vec::new();
    loop {
        let t = slow.recv_text().await;
        if t == r#"42["echo","done"]"# {
            break;
        }
        got.push(big_index(&t));
    }
    assert!(!got.is_empty());
    assert!(
        got.len() < total,
        "nothing was dropped ({total} sent), so the queue never filled"
    );
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert!(slow_socket.connected());
    assert_no_panics();
}

#[tokio::test]
async fn a_polling_client_that_stops_polling_is_closed_as_a_slow_consumer() {
    let logs = init();
    let server = serve(echo_server(config().with_max_buffered_packets(4))).await;
    let (normal, _) = Polling::open(&server).await;
    let normal_socket = server.socket("/", &normal.connect("/").await);
    let (slow, _) = Polling::open(&server).await;
    let slow_socket = server.socket("/", &slow.connect("/").await);

    for i in 0..4 {
        slow_socket.emit("n", &i).unwrap();
        normal_socket.emit("n", &i).unwrap();
        assert_eq!(normal.records(1).await, vec![format!(r#"42["n",{i}]"#)]);
    }
    // The fifth packet does not fit.
    assert!(matches!(
        slow_socket.emit("n", &4),
        Err(EmitError::Send(SendError::Full))
    ));
    logs.wait_for("outbound queue full: closing slow consumer")
        .await;
    slow.assert_gone().await;
    assert!(!slow_socket.connected());

    normal_socket.emit("n", &4).unwrap();
    assert_eq!(normal.records(1).await, vec![r#"42["n",4]"#]);
    assert_no_panics();
}

#[tokio::test]
async fn volatile_emits_to_a_polling_client_beyond_the_queue_are_dropped() {
    let logs = init();
    let server = serve(echo_server(config().with_max_buffered_packets(4))).await;
    let (p, _) = Polling::open(&server).await;
    let socket = server.socket("/", &p.connect("/").await);
    for i in 0..10 {
        socket.emit_volatile("v", &i).unwrap();
    }
    // Broadcasts too.
    server
        .rt
        .of("/")
        .unwrap()
        .to(socket.id())
        .volatile()
        .emit("v", &10)
        .unwrap();
    assert!(socket.connected());
    // The first four were kept, in order, in one response.
    let resp = p.get().await;
    assert_eq!(
        resp.body,
        "42[\"v\",0]\x1e42[\"v\",1]\x1e42[\"v\",2]\x1e42[\"v\",3]"
    );
    p.assert_echo("still-open").await;
    assert!(!logs.contains("slow consumer"), "{}", logs.text());
}

/// A client reading at full speed survives a burst of 5000 packets emitted in one go with
/// the default bounds (it used to be closed as a slow consumer after ~1500: the bound was
/// 1024 packets, whatever their size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_at_full_speed_survives_a_burst_within_the_byte_bound() {
    let server = serve(echo_server(config())).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    let body = "y".repeat(200);
    const BURST: usize = 5000; // ~1.1 MB, well within the 4 MiB default
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < BURST {
            let t = ws.recv_text_no_ping().await;
            assert!(t.starts_with(r#"42["burst",["#), "{t:.60}");
            n += 1;
        }
        ws
    });
    for i in 0..BURST {
        socket.emit("burst", &(i, &body)).unwrap();
    }
    let mut ws = within("the whole burst arrives", reader).await.unwrap();
    assert!(socket.connected());
    assert_sio_echo(&mut ws, "after-the-burst").await;
}

/// The byte bound closes a stalled client even when the packet bound is far away.
#[tokio::test]
async fn the_byte_bound_closes_a_stalled_client() {
    let logs = init();
    let bound = 512 * 1024;
    let server = serve(echo_server(config().with_max_buffered_bytes(bound))).await;
    let (_slow, slow_socket) = slow_client(&server).await;
    let filler = "z".repeat(16 * 1024);
    let mut sent = 0usize;
    while slow_socket.connected() {
        assert!(
            sent * filler.len() < pipe_bound() + 4 * bound,
            "not closed after {sent} packets of {} bytes",
            filler.len()
        );
        let _ = slow_socket.emit("big", &(sent, &filler));
        sent += 1;
        tokio::task::yield_now().await;
    }
    logs.wait_for("outbound queue full: closing slow consumer")
        .await;
    assert_no_panics();
}
