//! Polling → WebSocket upgrade (probe / 3probe / noop / 5), and sessions that start on WebSocket.

mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;

fn upgrade_url(server: &Server, sid: &str) -> String {
    server.ws_url(&format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"))
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    let sid = p.connect("/").await;

    // A GET is pending when the upgrade starts.
    let pending = tokio::spawn({
        let p = p.clone();
        async move { p.get().await }
    });
    settle().await;

    let mut ws = ws_connect(&upgrade_url(&server, &p.sid)).await;
    // No open packet on an upgrading WebSocket: the first frame answers the probe.
    ws.send_text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");

    // The pending poll is released with a noop, and so is any poll before `5`.
    let released = within("pending GET", pending).await.unwrap();
    assert_eq!((released.status, released.body.as_str()), (200, "6"));
    let resp = p.get().await;
    assert_eq!((resp.status, resp.body.as_str()), (200, "6"));

    // Something emitted while the upgrade completes is delivered over the WebSocket.
    let socket = server.socket("/", &sid);
    socket.emit("during", &1).unwrap();
    ws.send_text("5").await;
    assert_eq!(ws.recv_text().await, r#"42["during",1]"#);

    // The session now lives on the WebSocket: same socket, same namespace.
    assert_sio_echo(&mut ws, "over-ws").await;
    assert_eq!(server.rt.session_count(), 1);
    assert!(socket.connected());
    logs.wait_for("upgraded to websocket").await;

    // Polling with that sid is refused from now on.
    p.get().await.assert_engine_error(400, 3, "Bad request");
    p.post(r#"42["echo","x"]"#)
        .await
        .assert_engine_error(400, 3, "Bad request");
    assert_sio_echo(&mut ws, "still-over-ws").await;
}

#[tokio::test]
async fn probe_and_upgrade_sent_back_to_back() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let mut ws = ws_connect(&upgrade_url(&server, &p.sid)).await;
    ws.send_batch(vec![Message::text("2probe"), Message::text("5")])
        .await;
    assert_eq!(ws.recv_text().await, "3probe");
    p.get().await.assert_engine_error(400, 3, "Bad request");
    assert_sio_echo(&mut ws, "after-upgrade").await;
}

#[tokio::test]
async fn second_websocket_for_an_upgraded_session_is_closed() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let mut first = ws_connect(&upgrade_url(&server, &p.sid)).await;
    first.send_text("2probe").await;
    assert_eq!(first.recv_text().await, "3probe");
    first.send_text("5").await;
    assert_sio_echo(&mut first, "upgraded").await;

    let mut second = ws_connect(&upgrade_url(&server, &p.sid)).await;
    let closed = second.expect_close().await;
    assert!(
        closed.before.is_empty(),
        "nothing is sent on the refused WebSocket: {closed:?}"
    );

    // The first keeps working.
    assert_sio_echo(&mut first, "first-still-works").await;
}

#[tokio::test]
async fn second_upgrade_attempt_during_an_upgrade_is_closed() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let mut first = ws_connect(&upgrade_url(&server, &p.sid)).await;
    first.send_text("2probe").await;
    assert_eq!(first.recv_text().await, "3probe");

    let mut second = ws_connect(&upgrade_url(&server, &p.sid)).await;
    let closed = second.expect_close().await;
    assert!(closed.before.is_empty(), "{closed:?}");

    first.send_text("5").await;
    assert_sio_echo(&mut first, "first-completes").await;
}

#[tokio::test]
async fn abandoned_upgrade_leaves_the_session_on_polling() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let mut ws = ws_connect(&upgrade_url(&server, &p.sid)).await;
    ws.send_text("not a probe").await;
    ws.expect_close().await;
    logs.wait_for("upgrade abandoned; session stays on polling")
        .await;
    p.assert_echo("still-polling").await;
}

#[tokio::test]
async fn session_started_on_websocket_cannot_poll() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, open) = eio_ws(&server).await;
    assert_eq!(open["upgrades"], serde_json::json!([]));
    sio_connect_on(&mut ws, "/").await;
    let sid = open["sid"].as_str().unwrap();
    let url = server.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    http_get(&url)
        .await
        .assert_engine_error(400, 3, "Bad request");
    // Nor be upgraded again.
    let mut again = ws_connect(&upgrade_url(&server, sid)).await;
    again.expect_close().await;
    assert_sio_echo(&mut ws, "ws-only").await;
}
