//! Per-socket listeners: `socket.on(event, handler)` in a connect handler (socket.io's
//! `io.on("connection", socket => socket.on(...))`), ahead of the namespace's handlers for
//! that socket alone, with the same extractors and acks; `socket.off` removes them.

mod common;

use common::*;
use realtime::{AckSender, Data, ListenerError, Socket, State};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The namespace's own handler for `whoami`, and `bye` which removes the listener.
async fn static_whoami(ack: AckSender) {
    let _ = ack.send(&"namespace handler");
}

async fn bye(socket: Socket, ack: AckSender) {
    let _ = ack.send(&socket.off("whoami"));
}

#[derive(Clone)]
struct Greeting(&'static str);

/// VIPs (auth `{"vip": true}`) get listeners of their own: a closure over what the connect
/// handler learned, an `async fn` with extractors, and the compact `"m"` form.
async fn connected(socket: Socket) {
    let vip = socket.auth().get("vip") == Some(&Value::Bool(true));
    if !vip {
        return;
    }
    let id = socket.id().to_string();
    socket
        .on("whoami", move |ack: AckSender| {
            let id = id.clone();
            async move {
                let _ = ack.send(&format!("vip {id}"));
            }
        })
        .unwrap();
    socket.on("shout", shout).unwrap();
    // An extractor that needs state the server lacks is refused at once.
    async fn needs_missing(_: State<u64>) {}
    assert!(matches!(
        socket.on("never", needs_missing),
        Err(ListenerError::MissingState { .. })
    ));
    let _ = socket.emit("ready", &true);
}

async fn shout(State(greeting): State<Greeting>, ack: AckSender, Data(text): Data<String>) {
    let _ = ack.send(&format!("{} {}!", greeting.0, text.to_uppercase()));
}

async fn server() -> Server {
    serve(
        echo_server(config())
            .state(Greeting("hey"))
            .namespace("/", |ns| {
                ns.on_connect(connected)
                    .on("whoami", static_whoami)
                    .on("bye", bye)
            }),
    )
    .await
}

/// A client of `/` with `auth`; returns it once connected (and, for VIPs, once its
/// listeners are in place).
async fn client(server: &Server, auth: &str, vip: bool) -> Ws {
    let (mut ws, _) = eio_ws(server).await;
    ws.send_text(&format!("40{auth}")).await;
    parse_connect_reply(&ws.recv_text().await, "/");
    if vip {
        assert_eq!(ws.recv_text().await, r#"42["ready",true]"#);
    }
    ws
}

#[tokio::test]
async fn a_socket_listener_takes_precedence_for_that_socket_only() {
    let _logs = init();
    let server = server().await;
    let mut vip = client(&server, r#"{"vip":true}"#, true).await;
    let mut plain = client(&server, "", false).await;

    vip.send_text(r#"421["whoami"]"#).await;
    let reply = vip.recv_text().await;
    assert!(reply.starts_with(r#"431["vip "#), "{reply}");
    plain.send_text(r#"421["whoami"]"#).await;
    assert_eq!(plain.recv_text().await, r#"431["namespace handler"]"#);

    // Extractors (State, Data, AckSender) work in a listener as in a handler.
    vip.send_text(r#"422["shout","hi"]"#).await;
    assert_eq!(vip.recv_text().await, r#"432["hey HI!"]"#);
    // The compact form reaches a listener too.
    vip.send_text(r#"423["m",["shout","there"]]"#).await;
    assert_eq!(vip.recv_text().await, r#"433["hey THERE!"]"#);
    // An event only VIPs listen to has no handler for the others.
    plain.send_text(r#"424["shout","hi"]"#).await;
    let refused = plain.recv_text().await;
    assert!(
        refused.starts_with("434") && refused.contains("no handler"),
        "{refused}"
    );
}

#[tokio::test]
async fn off_removes_a_listener_and_the_namespace_handler_answers_again() {
    let _logs = init();
    let server = server().await;
    let mut vip = client(&server, r#"{"vip":true}"#, true).await;
    vip.send_text(r#"421["bye"]"#).await;
    assert_eq!(vip.recv_text().await, "431[true]");
    vip.send_text(r#"422["whoami"]"#).await;
    assert_eq!(vip.recv_text().await, r#"432["namespace handler"]"#);
    // Removing it again says there was none.
    vip.send_text(r#"423["bye"]"#).await;
    assert_eq!(vip.recv_text().await, "433[false]");
}

#[tokio::test]
async fn listeners_added_before_the_first_await_catch_the_events_right_behind_connect() {
    let _logs = init();
    let server = server().await;
    let (mut ws, _) = eio_ws(&server).await;
    // CONNECT and an event in one write, as a client that emits on `connect` does.
    ws.send_batch(vec![
        Message::text(r#"40{"vip":true}"#),
        Message::text(r#"421["whoami"]"#),
    ])
    .await;
    parse_connect_reply(&ws.recv_text().await, "/");
    assert_eq!(ws.recv_text().await, r#"42["ready",true]"#);
    let reply = ws.recv_text().await;
    assert!(reply.starts_with(r#"431["vip "#), "{reply}");
}
