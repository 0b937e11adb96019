//! Engine.IO v4 over WebSocket: handshake, errors, limits, engine-level packets.

mod common;

use common::*;
use realtime::{Config, Socket};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn websocket_handshake_sends_the_open_packet_first() {
    let _logs = init();
    let config = Config::default()
        .with_ping_interval(ms(12_345))
        .with_ping_timeout(ms(6_789))
        .with_max_payload(4_321);
    let server = serve(echo_server(config)).await;
    let mut ws = ws_connect(&server.sio_ws_url()).await;
    let open = ws.recv_text().await;
    assert!(open.starts_with("0{"), "{open:?}");
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    // A session that starts on WebSocket has nothing to upgrade to.
    assert_open_packet(&json, &[], 12_345, 6_789, 4_321);

    // The session works: join `/` and echo.
    let sid = sio_connect_on(&mut ws, "/").await;
    assert_ne!(
        sid,
        json["sid"].as_str().unwrap(),
        "the socket id differs from the engine sid"
    );
    assert_sio_echo(&mut ws, "hello").await;
}

#[tokio::test]
async fn websocket_handshake_errors_are_http_errors() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;

    let cases = [
        (
            "/socket.io/?EIO=3&transport=websocket",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "/socket.io/?transport=websocket",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "/socket.io/?EIO=4&transport=abc",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "/socket.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
    ];
    for (path, status, body) in cases {
        let (got_status, got_body) = ws_refused(&server.ws_url(path)).await;
        assert_eq!(got_status, status, "{path}");
        assert_eq!(got_body, body, "{path}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        logs.wait_for_refusal(
            v["code"].as_u64().unwrap() as u8,
            v["message"].as_str().unwrap(),
        )
        .await;
    }
    assert_no_panics();
    assert_sio_echo(&mut healthy, "after").await;
}

#[tokio::test]
async fn websocket_close_packet_closes_the_connection() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text("1").await;
    let closed = ws.expect_close().await;
    assert!(closed.texts().is_empty(), "{closed:?}");
    wait_until("the session is unregistered", || {
        server.rt.session_count() == 0
    })
    .await;
    wait_until("the socket left", || {
        server.rt.of("/").unwrap().socket_count() == 0
    })
    .await;
}

#[tokio::test]
async fn websocket_noop_from_client_is_ignored() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text("6").await;
    assert_sio_echo(&mut ws, "after-noop").await;
    assert!(!logs.contains("protocol error"), "{}", logs.text());
}

#[tokio::test]
async fn websocket_message_over_max_payload_closes_with_1009() {
    let logs = init();
    let server = serve(echo_server(Config::default().with_max_payload(1000))).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;

    // Exactly max_payload bytes are accepted.
    let (mut ws, _) = sio_ws(&server, "/").await;
    let text = "x".repeat(1000 - r#"42["echo",""]"#.len());
    let exact = format!(r#"42["echo","{text}"]"#);
    assert_eq!(exact.len(), 1000);
    ws.send_text(&exact).await;
    assert_eq!(ws.recv_text().await, exact);

    // A larger text frame closes with 1009.
    ws.send_text(&format!("4{}", "a".repeat(1500))).await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1009), "{closed:?}");
    assert_eq!(closed.reason(), "Max payload size exceeded");
    logs.wait_for("websocket message over max_payload: closing with 1009")
        .await;

    // So does a larger binary frame.
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_bin(&[7u8; 1500]).await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1009), "{closed:?}");

    assert_sio_echo(&mut healthy, "after-1009").await;
    assert_no_panics();
}

#[tokio::test]
async fn websocket_undecodable_engine_packet_closes_with_protocol_error() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;

    for (frame, log) in [
        ("abc", "undecodable packet: unknown packet type 'a'"),
        ("", "undecodable packet: empty packet"),
        ("5", "unexpected open/upgrade packet"),
        ("0", "unexpected open/upgrade packet"),
    ] {
        let (mut ws, _) = sio_ws(&server, "/").await;
        ws.send_text(frame).await;
        let closed = ws.expect_close().await;
        assert_eq!(closed.code(), Some(1002), "{frame:?}: {closed:?}");
        assert_eq!(closed.reason(), "parse error");
        logs.wait_for(log).await;
    }
    assert!(logs.contains("protocol error: closing session"));
    assert_sio_echo(&mut healthy, "after-bad-engine-packets").await;
    assert_no_panics();
}

#[tokio::test]
async fn websocket_frames_sent_in_one_write_are_all_handled_in_order() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let frames = (0..20)
        .map(|i| Message::text(format!(r#"42["echo",{i}]"#)))
        .collect();
    ws.send_batch(frames).await;
    for i in 0..20 {
        assert_eq!(ws.recv_text().await, format!(r#"42["echo",{i}]"#));
    }
}

async fn two_frames(socket: Socket) {
    let _ = socket.emit("a", &1);
    tokio::time::sleep(ms(1)).await;
    let _ = socket.emit("b", &2);
}

/// Two small frames written a millisecond apart: with Nagle's algorithm on the server's
/// socket (no TCP_NODELAY) the second waits for the client's delayed ACK, about 40 ms on
/// Linux. Ten rounds then take 400 ms or more; without Nagle they take a few milliseconds.
/// The bound (300 ms) is generous for a loaded machine and still below Nagle's floor.
#[tokio::test]
async fn consecutive_small_frames_are_not_delayed_by_nagle() {
    let _logs = init();
    let server = serve(echo_server(config()).on("two", two_frames)).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let start = std::time::Instant::now();
    for _ in 0..10 {
        ws.send_text(r#"42["two"]"#).await;
        assert_eq!(ws.recv_text().await, r#"42["a",1]"#);
        assert_eq!(ws.recv_text().await, r#"42["b",2]"#);
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < ms(300),
        "10 rounds of two frames took {elapsed:?} (TCP_NODELAY not set on the server socket?)"
    );
}
