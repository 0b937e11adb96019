//! Malformed Socket.IO input: each case closes the offending connection with the documented
//! status, logs the reason, panics nothing, and leaves a healthy connection working.
//! (Engine-level cases live in engine_polling.rs, engine_websocket.rs and heartbeat.rs; binary
//! attachment cases in binary.rs; plain WebSocket cases in plain_ws.rs.)

mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;

fn server() -> realtime::RealtimeBuilder {
    echo_server(config()).namespace("/custom", echo_ns)
}

async fn case(join: &[&str], frame: &str, log: &str) {
    let logs = init();
    let server = serve(server()).await;
    assert_protocol_error(&server, &logs, join, vec![Message::text(frame)], log).await;
}

#[tokio::test]
async fn unknown_packet_type() {
    case(
        &["/"],
        "4abc",
        "invalid Socket.IO packet: unknown packet type",
    )
    .await;
}

#[tokio::test]
async fn unknown_packet_type_before_any_connect() {
    case(&[], "4abc", "invalid Socket.IO packet: unknown packet type").await;
}

#[tokio::test]
async fn empty_socketio_packet() {
    case(&["/"], "4", "invalid Socket.IO packet: empty packet").await;
}

#[tokio::test]
async fn event_payload_is_not_an_array() {
    case(
        &["/"],
        "42{}",
        "invalid Socket.IO packet: invalid payload for this packet type",
    )
    .await;
}

#[tokio::test]
async fn event_with_an_invalid_ack_id() {
    case(
        &["/"],
        r#"42abc["echo",1,"2",{"3":[false]}]"#,
        "invalid Socket.IO packet: invalid JSON payload",
    )
    .await;
}

#[tokio::test]
async fn event_with_an_ack_id_too_large() {
    case(
        &["/"],
        r#"4299999999999999999999["echo"]"#,
        "invalid Socket.IO packet: invalid ack id",
    )
    .await;
}

#[tokio::test]
async fn event_with_an_empty_array() {
    case(
        &["/"],
        "42[]",
        "invalid Socket.IO packet: invalid payload for this packet type",
    )
    .await;
}

#[tokio::test]
async fn engine_ping_with_a_payload_from_the_client() {
    // `2[]` read as an Engine.IO frame: a ping, which only the server may send in v4.
    case(&["/"], "2[]", "unexpected ping from client").await;
}

#[tokio::test]
async fn event_whose_name_is_not_a_string_or_number() {
    case(
        &["/"],
        r#"42[{"a":1}]"#,
        "invalid Socket.IO packet: invalid payload for this packet type",
    )
    .await;
}

#[tokio::test]
async fn event_with_truncated_json() {
    case(
        &["/"],
        r#"42["echo","#,
        "invalid Socket.IO packet: invalid JSON payload",
    )
    .await;
}

#[tokio::test]
async fn connect_with_a_non_object_auth() {
    case(
        &[],
        "40[]",
        "invalid Socket.IO packet: invalid payload for this packet type",
    )
    .await;
}

#[tokio::test]
async fn disconnect_with_a_payload() {
    case(
        &["/"],
        "41{}",
        "invalid Socket.IO packet: invalid payload for this packet type",
    )
    .await;
}

#[tokio::test]
async fn connect_error_from_the_client() {
    case(
        &["/"],
        r#"44{"message":"x"}"#,
        "CONNECT_ERROR is a server → client packet",
    )
    .await;
}

#[tokio::test]
async fn ack_without_an_ack_id() {
    case(&["/"], "43[1]", "ack packet without an ack id").await;
}

#[tokio::test]
async fn illegal_attachment_count() {
    case(
        &["/"],
        r#"45x-["echo"]"#,
        "invalid Socket.IO packet: illegal attachments",
    )
    .await;
}

#[tokio::test]
async fn event_before_any_connect() {
    case(
        &[],
        r#"42["echo","x"]"#,
        r#"event for namespace "/", which the client has not joined"#,
    )
    .await;
}

#[tokio::test]
async fn event_for_a_namespace_not_joined() {
    case(
        &["/"],
        r#"42/custom,["echo","x"]"#,
        r#"event for namespace "/custom", which the client has not joined"#,
    )
    .await;
}

#[tokio::test]
async fn ack_for_a_namespace_not_joined() {
    case(
        &["/"],
        r#"43/custom,1["x"]"#,
        r#"ack for namespace "/custom", which the client has not joined"#,
    )
    .await;
}

#[tokio::test]
async fn second_connect_to_the_same_namespace() {
    case(&["/"], "40", r#"second CONNECT to namespace "/""#).await;
}

#[tokio::test]
async fn second_connect_to_the_same_custom_namespace() {
    case(
        &["/", "/custom"],
        "40/custom,",
        r#"second CONNECT to namespace "/custom""#,
    )
    .await;
}

#[tokio::test]
async fn event_after_leaving_the_namespace() {
    let logs = init();
    let server = serve(server()).await;
    let frames = vec![Message::text("41"), Message::text(r#"42["echo","x"]"#)];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "which the client has not joined",
    )
    .await;
}

#[tokio::test]
async fn malformed_packets_over_polling_answer_400_and_close_the_session() {
    let logs = init();
    let server = serve(server()).await;
    let (healthy, _) = Polling::open(&server).await;
    healthy.connect("/").await;

    let cases = [
        (
            true,
            "4abc",
            "invalid Socket.IO packet: unknown packet type",
        ),
        (
            true,
            "42{}",
            "invalid Socket.IO packet: invalid payload for this packet type",
        ),
        (
            true,
            r#"42abc["echo"]"#,
            "invalid Socket.IO packet: invalid JSON payload",
        ),
        (false, r#"42["echo"]"#, "which the client has not joined"),
        (true, "40", "second CONNECT to namespace"),
        (true, r#"4511-["echo"]"#, "too many attachments"),
        (true, r#"42["disconnect"]"#, "reserved event name"),
    ];
    for (join, body, log) in cases {
        let (p, _) = Polling::open(&server).await;
        if join {
            p.connect("/").await;
        }
        p.post(body)
            .await
            .assert_engine_error(400, 3, "Bad request");
        p.assert_gone().await;
        logs.wait_for(log).await;
    }
    healthy.assert_echo("after-malformed-polling").await;
    assert_no_panics();
}

/// A deterministic pseudo-random stream of `x = x * a + c` (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// Hundreds of garbage frames built from protocol fragments, on connections reopened as the
/// server closes them: the server never panics and a healthy connection keeps working.
#[tokio::test]
async fn garbage_barrage_never_panics_the_server() {
    let logs = init();
    let server = serve(server()).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;

    let prefixes = [
        "4", "42", "40", "41", "43", "44", "45", "46", "451-", "4511-", "2", "3", "6", "5", "", "b",
    ];
    let tokens = [
        "[",
        "]",
        "{",
        "}",
        "\"echo\"",
        "\"ack\"",
        ",",
        "1",
        "-",
        "/custom",
        "/x",
        r#"{"_placeholder":true,"num":0}"#,
        "null",
        "\"a\"",
        "99999999999999999999",
        " ",
        "é",
        "\"connect\"",
        "\\",
        "\u{0}",
    ];
    let mut rng = Lcg(0x5eed);
    let (mut ws, _) = sio_ws(&server, "/").await;
    let mut closes = 0;
    for i in 0..300 {
        let mut frame = prefixes[rng.next(prefixes.len())].to_owned();
        for _ in 0..rng.next(8) {
            frame.push_str(tokens[rng.next(tokens.len())]);
        }
        if rng.next(10) == 0 {
            ws.send_bin(frame.as_bytes()).await;
        } else {
            ws.send_text(&frame).await;
        }
        // A marker tells whether the connection survived the frame.
        let marker = format!(r#"42["echo","marker-{i}"]"#);
        let alive =
            match futures_util::SinkExt::send(&mut ws.inner, Message::text(marker.clone())).await {
                Ok(()) => loop {
                    match within(
                        "marker or close",
                        futures_util::StreamExt::next(&mut ws.inner),
                    )
                    .await
                    {
                        Some(Ok(Message::Text(t))) if t.as_str() == marker => break true,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break false,
                        Some(Ok(_)) => continue,
                    }
                },
                Err(_) => false,
            };
        if !alive {
            closes += 1;
            ws = sio_ws(&server, "/").await.0;
        }
    }
    assert!(
        closes > 50,
        "most garbage closes the connection ({closes} closes)"
    );
    assert_sio_echo(&mut healthy, "after-barrage").await;
    assert_sio_echo(&mut ws, "last-connection").await;
    assert_no_panics();
    drop(logs);
}
