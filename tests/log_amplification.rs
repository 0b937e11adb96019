//! Client data in logs and error replies is quoted as a bounded preview, and one connection
//! cannot flood the log with warnings: ten 1 MB events that fail to deserialize once added
//! 9.4 MiB to the log and were each sent back in full.

mod common;

use common::*;
use realtime::{Data, Realtime};
use serde_json::Value;

async fn wants_a_number(Data(n): Data<u64>) -> u64 {
    n
}

fn server() -> realtime::RealtimeBuilder {
    Realtime::builder()
        .without_registered_handlers()
        .config(config().with_max_payload(2_000_000))
        .on("num", wants_a_number)
}

#[tokio::test]
async fn a_huge_bad_payload_is_quoted_as_a_preview_in_the_log_and_the_reply() {
    let logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let huge = "x".repeat(1_000_000);
    for id in 0..10 {
        ws.send_text(&format!(r#"42{id}["num","{huge}"]"#)).await;
        let reply = ws.recv_text().await;
        assert!(reply.len() < 1000, "reply of {} bytes", reply.len());
        let body: Value = serde_json::from_str(&reply[(2 + id.to_string().len())..]).unwrap();
        let error = body[0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("invalid payload for event \"num\": invalid type: string \"xxx"),
            "{error}"
        );
        assert!(error.contains("bytes)"), "says how long it was: {error}");
    }
    // Without an ack: the `$error` event is bounded too.
    ws.send_text(&format!(r#"42["num","{huge}"]"#)).await;
    assert!(ws.recv_text().await.len() < 1000);
    let log = logs.text();
    assert!(
        log.len() < 20_000,
        "{} bytes of log for 11 bad events",
        log.len()
    );
    assert_sio_echo_like(&mut ws).await;
    assert_no_panics();
}

/// A huge event name is previewed wherever it is quoted: the "no handler" reply and log.
#[tokio::test]
async fn a_huge_event_name_is_quoted_as_a_preview() {
    let logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let name = "e".repeat(900_000);
    ws.send_text(&format!(r#"421["{name}"]"#)).await;
    let reply = ws.recv_text().await;
    assert!(reply.len() < 1000, "reply of {} bytes", reply.len());
    assert!(reply.contains("no handler for event"), "{reply}");
    assert!(logs.text().len() < 5_000);
}

/// A connection that keeps sending bad events: at most 10 warnings per minute, then one
/// line says how many were left out (the rest go to debug, bounded).
#[tokio::test]
async fn warnings_are_budgeted_per_connection() {
    let logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    for id in 0..50 {
        ws.send_text(&format!(r#"42{id}["num","bad"]"#)).await;
        ws.recv_text().await;
    }
    let warnings = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("handler argument rejected"))
        .count();
    assert_eq!(warnings, 10, "{}", logs.text());
    // Another connection has its own budget.
    let (mut other, _) = sio_ws(&server, "/").await;
    other.send_text(r#"421["num","bad"]"#).await;
    other.recv_text().await;
    let warnings = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("handler argument rejected"))
        .count();
    assert_eq!(warnings, 11);
}

async fn assert_sio_echo_like(ws: &mut Ws) {
    ws.send_text(r#"429["num",7]"#).await;
    assert_eq!(ws.recv_text().await, "439[7]");
}
