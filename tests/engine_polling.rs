//! Engine.IO v4 over HTTP long-polling: handshake, framing, errors, session lifecycle.

mod common;

use common::*;
use realtime::{Config, CorsLayer, Payload, Realtime, Socket};
use reqwest::Method;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn polling_handshake_sends_exactly_the_open_packet() {
    let _logs = init();
    let config = Config::default()
        .with_ping_interval(ms(12_345))
        .with_ping_timeout(ms(6_789))
        .with_max_payload(4_321);
    let server = serve(echo_server(config)).await;
    let resp = http_get(&server.url("/socket.io/?EIO=4&transport=polling")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    // Only the open packet: no other record appended.
    assert!(resp.body.starts_with("0{"), "{:?}", resp.body);
    assert!(!resp.body.contains('\x1e'), "{:?}", resp.body);
    let open: serde_json::Value = serde_json::from_str(&resp.body[1..]).unwrap();
    assert_open_packet(&open, &["websocket"], 12_345, 6_789, 4_321);

    // The path without the trailing slash is served too.
    let resp = http_get(&server.url("/socket.io?EIO=4&transport=polling")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.starts_with("0{"));
}

#[tokio::test]
async fn polling_handshake_offers_no_upgrade_when_websocket_is_disabled() {
    let _logs = init();
    let server = serve(echo_server(Config::default().with_websocket(false))).await;
    let (_, open) = Polling::open(&server).await;
    assert_open_packet(&open, &[], 25_000, 20_000, 1_000_000);
    http_get(&server.url("/socket.io/?EIO=4&transport=websocket"))
        .await
        .assert_engine_error(400, 0, "Transport unknown");
}

async fn burst(socket: Socket) {
    for n in 1..=3 {
        let _ = socket.emit("n", &n);
    }
}

#[tokio::test]
async fn polling_post_answers_ok_and_get_joins_packets_with_record_separator() {
    let _logs = init();
    let server = serve(echo_server(config()).on("burst", burst)).await;
    let (p, _) = Polling::open(&server).await;

    // POST answers 200 `ok` (text/html); the GET carries the CONNECT reply.
    p.post_ok("40").await;
    let resp = p.get().await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    parse_connect_reply(&resp.body, "/");

    // Three packets queued at once travel in one response, joined by \x1e.
    p.post_ok(r#"42["burst"]"#).await;
    let resp = p.get().await;
    assert_eq!(resp.body, "42[\"n\",1]\x1e42[\"n\",2]\x1e42[\"n\",3]");

    // A POST carrying two records delivers both, in order.
    p.post_ok("42[\"echo\",\"a\"]\x1e42[\"echo\",\"b\"]").await;
    assert_eq!(
        p.records(2).await,
        vec![r#"42["echo","a"]"#, r#"42["echo","b"]"#]
    );
}

#[tokio::test]
async fn polling_binary_travels_as_base64_records_both_ways() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    let sid = p.connect("/").await;

    // Client → server: a BINARY_EVENT and its attachment as `b<base64>` ([1,2,3] = AQID).
    p.post_ok("451-[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID")
        .await;
    let resp = p.get().await;
    assert_eq!(
        resp.body,
        "451-[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID"
    );

    // Server → client: emit_payload with a binary argument ([0xff,0,1] = /wAB).
    let socket = server.socket("/", &sid);
    let payload = Payload::new()
        .arg("x")
        .unwrap()
        .binary_arg(vec![0xffu8, 0, 1]);
    socket.emit_payload("file", &payload).unwrap();
    let resp = p.get().await;
    assert_eq!(
        resp.body,
        "451-[\"file\",\"x\",{\"_placeholder\":true,\"num\":0}]\x1eb/wAB"
    );
}

#[tokio::test]
async fn polling_noop_from_client_is_ignored() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    p.post_ok("6").await;
    p.post_ok("6\x1e6").await;
    p.assert_echo("after-noop").await;
    assert!(!logs.contains("protocol error"), "{}", logs.text());
}

#[tokio::test]
async fn polling_close_packet_releases_pending_get_with_noop_and_ends_session() {
    let _logs = init();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let builder = echo_server(config()).on_disconnect(
        move |realtime::Data(reason): realtime::Data<String>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(reason);
            }
        },
    );
    let server = serve(builder).await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let pending = tokio::spawn({
        let p = p.clone();
        async move { p.get().await }
    });
    settle().await; // the GET is parked before the close arrives (as in the official suite)
    p.post_ok("1").await;
    let resp = within("pending GET", pending).await.unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, "6"));
    p.assert_gone().await;
    assert_eq!(
        within("disconnect reason", rx.recv()).await.as_deref(),
        Some("transport close")
    );
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 0);
}

#[tokio::test]
async fn engine_error_bodies_and_statuses() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;
    let client = http_client();
    let base = server.url("/socket.io/");

    // 0: unknown or missing transport.
    http_get(&format!("{base}?EIO=4&transport=abc"))
        .await
        .assert_engine_error(400, 0, "Transport unknown");
    http_get(&format!("{base}?EIO=4"))
        .await
        .assert_engine_error(400, 0, "Transport unknown");
    // 1: unknown session id.
    http_get(&format!(
        "{base}?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA"
    ))
    .await
    .assert_engine_error(400, 1, "Session ID unknown");
    // 2: a handshake must be a GET.
    for method in [Method::POST, Method::PUT] {
        request(
            &client,
            method,
            &format!("{base}?EIO=4&transport=polling"),
            &[],
            Some(String::new()),
        )
        .await
        .assert_engine_error(400, 2, "Bad handshake method");
    }
    // 3: a polling request that is neither GET nor POST.
    request(&client, Method::PUT, healthy.url(), &[], Some("40".into()))
        .await
        .assert_engine_error(400, 3, "Bad request");
    // 5: missing, malformed or old protocol version.
    for q in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
    ] {
        http_get(&format!("{base}?{q}")).await.assert_engine_error(
            400,
            5,
            "Unsupported protocol version",
        );
    }

    // Every refusal is logged with its code and message.
    for (code, message, times) in [
        (0, "Transport unknown", 2),
        (1, "Session ID unknown", 1),
        (2, "Bad handshake method", 2),
        (3, "Bad request", 1),
        (5, "Unsupported protocol version", 3),
    ] {
        logs.wait_for_refusal(code, message).await;
        let line = format!("refusing Engine.IO request code={code} {message}");
        assert_eq!(logs.text().matches(&line).count(), times, "{line}");
    }

    healthy.assert_echo("still-alive").await;
    assert_no_panics();
}

#[tokio::test]
async fn allow_request_refuses_with_403_and_the_custom_message() {
    let logs = init();
    let config = Config::default().with_allow_request(|parts| match parts.headers.get("x-token") {
        Some(v) if v == "ok" => Ok(()),
        _ => Err("go away".into()),
    });
    let server = serve(echo_server(config)).await;
    let client = http_client();
    let url = server.url("/socket.io/?EIO=4&transport=polling");

    request(&client, Method::GET, &url, &[], None)
        .await
        .assert_engine_error(403, 4, "go away");
    logs.wait_for("handshake refused by allow_request").await;
    logs.wait_for_refusal(4, "go away").await;
    let resp = request(&client, Method::GET, &url, &[("x-token", "ok")], None).await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.starts_with("0{"));

    // A WebSocket handshake is refused the same way.
    let (status, body) = ws_refused(&server.sio_ws_url()).await;
    assert_eq!(status, 403);
    assert_eq!(body, r#"{"code":4,"message":"go away"}"#);
    // So is the plain WebSocket endpoint.
    let (status, body) = ws_refused(&server.ws_url("/ws")).await;
    assert_eq!((status, body.as_str()), (403, "go away"));
}

#[tokio::test]
async fn overlapping_get_is_refused_and_closes_the_session() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    let first = tokio::spawn({
        let p = p.clone();
        async move { p.get().await }
    });
    settle().await;
    let second = p.get().await;
    let first = within("first GET", first).await.unwrap();
    // Whichever reached the server second is refused; the parked one learns of the close.
    let (refused, parked) = if second.status == 400 {
        (second, first)
    } else {
        (first, second)
    };
    refused.assert_engine_error(400, 3, "Bad request");
    assert_eq!((parked.status, parked.body.as_str()), (200, "1"));
    p.assert_gone().await;

    logs.wait_for("overlapping polling GET: closing session")
        .await;
    healthy.assert_echo("after-overlap").await;
    assert_no_panics();
}

#[tokio::test]
async fn cancelled_get_closes_the_session() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;

    // A raw GET that the client abandons while it is parked.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET /socket.io/?EIO=4&transport=polling&sid={} HTTP/1.1\r\nHost: {}\r\n\r\n",
        p.sid, server.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    settle().await;
    drop(tcp);

    logs.wait_for("poll cancelled by the client").await;
    p.assert_gone().await;
    healthy.assert_echo("after-cancel").await;
    assert_no_panics();
}

#[tokio::test]
async fn undecodable_post_is_refused_and_closes_the_session() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;

    // `abc`: `a` is no packet type.
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    p.post("abc")
        .await
        .assert_engine_error(400, 3, "Bad request");
    p.assert_gone().await;
    logs.wait_for("undecodable polling payload: unknown packet type 'a'")
        .await;

    // A binary record that is not base64.
    let (p, _) = Polling::open(&server).await;
    p.post("bnot base64!")
        .await
        .assert_engine_error(400, 3, "Bad request");
    p.assert_gone().await;
    logs.wait_for("undecodable polling payload: invalid base64")
        .await;

    healthy.assert_echo("after-undecodable").await;
    assert_no_panics();
}

#[tokio::test]
async fn polling_payload_over_max_payload_is_413_and_closes_the_session() {
    let logs = init();
    let server = serve(echo_server(Config::default().with_max_payload(100))).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;

    // Exactly max_payload bytes are accepted.
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    let text = "x".repeat(100 - r#"42["echo",""]"#.len());
    let exact = format!(r#"42["echo","{text}"]"#);
    assert_eq!(exact.len(), 100);
    p.post_ok(&exact).await;
    assert_eq!(p.records(1).await, vec![exact]);

    // One more byte is refused with 413.
    let over = format!("4{}", "a".repeat(100));
    let resp = p.post(&over).await;
    assert_eq!(resp.status, 413, "{resp:?}");
    assert_eq!(resp.body, "payload too large");
    p.assert_gone().await;

    logs.wait_for("polling payload too large").await;
    healthy.assert_echo("after-413").await;
    assert_no_panics();
}

#[tokio::test]
async fn websocket_transport_over_plain_http_is_400() {
    let logs = init();
    let server = serve(echo_server(config())).await;
    // A handshake with transport=websocket but no Upgrade header.
    http_get(&server.url("/socket.io/?EIO=4&transport=websocket"))
        .await
        .assert_engine_error(400, 3, "Bad request");
    logs.wait_for_refusal(3, "Bad request").await;

    // The same for an existing polling session, which is unaffected.
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    http_get(&server.url(&format!(
        "/socket.io/?EIO=4&transport=websocket&sid={}",
        p.sid
    )))
    .await
    .assert_engine_error(400, 3, "Bad request");
    p.assert_echo("still-polling").await;
}

#[tokio::test]
async fn cors_headers_only_when_configured() {
    let _logs = init();
    let origin = "http://example.com";
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let client = http_client();

    let with_cors = serve(echo_server(config()).cors(CorsLayer::very_permissive())).await;
    let resp = request(
        &client,
        Method::GET,
        &with_cors.url(handshake),
        &[("origin", origin)],
        None,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        resp.header("access-control-allow-credentials"),
        Some("true")
    );
    // Preflight.
    let preflight = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
    ];
    let resp = request(
        &client,
        Method::OPTIONS,
        &with_cors.url(handshake),
        &preflight,
        None,
    )
    .await;
    assert!((200..300).contains(&resp.status), "{resp:?}");
    assert_eq!(resp.header("access-control-allow-origin"), Some(origin));
    assert!(
        resp.header("access-control-allow-methods").is_some(),
        "{resp:?}"
    );

    let without = serve(echo_server(config())).await;
    let resp = request(
        &client,
        Method::GET,
        &without.url(handshake),
        &[("origin", origin)],
        None,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), None);
    assert_eq!(resp.header("access-control-allow-credentials"), None);
    let resp = request(
        &client,
        Method::OPTIONS,
        &without.url(handshake),
        &preflight,
        None,
    )
    .await;
    assert_eq!(resp.header("access-control-allow-origin"), None, "{resp:?}");
    assert_eq!(
        resp.header("access-control-allow-methods"),
        None,
        "{resp:?}"
    );
}

#[tokio::test]
async fn polling_session_count_follows_sessions() {
    let _logs = init();
    let rt = Realtime::builder()
        .config(config())
        .namespace("/", echo_ns)
        .build()
        .unwrap();
    let server = serve_app(rt.clone(), rt.router()).await;
    assert_eq!(rt.session_count(), 0);
    let (p, _) = Polling::open(&server).await;
    assert_eq!(rt.session_count(), 1);
    p.post_ok("1").await;
    wait_until("the session is unregistered", || rt.session_count() == 0).await;
}
