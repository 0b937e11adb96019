//! The plain WebSocket endpoint `/ws` (realtime-core/src/docs/plain_websocket.md).

mod common;

use common::*;
use realtime::{AckSender, Bin, ConnectError, Data, Payload, Realtime, RealtimeBuilder, Socket};
use serde_json::{json, Value};

async fn hello(socket: Socket, ack: AckSender, Data(data): Data<Value>) {
    if ack.expected() {
        let _ = ack.send(&json!({ "hi": data }));
    } else {
        let _ = socket.emit("hello-back", &data);
    }
}

async fn shout(ack: AckSender, Data(text): Data<String>) {
    let _ = ack.send(&format!("{}!!!", text.to_uppercase()));
}

async fn num(socket: Socket, Data(n): Data<u32>) {
    let _ = socket.emit("num-ok", &n);
}

async fn announce_id(socket: Socket) {
    let _ = socket.emit("id", &socket.id().to_string());
}

async fn welcome(socket: Socket) {
    let _ = socket.emit("welcome", socket.ns());
}

async fn bin_len(socket: Socket, Bin(bins): Bin) {
    let lens: Vec<usize> = bins.iter().map(|b| b.len()).collect();
    let _ = socket.emit("bin-len", &lens);
}

async fn send_bin(socket: Socket) {
    let _ = socket.emit_payload(
        "file",
        &Payload::new().arg("x").unwrap().binary_arg(vec![1u8, 2]),
    );
}

fn server_builder() -> RealtimeBuilder {
    Realtime::builder()
        .config(config())
        .namespace("/", |ns| {
            echo_ns(ns)
                .on("hello", hello)
                .on("message", shout)
                .on("num", num)
                .on("1", numeric)
        })
        .namespace("/chat", |ns| echo_ns(ns).on_connect(welcome))
        .namespace("/ask", |ns| echo_ns(ns).on_connect(announce_id))
        .namespace("/bin", |ns| {
            ns.on("message", bin_len).on("send-bin", send_bin)
        })
        .namespace("/guarded", |ns| {
            echo_ns(ns).middleware(|socket: Socket| async move {
                if socket.request().query("token").as_deref() == Some("ok") {
                    Ok(())
                } else {
                    Err(ConnectError::new("nope").with_data(json!({"reason": "no token"})))
                }
            })
        })
        .namespace("/slow", |ns| {
            echo_ns(ns).middleware(|_socket: Socket| async {
                tokio::time::sleep(ms(20)).await;
                Ok(())
            })
        })
}

#[tokio::test]
async fn event_frames_reach_handlers_and_acks_come_back() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "").await;

    ws.send_text(r#"["hello",{"a":1}]"#).await;
    assert_eq!(ws.recv_text().await, r#"["hello-back",{"a":1}]"#);
    ws.send_text(r#"["hello"]"#).await;
    assert_eq!(ws.recv_text().await, r#"["hello-back",null]"#);
    ws.send_text(r#"["hello",{"a":1},7]"#).await;
    assert_eq!(ws.recv_text().await, r#"["$ack",7,{"hi":{"a":1}}]"#);
    ws.send_text(r#"["hello",null,0]"#).await;
    assert_eq!(ws.recv_text().await, r#"["$ack",0,{"hi":null}]"#);
    // Acks with several arguments.
    ws.send_text(r#"["ack",[1,2],3]"#).await;
    assert_eq!(ws.recv_text().await, r#"["$ack",3,[1,2]]"#);
    // Numeric event names.
    ws.send_text(r#"[1,"x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"["got","1","x"]"#);
}

#[tokio::test]
async fn compact_form_reaches_the_named_handler() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "").await;
    ws.send_text(r#"["m",["hello","data"]]"#).await;
    assert_eq!(ws.recv_text().await, r#"["hello-back","data"]"#);
    ws.send_text(r#"["m",["hello","data"],9]"#).await;
    assert_eq!(ws.recv_text().await, r#"["$ack",9,{"hi":"data"}]"#);
}

#[tokio::test]
async fn raw_text_is_the_message_event_and_its_reply_is_raw_text() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "").await;
    ws.send_text("hello").await;
    assert_eq!(ws.recv_text().await, "HELLO!!!");
    // JSON that is not an array is raw text too.
    ws.send_text(r#"{"not":"an array"}"#).await;
    assert_eq!(ws.recv_text().await, r#"{"NOT":"AN ARRAY"}!!!"#);
    ws.send_text("42").await;
    assert_eq!(ws.recv_text().await, "42!!!");
}

#[tokio::test]
async fn server_emit_with_ack_to_a_plain_client() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "?ns=/ask").await;
    let id: Vec<Value> = serde_json::from_str(&ws.recv_text().await).unwrap();
    let socket = server.socket("/ask", id[1].as_str().unwrap());

    for ack_id in 0..2 {
        let ask = tokio::spawn({
            let socket = socket.clone();
            async move {
                socket
                    .emit_with_ack::<_, Value>("ask", &json!({"q": 1}))
                    .await
            }
        });
        assert_eq!(
            ws.recv_text().await,
            format!(r#"["ask",{{"q":1}},{ack_id}]"#)
        );
        ws.send_text(&format!(r#"["$ack",{ack_id},{{"a":2}},"extra"]"#))
            .await;
        assert_eq!(within("ack", ask).await.unwrap().unwrap(), json!({"a": 2}));
    }

    // A plain emit has no ack id.
    socket.emit("ev", &[1, 2]).unwrap();
    assert_eq!(ws.recv_text().await, r#"["ev",[1,2]]"#);

    // An unknown ack id is ignored.
    ws.send_text(r#"["$ack",99,"x"]"#).await;
    assert_plain_echo(&mut ws, "after-unknown-ack").await;
}

#[tokio::test]
async fn malformed_json_array_frames_close_with_1007() {
    let logs = init();
    let server = serve(server_builder()).await;
    let mut healthy = plain_ws(&server, "").await;
    assert_plain_echo(&mut healthy, "before").await;

    let cases = [
        (
            "[{}]",
            "the first element of a frame must be the event name",
        ),
        ("[]", "the first element of a frame must be the event name"),
        (
            "[null,1]",
            "the first element of a frame must be the event name",
        ),
        (
            r#"["hello",1,2,3]"#,
            "a frame has at most three elements: [event, data, ackId]",
        ),
        (
            r#"["hello",1,-1]"#,
            "the ack id must be a non-negative integer",
        ),
        (
            r#"["hello",1,"x"]"#,
            "the ack id must be a non-negative integer",
        ),
        (
            r#"["hello",1,1.5]"#,
            "the ack id must be a non-negative integer",
        ),
        (r#"["$ack","x"]"#, "$ack needs a numeric ack id"),
        (r#"["connect"]"#, "reserved event name"),
        (r#"["disconnect",1]"#, "reserved event name"),
        (
            r#"["hello",{"_placeholder":true,"num":0}]"#,
            "placeholders are not allowed in plain frames",
        ),
    ];
    for (frame, reason) in cases {
        let mut ws = plain_ws(&server, "").await;
        ws.send_text(frame).await;
        let closed = ws.expect_close().await;
        assert_eq!(closed.code(), Some(1007), "{frame}: {closed:?}");
        assert_eq!(closed.reason(), reason, "{frame}");
        assert!(closed.before.is_empty(), "{frame}: {closed:?}");
        logs.wait_for(&format!("reason={reason}")).await;
    }
    assert!(logs.contains("plain websocket: bad frame, closing"));
    assert_plain_echo(&mut healthy, "after").await;
    assert_no_panics();
}

#[tokio::test]
async fn middleware_refusal_sends_error_frame_then_closes_with_1008() {
    let logs = init();
    let server = serve(server_builder()).await;
    let mut healthy = plain_ws(&server, "?ns=/guarded&token=ok").await;
    assert_plain_echo(&mut healthy, "let-in").await;

    let mut ws = plain_ws(&server, "?ns=/guarded&token=bad").await;
    let closed = ws.expect_close().await;
    let texts = closed.texts();
    assert_eq!(texts.len(), 1, "{closed:?}");
    let frame: Value = serde_json::from_str(&texts[0]).unwrap();
    assert_eq!(
        frame,
        json!(["$error", {"message": "nope", "data": {"reason": "no token"}}])
    );
    assert_eq!(closed.code(), Some(1008));
    assert_eq!(closed.reason(), "connection refused");
    logs.wait_for("connection refused by middleware").await;

    // An unknown namespace is refused the same way.
    let mut ws = plain_ws(&server, "?ns=/nope").await;
    let closed = ws.expect_close().await;
    assert_eq!(
        closed.texts(),
        vec![r#"["$error",{"message":"Invalid namespace"}]"#]
    );
    assert_eq!(closed.code(), Some(1008));

    assert_plain_echo(&mut healthy, "still-in").await;
    assert_eq!(server.rt.of("/guarded").unwrap().socket_count(), 1);
    assert_no_panics();
}

#[tokio::test]
async fn ns_query_selects_the_namespace() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut clients = Vec::new();
    for query in ["?ns=/chat", "?ns=%2Fchat"] {
        let mut ws = plain_ws(&server, query).await;
        assert_eq!(ws.recv_text().await, r#"["welcome","/chat"]"#, "{query}");
        assert_plain_echo(&mut ws, query).await;
        clients.push(ws);
    }
    assert_eq!(server.rt.of("/chat").unwrap().socket_count(), 2);
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 0);
}

#[tokio::test]
async fn frames_sent_before_the_middleware_finishes_are_not_dropped() {
    let _logs = init();
    let server = serve(server_builder()).await;
    for i in 0..10 {
        let mut ws = plain_ws(&server, "?ns=/slow").await;
        ws.send_text(&format!(r#"["echo",{i}]"#)).await;
        ws.send_text("plain text goes nowhere here").await;
        ws.send_text(&format!(r#"["echo",{}]"#, i + 100)).await;
        assert_eq!(ws.recv_text().await, format!(r#"["echo",{i}]"#));
        assert_eq!(ws.recv_text().await, format!(r#"["echo",{}]"#, i + 100));
    }
}

#[tokio::test]
async fn extractor_rejection_answers_an_error_ack() {
    let logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "").await;
    ws.send_text(r#"["num","x",3]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"["$ack",3,{"error":"invalid payload for event \"num\": invalid type: string \"x\", expected u32"}]"#
    );
    logs.wait_for("handler argument rejected").await;
    ws.send_text(r#"["num",5]"#).await;
    assert_eq!(ws.recv_text().await, r#"["num-ok",5]"#);
}

#[tokio::test]
async fn binary_frames_and_binary_emits() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "?ns=/bin").await;
    ws.send_bin(&[1, 2, 3]).await;
    assert_eq!(ws.recv_text().await, r#"["bin-len",[3]]"#);
    ws.send_text(r#"["send-bin"]"#).await;
    assert_eq!(ws.recv_text().await, r#"["file","x",{"base64":"AQI="}]"#);
}

#[tokio::test]
async fn server_side_disconnect_closes_a_plain_connection() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let mut ws = plain_ws(&server, "?ns=/ask").await;
    let id: Vec<Value> = serde_json::from_str(&ws.recv_text().await).unwrap();
    server.socket("/ask", id[1].as_str().unwrap()).disconnect();
    ws.expect_close().await;
    assert_eq!(server.rt.of("/ask").unwrap().socket_count(), 0);
}

#[tokio::test]
async fn message_over_max_payload_closes_with_1009_and_is_logged() {
    let logs = init();
    let server = serve(server_builder().config(config().with_max_payload(100))).await;
    let mut healthy = plain_ws(&server, "").await;
    assert_plain_echo(&mut healthy, "before").await;

    let mut ws = plain_ws(&server, "").await;
    ws.send_text(&format!(r#"["echo","{}"]"#, "x".repeat(200)))
        .await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1009), "{closed:?}");
    assert_eq!(closed.reason(), "Max payload size exceeded");
    assert_plain_echo(&mut healthy, "after").await;
    assert_no_panics();
    // Like the Engine.IO WebSocket path, the reason is logged.
    logs.wait_for("max_payload").await;
}

/// After a closing handshake the client started, the server closes the TCP connection
/// itself, at once (RFC 6455 7.1.1): a client that waits for it (as tungstenite's does) is
/// not kept for the server's close-flush timeout (1 s), for either endpoint.
#[tokio::test]
async fn the_server_closes_tcp_right_after_a_client_initiated_close() {
    use futures_util::{SinkExt, StreamExt};
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let plain = plain_ws(&server, "").await;
    let (eio, _) = eio_ws(&server).await;
    for (what, mut ws) in [("plain", plain), ("engine.io", eio)] {
        ws.inner
            .send(tokio_tungstenite::tungstenite::Message::Close(None))
            .await
            .unwrap();
        let closed = tokio::time::timeout(std::time::Duration::from_millis(700), async {
            loop {
                match ws.inner.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => continue,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{what}: the server kept the TCP connection open after the closing handshake"
        );
    }
}
