//! The server-driven heartbeat (Engine.IO v4) on both transports, and the plain WebSocket
//! endpoint's ping frames. Intervals are short (100 ms); pong deadlines that the test must
//! meet are generous so a loaded machine does not turn a live client into a dead one.

mod common;

use common::*;
use futures_util::StreamExt;
use realtime::Config;
use tokio_tungstenite::tungstenite::Message;

fn heartbeat(interval: u64, timeout: u64) -> Config {
    Config::default()
        .with_ping_interval(ms(interval))
        .with_ping_timeout(ms(timeout))
}

#[tokio::test]
async fn websocket_pongs_keep_the_session_alive() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 300))).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let start = tokio::time::Instant::now();
    for _ in 0..6 {
        assert_eq!(ws.recv_text().await, "2");
        ws.send_text("3").await;
    }
    // Six pings about 100 ms apart: past one interval + timeout (400 ms), when a client that
    // never answered would have been closed.
    assert!(start.elapsed() > ms(450), "{:?}", start.elapsed());
    assert_sio_echo(&mut ws, "alive").await;
    assert!(!logs.contains("ping timeout"), "{}", logs.text());
}

#[tokio::test]
async fn websocket_missed_pong_closes_the_connection() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 100))).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    assert_eq!(ws.recv_text().await, "2");
    let closed = ws.expect_close().await;
    assert!(closed.texts().is_empty(), "{closed:?}");
    logs.wait_for("no pong within ping timeout").await;
    wait_until("the session is unregistered", || {
        server.rt.session_count() == 0
    })
    .await;
}

#[tokio::test]
async fn polling_pongs_keep_the_session_alive() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 500))).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    for _ in 0..3 {
        let resp = p.get().await;
        assert_eq!((resp.status, resp.body.as_str()), (200, "2"));
        p.post_ok("3").await;
    }
    p.post_ok(r#"42["echo","alive"]"#).await;
    // A ping may be queued along with the echo.
    let mut records = p.get_records().await;
    records.retain(|r| r != "2");
    if records.is_empty() {
        records = p.get_records().await;
    }
    assert_eq!(records, vec![r#"42["echo","alive"]"#]);
    assert!(!logs.contains("ping timeout"), "{}", logs.text());
}

#[tokio::test]
async fn polling_missed_pong_closes_the_session() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 100))).await;
    let (p, _) = Polling::open(&server).await;
    let resp = p.get().await;
    assert_eq!((resp.status, resp.body.as_str()), (200, "2"));
    // Not answering: the next poll learns of the close (close packet), or the session is
    // already gone.
    let resp = p.get().await;
    if resp.status == 200 {
        assert_eq!(resp.body, "1");
    } else {
        resp.assert_engine_error(400, 1, "Session ID unknown");
    }
    p.assert_gone().await;
    logs.wait_for("ping timeout").await;
}

#[tokio::test]
async fn polling_session_expires_even_when_no_poll_carries_the_ping() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 100))).await;
    let (p, _) = Polling::open(&server).await;
    // The pong deadline starts when the ping is queued, not when a poll picks it up.
    logs.wait_for("reason=ping timeout").await;
    p.assert_gone().await;
}

#[tokio::test]
async fn client_ping_over_websocket_is_a_protocol_error() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text("2").await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1002), "{closed:?}");
    assert_eq!(closed.reason(), "parse error");
    logs.wait_for("unexpected ping from client").await;
    assert_sio_echo(&mut healthy, "after-client-ping").await;
    assert_no_panics();
}

#[tokio::test]
async fn client_ping_over_polling_is_a_protocol_error() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;
    let (p, _) = Polling::open(&server).await;
    p.post("2").await.assert_engine_error(400, 3, "Bad request");
    p.assert_gone().await;
    logs.wait_for("unexpected ping from client").await;
    healthy.assert_echo("after-client-ping").await;
    assert_no_panics();
}

#[tokio::test]
async fn plain_websocket_gets_ping_frames_and_stays_alive_while_it_reads() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 300))).await;
    let mut ws = plain_ws(&server, "").await;
    // Read (tungstenite answers each ping frame with a pong) for several intervals.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + ms(600);
    while let Ok(msg) = tokio::time::timeout_at(until, ws.inner.next()).await {
        match msg {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings in 600 ms with a 100 ms interval");
    assert_plain_echo(&mut ws, "alive").await;
    assert!(!logs.contains("no pong"), "{}", logs.text());
}

#[tokio::test]
async fn plain_websocket_without_pongs_is_closed() {
    let logs = init();
    let server = serve(echo_server(heartbeat(100, 100))).await;
    let mut ws = plain_ws(&server, "").await;
    // Not reading means not answering pings.
    logs.wait_for("plain websocket: no pong within ping timeout")
        .await;
    let closed = ws.expect_close().await;
    assert!(closed.texts().is_empty(), "{closed:?}");
}
