//! Binary attachments: BINARY_EVENT and BINARY_ACK both ways, and malformed binary packets.

mod common;

use common::*;
use realtime::{Bin, EmitError, Payload, Socket};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

async fn binlen(socket: Socket, Bin(bins): Bin) {
    let lens: Vec<usize> = bins.iter().map(|b| b.len()).collect();
    let _ = socket.emit("binlen", &lens);
}

fn server() -> realtime::RealtimeBuilder {
    echo_server(config())
        .on("binlen", binlen)
        .namespace("/custom", echo_ns)
}

#[tokio::test]
async fn binary_event_reaches_the_handler_and_is_echoed_with_attachments() {
    let _logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;

    ws.send_text(&format!(r#"452-["echo",{PH0},{PH1}]"#)).await;
    ws.send_bin(&[1, 2, 3]).await;
    ws.send_bin(&[4, 5, 6]).await;
    assert_eq!(ws.recv_text().await, format!(r#"452-["echo",{PH0},{PH1}]"#));
    assert_eq!(ws.recv_bin().await, [1, 2, 3]);
    assert_eq!(ws.recv_bin().await, [4, 5, 6]);

    // The Bin extractor sees the attachments.
    ws.send_text(&format!(r#"451-["binlen",{PH0}]"#)).await;
    ws.send_bin(&[9; 4]).await;
    assert_eq!(ws.recv_text().await, r#"42["binlen",[4]]"#);

    // A placeholder nested in an object.
    ws.send_text(&format!(r#"451-["echo",{{"file":{PH0},"name":"a"}}]"#))
        .await;
    ws.send_bin(&[0xff]).await;
    assert_eq!(
        ws.recv_text().await,
        format!(r#"451-["echo",{{"file":{PH0},"name":"a"}}]"#)
    );
    assert_eq!(ws.recv_bin().await, [0xff]);

    // In a custom namespace.
    sio_connect_on(&mut ws, "/custom").await;
    ws.send_text(&format!(r#"451-/custom,["echo",{PH0}]"#))
        .await;
    ws.send_bin(&[5]).await;
    assert_eq!(
        ws.recv_text().await,
        format!(r#"451-/custom,["echo",{PH0}]"#)
    );
    assert_eq!(ws.recv_bin().await, [5]);
}

#[tokio::test]
async fn server_emit_payload_with_binary_sends_placeholders_and_attachments() {
    let _logs = init();
    let server = serve(server()).await;
    let (mut a, sid) = sio_ws(&server, "/").await;
    let (mut b, _) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);

    let payload = Payload::new()
        .arg("x")
        .unwrap()
        .binary_arg(vec![1u8, 2])
        .arg(json!({"k": 1}))
        .unwrap()
        .binary_arg(vec![3u8]);
    socket.emit_payload("file", &payload).unwrap();
    assert_eq!(
        a.recv_text().await,
        format!(r#"452-["file","x",{PH0},{{"k":1}},{PH1}]"#)
    );
    assert_eq!(a.recv_bin().await, [1, 2]);
    assert_eq!(a.recv_bin().await, [3]);

    // A broadcast with binary reaches every socket.io client the same way.
    let payload = Payload::new().binary_arg(vec![7u8; 3]);
    server
        .rt
        .of("/")
        .unwrap()
        .emit_payload("all", &payload)
        .unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(ws.recv_text().await, format!(r#"451-["all",{PH0}]"#));
        assert_eq!(ws.recv_bin().await, [7, 7, 7]);
    }

    // More than 10 attachments cannot be sent; the connection is untouched.
    let mut big = Payload::new();
    for i in 0..11u8 {
        big = big.binary_arg(vec![i]);
    }
    assert!(matches!(
        socket.emit_payload("big", &big),
        Err(EmitError::TooManyAttachments(11))
    ));
    assert_sio_echo(&mut a, "after-too-many").await;
}

#[tokio::test]
async fn binary_ack_answers_a_binary_event() {
    let _logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(&format!(r#"452-789["ack",{PH0},{PH1}]"#))
        .await;
    ws.send_bin(&[1, 2, 3]).await;
    ws.send_bin(&[4, 5, 6]).await;
    assert_eq!(ws.recv_text().await, format!(r#"462-789[{PH0},{PH1}]"#));
    assert_eq!(ws.recv_bin().await, [1, 2, 3]);
    assert_eq!(ws.recv_bin().await, [4, 5, 6]);
}

#[tokio::test]
async fn server_to_client_ack_with_binary_both_ways() {
    let _logs = init();
    let server = serve(server()).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    let ask = tokio::spawn(async move {
        let payload = Payload::new().arg("x").unwrap().binary_arg(vec![1u8]);
        socket.emit_payload_with_ack("ask", &payload, WAIT).await
    });
    assert_eq!(ws.recv_text().await, format!(r#"451-0["ask","x",{PH0}]"#));
    assert_eq!(ws.recv_bin().await, [1]);
    ws.send_text(&format!(r#"461-0["ok",{PH0}]"#)).await;
    ws.send_bin(&[7, 7]).await;
    let reply = within("binary ack", ask).await.unwrap().unwrap();
    assert_eq!(
        reply.values().unwrap(),
        vec![
            json!("ok"),
            serde_json::from_str::<serde_json::Value>(PH0).unwrap()
        ]
    );
    assert_eq!(reply.binary(), [bytes::Bytes::from_static(&[7, 7])]);
}

#[tokio::test]
async fn more_than_ten_attachments_close_the_connection() {
    let logs = init();
    let server = serve(server()).await;
    let frames = vec![Message::text(format!(r#"4511-["echo",{PH0}]"#))];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "too many attachments (11, at most 10)",
    )
    .await;
}

#[tokio::test]
async fn exactly_ten_attachments_are_accepted() {
    let _logs = init();
    let server = serve(server()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let placeholders: Vec<String> = (0..10)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    ws.send_text(&format!(r#"4510-["binlen",{}]"#, placeholders.join(",")))
        .await;
    for n in 0..10u8 {
        ws.send_bin(&vec![n; n as usize + 1]).await;
    }
    assert_eq!(
        ws.recv_text().await,
        r#"42["binlen",[1,2,3,4,5,6,7,8,9,10]]"#
    );
}

#[tokio::test]
async fn placeholder_number_out_of_range_closes_the_connection() {
    let logs = init();
    let server = serve(server()).await;
    let frames = vec![
        Message::text(format!(r#"451-["echo",{PH1}]"#)),
        Message::binary(vec![1u8]),
    ];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "invalid placeholder in binary packet",
    )
    .await;
    let frames = vec![
        Message::text(r#"451-["echo",{"_placeholder":true}]"#),
        Message::binary(vec![1u8]),
    ];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "invalid placeholder in binary packet",
    )
    .await;
}

#[tokio::test]
async fn text_while_attachments_are_awaited_closes_the_connection() {
    let logs = init();
    let server = serve(server()).await;
    let frames = vec![
        Message::text(format!(r#"452-["echo",{PH0},{PH1}]"#)),
        Message::binary(vec![1u8]),
        Message::text(r#"42["echo","too early"]"#),
    ];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "text packet while binary attachments were expected",
    )
    .await;
}

#[tokio::test]
async fn binary_frame_without_a_binary_packet_closes_the_connection() {
    let logs = init();
    let server = serve(server()).await;
    let frames = vec![Message::binary(vec![1u8, 2, 3])];
    assert_protocol_error(
        &server,
        &logs,
        &["/"],
        frames,
        "binary frame without a binary packet announcing it",
    )
    .await;
}
