//! Engine.IO v3 / Socket.IO protocol v4, what socket.io-client 2.x speaks (`allow_eio3`),
//! spoken by hand: the handshake and its refusal, v3 payloads (UTF-16 lengths, `b4<base64>`,
//! the binary "XHR2" payload both ways), the client-driven heartbeat, binary WebSocket frames
//! with their type byte, the implicit main namespace, the query of a namespace CONNECT, and
//! CONNECT_ERROR as a 2.x client reads it. The npm client itself runs against the interop
//! server in `tests/interop/node/test/legacy-v2.test.mjs`.

mod common;

use common::*;
use realtime::{Config, ConnectError, Realtime, RealtimeBuilder, Socket};
use serde_json::{json, Value};

fn v3_config() -> Config {
    Config::default().with_allow_eio3(true)
}

/// `/` echoes; `/admin` lets in `?token=secret` and refuses the rest, with data for
/// `?token=data`.
fn legacy_server(config: Config) -> RealtimeBuilder {
    async fn require_secret(socket: Socket) -> Result<(), ConnectError> {
        match socket.auth().get("token").and_then(Value::as_str) {
            Some("secret") => Ok(()),
            Some("data") => Err(ConnectError::new("not authorized").with_data(json!({"code": 7}))),
            _ => Err(ConnectError::new("not authorized")),
        }
    }
    async fn whoami(socket: Socket) -> Value {
        json!({ "ns": socket.ns(), "auth": socket.auth() })
    }
    echo_server(config).namespace("/admin", |ns| {
        ns.middleware(require_secret).on("whoami", whoami)
    })
}

/// Splits a v3 text payload into its packets, checking each length (UTF-16 code units).
fn v3_records(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':').expect("a length prefix");
        let len: usize = len.parse().expect("a decimal length");
        let mut units = 0;
        let end = tail
            .char_indices()
            .find_map(|(i, c)| {
                let at = (units == len).then_some(i);
                units += c.len_utf16();
                at
            })
            .unwrap_or(tail.len());
        assert_eq!(tail[..end].encode_utf16().count(), len, "{body:?}");
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// A v3 text payload of `packets`.
fn v3_payload(packets: &[&str]) -> String {
    packets
        .iter()
        .map(|p| format!("{}:{p}", p.encode_utf16().count()))
        .collect()
}

/// One v3 long-polling session, raw.
struct V3Polling {
    client: reqwest::Client,
    url: String,
}

impl V3Polling {
    /// Handshakes (`extra` is appended to the query, e.g. `&b64=1`); returns the session and
    /// the open packet's JSON.
    async fn open(server: &Server, extra: &str) -> (V3Polling, Value) {
        let client = http_client();
        let url = server.url(&format!("/socket.io/?EIO=3&transport=polling{extra}"));
        let resp = request(&client, reqwest::Method::GET, &url, &[], None).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        let records = v3_records(&resp.body);
        let open: Value = serde_json::from_str(&records[0][1..]).expect("open JSON");
        let sid = open["sid"].as_str().expect("sid");
        let url = server.url(&format!(
            "/socket.io/?EIO=3&transport=polling{extra}&sid={sid}"
        ));
        (V3Polling { client, url }, open)
    }

    async fn get_raw(&self) -> reqwest::Response {
        within("v3 poll", self.client.get(&self.url).send())
            .await
            .expect("GET")
    }

    /// The packets of the next text poll.
    async fn get(&self) -> Vec<String> {
        let resp = self.get_raw().await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "text/plain; charset=UTF-8",
            "a text payload"
        );
        v3_records(&resp.text().await.expect("body"))
    }

    /// Polls until `n` packets arrived.
    async fn packets(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(self.get().await);
        }
        assert_eq!(out.len(), n, "{out:?}");
        out
    }

    async fn post(&self, packets: &[&str]) -> Resp {
        request(
            &self.client,
            reqwest::Method::POST,
            &self.url,
            &[],
            Some(v3_payload(packets)),
        )
        .await
    }

    async fn post_ok(&self, packets: &[&str]) {
        let resp = self.post(packets).await;
        assert_eq!((resp.status, resp.body.as_str()), (200, "ok"), "{resp:?}");
    }
}

#[tokio::test]
async fn v3_is_refused_unless_allowed() {
    let _logs = init();
    let server = serve(echo_server(Config::default())).await;
    for query in ["EIO=3&transport=polling", "transport=polling"] {
        http_get(&server.url(&format!("/socket.io/?{query}")))
            .await
            .assert_engine_error(400, 5, "Unsupported protocol version");
    }
    let (status, _) = ws_refused(&server.ws_url("/socket.io/?EIO=3&transport=websocket")).await;
    assert_eq!(status, 400);

    // Allowed: v3 and v4 both work, an unknown revision still does not, nor JSONP.
    let server = serve(echo_server(v3_config())).await;
    for query in ["EIO=5&transport=polling", "transport=polling"] {
        http_get(&server.url(&format!("/socket.io/?{query}")))
            .await
            .assert_engine_error(400, 5, "Unsupported protocol version");
    }
    http_get(&server.url("/socket.io/?EIO=3&transport=polling&j=0"))
        .await
        .assert_engine_error(400, 3, "JSONP polling is not supported");
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    p.assert_echo("v4 still").await;
}

#[tokio::test]
async fn polling_session_joins_main_namespace_and_echoes_with_utf16_lengths() {
    let logs = init();
    let server = serve(legacy_server(v3_config())).await;
    let (p, open) = V3Polling::open(&server, "").await;
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["pingInterval"], json!(25_000));
    assert_eq!(open["pingTimeout"], json!(20_000));
    // The server connects `/` itself: a bare CONNECT, no sid.
    assert_eq!(p.packets(1).await, vec!["40"]);

    // Non-BMP text: lengths in UTF-16 code units both ways.
    let event = r#"42["echo","hé😀",{"n":1}]"#;
    p.post_ok(&[event]).await;
    assert_eq!(p.packets(1).await, vec![event]);

    // Several packets in one POST, an ack among them.
    p.post_ok(&[r#"42["echo","a"]"#, r#"421["ack","b"]"#]).await;
    assert_eq!(p.packets(2).await, vec![r#"42["echo","a"]"#, r#"431["b"]"#]);
    assert!(!logs.contains("protocol error"), "{}", logs.text());
}

#[tokio::test]
async fn malformed_v3_payloads_close_the_session() {
    let logs = init();
    let server = serve(echo_server(v3_config())).await;
    for bad in ["5:42", "x:40", "2:4😀", "3:b3A"] {
        let (p, _) = V3Polling::open(&server, "").await;
        let resp = request(
            &p.client,
            reqwest::Method::POST,
            &p.url,
            &[],
            Some(bad.to_owned()),
        )
        .await;
        resp.assert_engine_error(400, 3, "Bad request");
        let resp = p.get_raw().await;
        assert_eq!(resp.status(), 400, "{bad:?}: the session is gone");
    }
    assert!(
        logs.contains("undecodable polling payload"),
        "{}",
        logs.text()
    );
    assert_no_panics();
}

#[tokio::test]
async fn binary_over_polling_base64_and_binary_payloads() {
    let _logs = init();
    let server = serve(echo_server(v3_config())).await;
    let announce = r#"451-["echo",{"_placeholder":true,"num":0}]"#;

    // b64=1: binary goes both ways as `b4<base64>` records of a text payload.
    let (p, _) = V3Polling::open(&server, "&b64=1").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    p.post_ok(&[announce, "b4AQID"]).await;
    assert_eq!(p.packets(2).await, vec![announce, "b4AQID"]);

    // Without b64: the server answers with a binary payload, and takes one.
    let (p, _) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    let mut body = vec![0u8];
    body.extend(announce.len().to_string().bytes().map(|d| d - b'0'));
    body.push(255);
    body.extend(announce.as_bytes());
    body.extend([1, 4, 255, 4, 1, 2, 3]);
    let resp = within(
        "binary POST",
        p.client
            .post(&p.url)
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send(),
    )
    .await
    .expect("POST");
    assert_eq!(resp.status(), 200);
    let resp = p.get_raw().await;
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let got = resp.bytes().await.expect("body");
    assert_eq!(&got[..], &body[..], "the echo is the same binary payload");
}

#[tokio::test]
async fn namespace_connect_carries_its_query_and_refusals_are_plain() {
    let _logs = init();
    let server = serve(legacy_server(v3_config())).await;
    let (p, _) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);

    p.post_ok(&["40/admin?token=secret&x=1,"]).await;
    assert_eq!(p.packets(1).await, vec!["40/admin,"]);
    p.post_ok(&[r#"42/admin,5["whoami"]"#]).await;
    assert_eq!(
        p.packets(1).await,
        vec![r#"43/admin,5[{"auth":{"token":"secret","x":"1"},"ns":"/admin"}]"#]
    );

    // Refused: the message, or the data when there is some (what a 2.x client's `error`
    // event gets).
    let (p, _) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    p.post_ok(&["40/admin?token=wrong,"]).await;
    assert_eq!(p.packets(1).await, vec![r#"44/admin,"not authorized""#]);
    p.post_ok(&["40/admin?token=data,"]).await;
    assert_eq!(p.packets(1).await, vec![r#"44/admin,{"code":7}"#]);
    p.post_ok(&["40/nope,"]).await;
    assert_eq!(p.packets(1).await, vec![r#"44/nope,"Invalid namespace""#]);
    // The main namespace still works, and a CONNECT to it is harmless.
    p.post_ok(&["40", r#"42["echo","still"]"#]).await;
    assert_eq!(p.packets(1).await, vec![r#"42["echo","still"]"#]);
}

#[tokio::test]
async fn a_session_keeps_its_protocol_revision() {
    let _logs = init();
    let server = serve(echo_server(v3_config())).await;
    let (p, _) = V3Polling::open(&server, "").await;
    let v4_url = p.url.replace("EIO=3", "EIO=4");
    http_get(&v4_url)
        .await
        .assert_engine_error(400, 3, "Bad request");
    let (v4, _) = Polling::open(&server).await;
    http_get(&v4.url().replace("EIO=4", "EIO=3"))
        .await
        .assert_engine_error(400, 3, "Bad request");
}

#[tokio::test]
async fn client_pings_keep_a_polling_session_alive_and_silence_ends_it() {
    let logs = init();
    let config = v3_config()
        .with_ping_interval(ms(100))
        .with_ping_timeout(ms(150));
    let server = serve(echo_server(config)).await;
    let (p, _) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    let start = tokio::time::Instant::now();
    // Pinging every 100 ms for well past interval + timeout (250 ms): the server answers
    // each ping with a pong and never pings itself.
    let mut last_ping = start;
    for _ in 0..5 {
        tokio::time::sleep(ms(100)).await;
        last_ping = tokio::time::Instant::now();
        p.post_ok(&["2"]).await;
        assert_eq!(p.packets(1).await, vec!["3"]);
    }
    assert!(start.elapsed() > ms(500));
    p.post_ok(&[r#"42["echo","alive"]"#]).await;
    assert_eq!(p.packets(1).await, vec![r#"42["echo","alive"]"#]);
    assert!(!logs.contains("ping timeout"), "{}", logs.text());

    // Silent: gone interval + timeout after the last ping (events do not count, as in the
    // reference server's v3 timer).
    logs.wait_for("no ping from the (v3) client").await;
    assert!(last_ping.elapsed() >= ms(250), "{:?}", last_ping.elapsed());
    wait_until("the session is unregistered", || {
        server.rt.session_count() == 0
    })
    .await;
}

#[tokio::test]
async fn a_pong_from_a_v3_client_is_a_protocol_error() {
    let logs = init();
    let server = serve(echo_server(v3_config())).await;
    let (p, _) = V3Polling::open(&server, "").await;
    p.post(&["3"])
        .await
        .assert_engine_error(400, 3, "Bad request");
    logs.wait_for("unexpected pong from client").await;
}

/// A v3 WebSocket session: the open packet, then `40`.
async fn v3_ws(server: &Server, extra: &str) -> Ws {
    let mut ws =
        ws_connect(&server.ws_url(&format!("/socket.io/?EIO=3&transport=websocket{extra}"))).await;
    let open = ws.recv_text().await;
    assert!(open.starts_with("0{\"sid\":"), "{open}");
    assert_eq!(ws.recv_text().await, "40");
    ws
}

#[tokio::test]
async fn websocket_binary_frames_carry_the_type_byte() {
    let logs = init();
    let server = serve(echo_server(v3_config())).await;
    let announce = r#"451-["echo",{"_placeholder":true,"num":0}]"#;

    let mut ws = v3_ws(&server, "").await;
    ws.send_text(announce).await;
    ws.send_bin(&[4, 1, 2, 3]).await;
    assert_eq!(ws.recv_text().await, announce);
    assert_eq!(ws.recv_bin().await, vec![4, 1, 2, 3]);

    // b64=1: binary as `b4<base64>` text, both ways.
    let mut ws = v3_ws(&server, "&b64=1").await;
    ws.send_text(announce).await;
    ws.send_text("b4AQID").await;
    assert_eq!(ws.recv_text().await, announce);
    assert_eq!(ws.recv_text().await, "b4AQID");

    // A binary frame of another type is refused.
    let mut ws = v3_ws(&server, "").await;
    ws.send_text(announce).await;
    ws.send_bin(&[2, 1]).await;
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1002), "{closed:?}");
    assert!(
        logs.contains("binary packet that is not a message"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn websocket_heartbeat_is_client_driven() {
    let logs = init();
    let config = v3_config()
        .with_ping_interval(ms(100))
        .with_ping_timeout(ms(150));
    let server = serve(echo_server(config)).await;
    let mut ws = v3_ws(&server, "").await;
    for _ in 0..5 {
        tokio::time::sleep(ms(100)).await;
        ws.send_text("2").await;
        assert_eq!(
            ws.recv_text().await,
            "3",
            "a pong for each ping, no server ping"
        );
    }
    assert_sio_echo(&mut ws, "alive").await;
    // Silence closes it.
    let closed = ws.expect_close().await;
    assert!(closed.texts().is_empty(), "{closed:?}");
    logs.wait_for("no ping from the (v3) client").await;
}

#[tokio::test]
async fn polling_upgrades_to_websocket() {
    let _logs = init();
    let server = serve(echo_server(v3_config())).await;
    let (p, open) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    let sid = open["sid"].as_str().unwrap();
    let mut ws =
        ws_connect(&server.ws_url(&format!("/socket.io/?EIO=3&transport=websocket&sid={sid}")))
            .await;
    ws.send_text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    // The pending poll is released with a noop, as a v3 payload.
    assert_eq!(p.get().await, vec!["6"]);
    ws.send_text("5").await;
    assert_sio_echo(&mut ws, "upgraded").await;
    ws.send_bin(&[]).await; // an empty binary frame: no type byte, refused
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1002));
}

#[tokio::test]
async fn rooms_and_broadcasts_mix_v3_and_v4_clients() {
    let _logs = init();
    async fn shout(socket: Socket, payload: realtime::Payload) {
        let _ = socket.namespace().emit_payload("shout", &payload);
    }
    let server = serve(
        Realtime::builder()
            .config(v3_config())
            .namespace("/", |ns| ns.on("shout", shout)),
    )
    .await;
    let mut old = v3_ws(&server, "").await;
    let (mut new, _) = sio_ws(&server, "/").await;
    let (p, _) = V3Polling::open(&server, "").await;
    assert_eq!(p.packets(1).await, vec!["40"]);
    new.send_text(r#"451-["shout",{"_placeholder":true,"num":0}]"#)
        .await;
    new.send_bin(&[9, 9]).await;
    let announce = r#"451-["shout",{"_placeholder":true,"num":0}]"#;
    assert_eq!(old.recv_text().await, announce);
    assert_eq!(old.recv_bin().await, vec![4, 9, 9]);
    assert_eq!(new.recv_text().await, announce);
    assert_eq!(new.recv_bin().await, vec![9, 9]);
    let resp = p.get_raw().await;
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let body = resp.bytes().await.unwrap();
    // The text record, then the attachment as a binary record: type byte, data.
    assert_eq!(body[0], 0);
    assert_eq!(&body[body.len() - 6..], &[1, 3, 255, 4, 9, 9]);
}
