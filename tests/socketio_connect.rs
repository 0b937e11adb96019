//! Socket.IO v5 CONNECT / CONNECT_ERROR / DISCONNECT, namespaces, middleware, connect timeout.

mod common;

use common::*;
use realtime::{Config, ConnectError, Data, Realtime, RealtimeBuilder, Socket};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

async fn emit_auth(socket: Socket) {
    let _ = socket.emit("auth", socket.auth());
}

/// `/` and `/custom` emit `auth` on connection, like the reference test server.
fn auth_server(config: Config) -> RealtimeBuilder {
    Realtime::builder()
        .config(config)
        .namespace("/", |ns| echo_ns(ns).on_connect(emit_auth))
        .namespace("/custom", |ns| echo_ns(ns).on_connect(emit_auth))
}

#[tokio::test]
async fn connect_to_main_namespace() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, open) = eio_ws(&server).await;
    ws.send_text("40").await;
    let reply = ws.recv_text().await;
    let sid = parse_connect_reply(&reply, "/");
    assert_eq!(reply, format!(r#"40{{"sid":"{sid}"}}"#));
    assert_ne!(sid, open["sid"].as_str().unwrap());
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 1);
    assert_eq!(server.socket("/", &sid).ns(), "/");

    // Over polling too.
    let (p, _) = Polling::open(&server).await;
    p.post_ok("40").await;
    let reply = p.records(1).await.remove(0);
    let sid = parse_connect_reply(&reply, "/");
    assert_eq!(reply, format!(r#"40{{"sid":"{sid}"}}"#));
}

#[tokio::test]
async fn connect_to_custom_namespace_with_and_without_trailing_comma() {
    let _logs = init();
    let server = serve(auth_server(config())).await;
    for packet in ["40/custom,", "40/custom"] {
        let (mut ws, _) = eio_ws(&server).await;
        ws.send_text(packet).await;
        let reply = ws.recv_text().await;
        let sid = parse_connect_reply(&reply, "/custom");
        assert_eq!(reply, format!(r#"40/custom,{{"sid":"{sid}"}}"#));
        assert_eq!(ws.recv_text().await, r#"42/custom,["auth",{}]"#);
        ws.send_text(r#"42/custom,["echo","x"]"#).await;
        assert_eq!(ws.recv_text().await, r#"42/custom,["echo","x"]"#);
        assert_eq!(server.socket("/custom", &sid).ns(), "/custom");
    }
}

#[tokio::test]
async fn auth_payload_reaches_the_handler() {
    let _logs = init();
    let server = serve(auth_server(config())).await;

    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text("40").await;
    let sid = parse_connect_reply(&ws.recv_text().await, "/");
    assert_eq!(ws.recv_text().await, r#"42["auth",{}]"#);
    assert!(server.socket("/", &sid).auth().is_empty());

    ws.send_text(r#"40/custom,{"token":"abc"}"#).await;
    let custom_sid = parse_connect_reply(&ws.recv_text().await, "/custom");
    assert_eq!(
        ws.recv_text().await,
        r#"42/custom,["auth",{"token":"abc"}]"#
    );
    assert_eq!(
        server.socket("/custom", &custom_sid).auth().get("token"),
        Some(&json!("abc"))
    );

    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text(r#"40{"token":"123"}"#).await;
    let sid = parse_connect_reply(&ws.recv_text().await, "/");
    assert_eq!(ws.recv_text().await, r#"42["auth",{"token":"123"}]"#);
    assert_eq!(
        Value::Object(server.socket("/", &sid).auth().clone()),
        json!({"token":"123"})
    );
}

#[tokio::test]
async fn unknown_namespace_is_refused_and_the_connection_stays_open() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text("40/random").await;
    assert_eq!(
        ws.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    ws.send_text("40/random,").await;
    assert_eq!(
        ws.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    ws.send_text(r#"40/random,{"token":"x"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    logs.wait_for("CONNECT to unknown namespace").await;
    assert!(server.rt.of("/random").is_none());

    // Still open: join `/` and talk.
    sio_connect_on(&mut ws, "/").await;
    assert_sio_echo(&mut ws, "after-refusal").await;
}

#[tokio::test]
async fn dynamic_namespaces_are_created_on_first_connect() {
    let _logs = init();
    let builder =
        echo_server(config()).dynamic_namespace(|name| name.starts_with("/dyn-"), echo_ns);
    let server = serve(builder).await;
    assert!(server.rt.of("/dyn-1").is_none());

    let (mut a, _) = eio_ws(&server).await;
    let a_sid = sio_connect_on(&mut a, "/dyn-1").await;
    let (mut b, _) = eio_ws(&server).await;
    sio_connect_on(&mut b, "/dyn-2").await;

    a.send_text(r#"42/dyn-1,["echo","x"]"#).await;
    assert_eq!(a.recv_text().await, r#"42/dyn-1,["echo","x"]"#);

    // Each dynamic namespace has its own sockets.
    let dyn1 = server.rt.of("/dyn-1").expect("created");
    assert_eq!(dyn1.socket_count(), 1);
    assert_eq!(dyn1.sockets()[0].id().as_str(), a_sid);
    assert_eq!(server.rt.of("/dyn-2").expect("created").socket_count(), 1);
    dyn1.emit("only-dyn-1", &1).unwrap();
    server
        .rt
        .of("/dyn-2")
        .unwrap()
        .emit("only-dyn-2", &2)
        .unwrap();
    assert_eq!(a.recv_text().await, r#"42/dyn-1,["only-dyn-1",1]"#);
    assert_eq!(b.recv_text().await, r#"42/dyn-2,["only-dyn-2",2]"#);

    // Names the predicate refuses are unknown.
    a.send_text("40/other,").await;
    assert_eq!(
        a.recv_text().await,
        r#"44/other,{"message":"Invalid namespace"}"#
    );
}

fn guarded_server() -> RealtimeBuilder {
    echo_server(config()).namespace("/admin", |ns| {
        echo_ns(ns).middleware(|socket: Socket| async move {
            tokio::task::yield_now().await;
            if socket.auth().get("token") == Some(&json!("secret")) {
                Ok(())
            } else {
                Err(ConnectError::new("nope")
                    .with_data(json!({"reason": "bad token", "retry": false})))
            }
        })
    })
}

#[tokio::test]
async fn middleware_refusal_sends_connect_error_with_message_and_data() {
    let logs = init();
    let server = serve(guarded_server()).await;
    let (mut ws, _) = eio_ws(&server).await;

    ws.send_text(r#"40/admin,{"token":"wrong"}"#).await;
    let reply = ws.recv_text().await;
    let body: Value = serde_json::from_str(
        reply
            .strip_prefix("44/admin,")
            .unwrap_or_else(|| panic!("{reply}")),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"message": "nope", "data": {"reason": "bad token", "retry": false}})
    );
    logs.wait_for("connection refused by middleware").await;
    assert_eq!(server.rt.of("/admin").unwrap().socket_count(), 0);

    // The connection stays open; the right token gets in.
    ws.send_text(r#"40/admin,{"token":"secret"}"#).await;
    let sid = parse_connect_reply(&ws.recv_text().await, "/admin");
    ws.send_text(r#"42/admin,["echo","in"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/admin,["echo","in"]"#);
    assert_eq!(
        server.socket("/admin", &sid).auth().get("token"),
        Some(&json!("secret"))
    );
}

#[tokio::test]
async fn middleware_refusal_without_data_has_only_a_message() {
    let _logs = init();
    let builder = echo_server(config())
        .middleware(|_socket: Socket| async { Err(ConnectError::new("closed for today")) });
    let server = serve(builder).await;
    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text("40").await;
    assert_eq!(ws.recv_text().await, r#"44{"message":"closed for today"}"#);
}

/// The reference server writes `message` before `data`; JS clients do not care about key
/// order, but the wire bytes differ from the reference if the keys come out sorted.
#[tokio::test]
async fn connect_error_key_order_matches_the_reference() {
    let _logs = init();
    let builder = echo_server(config()).middleware(|_socket: Socket| async {
        Err(ConnectError::new("nope").with_data(json!({"reason": "banned"})))
    });
    let server = serve(builder).await;
    let (mut ws, _) = eio_ws(&server).await;
    ws.send_text("40").await;
    assert_eq!(
        ws.recv_text().await,
        r#"44{"message":"nope","data":{"reason":"banned"}}"#
    );
}

fn disconnect_recorder(
    config: Config,
) -> (RealtimeBuilder, mpsc::UnboundedReceiver<(String, String)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let record = move |socket: Socket, Data(reason): Data<String>| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((socket.ns().to_owned(), reason));
        }
    };
    let builder = echo_server(config)
        .on_disconnect(record.clone())
        .namespace("/custom", |ns| echo_ns(ns).on_disconnect(record));
    (builder, rx)
}

#[tokio::test]
async fn disconnect_keeps_the_engine_session_open() {
    let _logs = init();
    let (builder, mut reasons) = disconnect_recorder(
        Config::default()
            .with_ping_interval(ms(300))
            .with_ping_timeout(ms(2000)),
    );
    let server = serve(builder).await;
    let (mut ws, _) = sio_ws(&server, "/").await;

    ws.send_text("41").await;
    // Nothing in reply: the next frame is the heartbeat.
    assert_eq!(ws.recv_text().await, "2");
    ws.send_text("3").await;
    assert_eq!(
        within("disconnect reason", reasons.recv()).await,
        Some(("/".into(), "client namespace disconnect".into()))
    );
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 0);
    assert_eq!(server.rt.session_count(), 1);

    // The session can join again.
    sio_connect_on(&mut ws, "/").await;
    assert_sio_echo(&mut ws, "rejoined").await;
}

#[tokio::test]
async fn leaving_a_custom_namespace_keeps_the_main_one() {
    let _logs = init();
    let (builder, mut reasons) = disconnect_recorder(config());
    let server = serve(builder).await;
    let mut clients = Vec::new();
    for leave in ["41/custom", "41/custom,"] {
        let (mut ws, _) = sio_ws(&server, "/").await;
        sio_connect_on(&mut ws, "/custom").await;
        ws.send_text(leave).await;
        assert_sio_echo(&mut ws, "main-still-joined").await;
        assert_eq!(
            within("disconnect reason", reasons.recv()).await,
            Some(("/custom".into(), "client namespace disconnect".into()))
        );
        clients.push(ws);
    }
    assert_eq!(server.rt.of("/custom").unwrap().socket_count(), 0);
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 2);
}

#[tokio::test]
async fn server_side_disconnect_sends_disconnect_packet() {
    let _logs = init();
    let (builder, mut reasons) = disconnect_recorder(config());
    let server = serve(builder).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let custom_sid = sio_connect_on(&mut ws, "/custom").await;

    server.socket("/custom", &custom_sid).disconnect();
    assert_eq!(ws.recv_text().await, "41/custom,");
    assert_eq!(
        within("disconnect reason", reasons.recv()).await,
        Some(("/custom".into(), "server namespace disconnect".into()))
    );
    assert_sio_echo(&mut ws, "main-untouched").await;

    // close_connection ends the whole connection, every namespace.
    let main_sid = server.rt.of("/").unwrap().sockets()[0].id();
    server
        .rt
        .of("/")
        .unwrap()
        .socket(main_sid)
        .unwrap()
        .close_connection();
    ws.expect_close().await;
    assert_eq!(
        within("disconnect reason", reasons.recv()).await,
        Some(("/".into(), "forced close".into()))
    );
}

#[tokio::test]
async fn connect_timeout_closes_a_client_that_joins_no_namespace() {
    let logs = init();
    let server = serve(echo_server(Config::default().with_connect_timeout(ms(200)))).await;
    let (mut joined, _) = sio_ws(&server, "/").await;

    // Over WebSocket.
    let (mut idle, _) = eio_ws(&server).await;
    // A refused CONNECT does not count as joining.
    idle.send_text("40/nowhere,").await;
    assert_eq!(
        idle.recv_text().await,
        r#"44/nowhere,{"message":"Invalid namespace"}"#
    );
    idle.expect_close().await;
    logs.wait_for("no namespace joined within connect_timeout")
        .await;

    // Over polling: the parked GET gets a close packet, then the sid is gone.
    // (A GET delayed past the timeout finds the session already gone.)
    let (p, _) = Polling::open(&server).await;
    let resp = p.get().await;
    if resp.status == 200 {
        assert_eq!(resp.body, "1");
    } else {
        resp.assert_engine_error(400, 1, "Session ID unknown");
    }
    p.assert_gone().await;

    // The client that joined in time is unaffected.
    assert_sio_echo(&mut joined, "joined-in-time").await;
}

async fn run_connect_then_event(server: &Server, nsp: &str, rounds: usize) {
    let prefix = if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    };
    for i in 0..rounds {
        let (mut ws, _) = eio_ws(server).await;
        ws.send_text(&connect_packet(nsp)).await;
        parse_connect_reply(&ws.recv_text().await, nsp);
        // Straight after the reply, with no pause.
        ws.send_text(&format!(r#"42{prefix}["echo",{i}]"#)).await;
        assert_eq!(
            ws.recv_text().await,
            format!(r#"42{prefix}["echo",{i}]"#),
            "round {i} in {nsp}"
        );
    }
}

#[tokio::test]
async fn event_right_after_the_connect_reply_is_never_dropped() {
    let _logs = init();
    let builder = echo_server(config()).namespace("/slow", |ns| {
        echo_ns(ns).middleware(|_socket: Socket| async {
            tokio::task::yield_now().await;
            Ok(())
        })
    });
    let server = serve(builder).await;
    // Accepted synchronously (no middleware) and after asynchronous middleware.
    run_connect_then_event(&server, "/", 100).await;
    run_connect_then_event(&server, "/slow", 100).await;
}

#[tokio::test]
async fn connect_and_event_in_the_same_write_are_both_handled() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    for i in 0..25 {
        let (mut ws, _) = eio_ws(&server).await;
        ws.send_batch(vec![
            Message::text("40"),
            Message::text(format!(r#"42["echo",{i}]"#)),
        ])
        .await;
        parse_connect_reply(&ws.recv_text().await, "/");
        assert_eq!(
            ws.recv_text().await,
            format!(r#"42["echo",{i}]"#),
            "round {i}"
        );
    }
    // Over polling: one POST body with both packets.
    for i in 0..20 {
        let (p, _) = Polling::open(&server).await;
        p.post_ok(&format!("40\x1e42[\"echo\",{i}]")).await;
        let records = p.records(2).await;
        parse_connect_reply(&records[0], "/");
        assert_eq!(records[1], format!(r#"42["echo",{i}]"#));
    }
}
