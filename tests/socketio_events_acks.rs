//! Socket.IO v5 EVENT and ACK: dispatch, event names, compact form, acks both ways,
//! extractor rejections.

mod common;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use common::*;
use realtime::{
    AckError, AckSender, Data, EmitError, Event, Payload, Realtime, RealtimeBuilder, Socket, State,
    TryData,
};
use serde::Deserialize;
use serde_json::{json, Value};

async fn hello(socket: Socket, ack: AckSender, Data(data): Data<Value>) {
    if ack.expected() {
        let _ = ack.send(&json!({ "got": data }));
    } else {
        let _ = socket.emit("hello-got", &data);
    }
}

async fn expected(socket: Socket, ack: AckSender) {
    let _ = socket.emit("expected", &ack.expected());
}

async fn num(socket: Socket, Data(n): Data<u32>) {
    let _ = socket.emit("num-ok", &n);
}

async fn num_with_ack_sender(ack: AckSender, Data(n): Data<u32>) {
    let _ = ack.send(&n);
}

async fn try_num(ack: AckSender, TryData(n): TryData<u32>) {
    let _ = match n {
        Ok(n) => ack.send(&json!({ "ok": n })),
        Err(e) => ack.send(&json!({ "bad": e.to_string() })),
    };
}

async fn fallback(socket: Socket, Event(name): Event, payload: Payload) {
    let mut args = vec![Value::from(&*name)];
    args.extend(payload.values().unwrap_or_default());
    let _ = socket.emit_payload("fallback", &Payload::from_values(args));
}

#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

#[derive(Clone)]
struct NeverRegistered;

async fn count(State(counter): State<Counter>, ack: AckSender) {
    let _ = ack.send(&(counter.0.fetch_add(1, Ordering::SeqCst) + 1));
}

async fn needs_missing_state(State(_): State<NeverRegistered>, ack: AckSender) {
    let _ = ack.send(&"unreachable");
}

async fn boom() {
    panic!("boom: a handler panicking before its first await");
}

async fn boom_later() {
    tokio::task::yield_now().await;
    panic!("boom: a handler panicking after an await");
}

fn server_builder() -> RealtimeBuilder {
    Realtime::builder()
        .config(config())
        .state(Counter(Arc::new(AtomicUsize::new(0))))
        .namespace("/", |ns| {
            echo_ns(ns)
                .on("1", numeric)
                .on("hello", hello)
                .on("expected", expected)
                .on("num", num)
                .on("num-ack", num_with_ack_sender)
                .on("try-num", try_num)
                .on("count", count)
                .on("boom", boom)
                .on("boom-later", boom_later)
                .fallback(fallback)
        })
        .namespace("/custom", echo_ns)
}

#[tokio::test]
async fn event_is_dispatched_with_its_exact_arguments() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"42["echo",1,"2",{"3":[true]}]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo",1,"2",{"3":[true]}]"#);
    ws.send_text(r#"42["echo"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo"]"#);
    ws.send_text(r#"42["echo",null,[1,[2,{"a":"é\n"}]],-1.5]"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["echo",null,[1,[2,{"a":"é\n"}]],-1.5]"#
    );

    // In a custom namespace.
    sio_connect_on(&mut ws, "/custom").await;
    ws.send_text(r#"42/custom,["echo","x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/custom,["echo","x"]"#);
}

/// The reference server relays objects with their keys in the order the client wrote them.
#[tokio::test]
async fn relayed_objects_keep_their_key_order() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"42["echo",{"b":1,"a":2}]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo",{"b":1,"a":2}]"#);
}

#[tokio::test]
async fn numeric_event_names_reach_the_handler_of_their_decimal_string() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"42[1,"x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["got","1","x"]"#);
    // Another number reaches the fallback under its decimal name.
    ws.send_text(r#"42[42,true]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["fallback","42",true]"#);
}

#[tokio::test]
async fn reserved_event_names_close_the_connection() {
    let logs = init();
    let server = serve(server_builder()).await;
    let (mut healthy, _) = sio_ws(&server, "/").await;
    let names = [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ];
    for name in names {
        let (mut ws, _) = sio_ws(&server, "/").await;
        ws.send_text(&format!(r#"42["{name}",1]"#)).await;
        let closed = ws.expect_close().await;
        assert_eq!(closed.code(), Some(1002), "{name}: {closed:?}");
        assert!(closed.texts().is_empty(), "{name}: {closed:?}");
        logs.wait_for(&format!("reserved event name \"{name}\""))
            .await;
    }
    assert_sio_echo(&mut healthy, "after-reserved").await;
    assert_no_panics();
}

#[tokio::test]
async fn compact_form_reaches_the_named_handler() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"42["m",["hello","data"]]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["hello-got","data"]"#);
    ws.send_text(r#"425["m",["hello",{"k":1}]]"#).await;
    assert_eq!(ws.recv_text().await, r#"435[{"got":{"k":1}}]"#);
    ws.send_text(r#"42["m",[1,"x"]]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["got","1","x"]"#);
}

#[tokio::test]
async fn client_acks_are_answered_through_ack_sender() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"421["ack",1,"2",{"3":[false]}]"#).await;
    assert_eq!(ws.recv_text().await, r#"431[1,"2",{"3":[false]}]"#);
    ws.send_text(r#"4212345678["ack"]"#).await;
    assert_eq!(ws.recv_text().await, r#"4312345678[]"#);
    ws.send_text(r#"420["hello","x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"430[{"got":"x"}]"#);

    // AckSender::expected tells whether the client asked for an ack.
    ws.send_text(r#"42["expected"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["expected",false]"#);
    ws.send_text(r#"427["expected"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["expected",true]"#);

    // In a custom namespace.
    sio_connect_on(&mut ws, "/custom").await;
    ws.send_text(r#"42/custom,9["ack","x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/custom,9["x"]"#);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Reply {
    a: u32,
}

#[tokio::test]
async fn server_to_client_ack_gets_a_typed_reply() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);

    for id in 0..2 {
        let ask = tokio::spawn({
            let socket = socket.clone();
            async move {
                socket
                    .emit_with_ack::<_, Reply>("ask", &json!({"q": 1}))
                    .await
            }
        });
        // Ack ids chosen by the server count up from 0.
        assert_eq!(ws.recv_text().await, format!(r#"42{id}["ask",{{"q":1}}]"#));
        ws.send_text(&format!(r#"43{id}[{{"a":{id}}},"ignored"]"#))
            .await;
        assert_eq!(within("ack", ask).await.unwrap().unwrap(), Reply { a: id });
    }

    // In a custom namespace the ack carries the namespace.
    let custom_sid = sio_connect_on(&mut ws, "/custom").await;
    let custom = server.socket("/custom", &custom_sid);
    let ask = tokio::spawn(async move { custom.emit_with_ack::<_, String>("ask", &"q").await });
    assert_eq!(ws.recv_text().await, r#"42/custom,0["ask","q"]"#);
    ws.send_text(r#"43/custom,0["answer"]"#).await;
    assert_eq!(within("ack", ask).await.unwrap().unwrap(), "answer");
}

#[tokio::test]
async fn server_to_client_ack_times_out_when_the_client_never_answers() {
    let logs = init();
    let server = serve(server_builder().config(config().with_ack_timeout(ms(150)))).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);

    // The configured default timeout.
    let err = socket
        .emit_with_ack::<_, Value>("ask", &1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AckError::Timeout(d) if d == ms(150)),
        "{err:?}"
    );
    assert_eq!(ws.recv_text().await, r#"420["ask",1]"#);

    // An explicit timeout.
    let err = socket
        .emit_with_ack_timeout::<_, Value>("ask", &2, ms(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AckError::Timeout(d) if d == ms(50)),
        "{err:?}"
    );
    assert_eq!(ws.recv_text().await, r#"421["ask",2]"#);

    // A late answer is ignored; the connection stays open.
    ws.send_text(r#"430["late"]"#).await;
    logs.wait_for("ack for no pending emit").await;
    assert_sio_echo(&mut ws, "after-late-ack").await;
}

#[tokio::test]
async fn server_to_client_ack_fails_when_the_client_disconnects() {
    let _logs = init();
    let server = serve(server_builder()).await;

    // The client leaves the namespace while the server waits.
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    let ask = tokio::spawn({
        let socket = socket.clone();
        async move { socket.emit_with_ack::<_, Value>("ask", &1).await }
    });
    assert_eq!(ws.recv_text().await, r#"420["ask",1]"#);
    ws.send_text("41").await;
    let err = within("ack", ask).await.unwrap().unwrap_err();
    assert!(matches!(err, AckError::Disconnected), "{err:?}");

    // Asking a disconnected socket fails at once; so does emitting to it.
    let err = socket
        .emit_with_ack::<_, Value>("ask", &2)
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Disconnected), "{err:?}");
    assert!(matches!(socket.emit("x", &1), Err(EmitError::Disconnected)));

    // The client's connection goes away while the server waits.
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    let ask = tokio::spawn(async move { socket.emit_with_ack::<_, Value>("ask", &3).await });
    // Ack ids count per namespace, as socket.io's `nsp._ids` does (a broadcast with acks
    // uses one id for every recipient): the first socket used id 0.
    assert_eq!(ws.recv_text().await, r#"421["ask",3]"#);
    drop(ws);
    let err = within("ack", ask).await.unwrap().unwrap_err();
    assert!(matches!(err, AckError::Disconnected), "{err:?}");
}

#[tokio::test]
async fn server_to_client_ack_of_the_wrong_type_is_a_decode_error() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    let ask = tokio::spawn(async move { socket.emit_with_ack::<_, u32>("ask", &1).await });
    assert_eq!(ws.recv_text().await, r#"420["ask",1]"#);
    ws.send_text(r#"430["not a number"]"#).await;
    let err = within("ack", ask).await.unwrap().unwrap_err();
    assert!(matches!(err, AckError::Decode(_)), "{err:?}");
    assert_sio_echo(&mut ws, "still-open").await;
}

#[tokio::test]
async fn extractor_rejection_answers_an_error_ack() {
    let logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;

    ws.send_text(r#"423["num","str"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"433[{"error":"invalid payload for event \"num\": invalid type: string \"str\", expected u32"}]"#
    );
    logs.wait_for("handler argument rejected").await;

    // Without an ack id the client hears about it through the `$error` event; the
    // connection stays open and the handler still runs for a good payload.
    ws.send_text(r#"42["num","str"]"#).await;
    ws.send_text(r#"42["num",7]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["$error",{"event":"num","error":"invalid payload for event \"num\": invalid type: string \"str\", expected u32"}]"#
    );
    assert_eq!(ws.recv_text().await, r#"42["num-ok",7]"#);

    // A missing argument is `null`.
    ws.send_text(r#"424["num"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"434[{"error":"invalid payload for event \"num\": invalid type: null, expected u32"}]"#
    );
    assert_no_panics();
}

/// A handler (or middleware) taking `State<T>` for a `T` never registered is refused by
/// `build()`, naming both: found when the server starts, not at the first event.
#[test]
fn missing_state_is_a_build_error() {
    let err = Realtime::builder()
        .without_registered_handlers()
        .on("missing-state", needs_missing_state)
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("needs_missing_state"), "{message}");
    assert!(message.contains("NeverRegistered"), "{message}");
    let err = Realtime::builder()
        .without_registered_handlers()
        .middleware(middleware_needing_state)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("NeverRegistered"), "{err}");
    // Registered, it builds.
    Realtime::builder()
        .without_registered_handlers()
        .state(NeverRegistered)
        .on("missing-state", needs_missing_state)
        .build()
        .unwrap();
}

async fn middleware_needing_state(
    State(_): State<NeverRegistered>,
) -> Result<(), realtime::ConnectError> {
    Ok(())
}

/// A handler that takes an `AckSender` and a `Data<T>`: when `Data` rejects the payload the
/// client's ack must still be answered with the error (the docs promise it; a JS client would
/// otherwise wait for its callback forever).
#[tokio::test]
async fn extractor_rejection_answers_the_ack_even_when_the_handler_takes_an_ack_sender() {
    let logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"428["num-ack","str"]"#).await;
    logs.wait_for("handler argument rejected").await;
    // Whatever comes next must be the error ack (an echo is used as a marker otherwise).
    ws.send_text(r#"42["echo","marker"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"438[{"error":"invalid payload for event \"num-ack\": invalid type: string \"str\", expected u32"}]"#
    );
}

#[tokio::test]
async fn try_data_hands_the_error_to_the_handler() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"421["try-num",5]"#).await;
    assert_eq!(ws.recv_text().await, r#"431[{"ok":5}]"#);
    ws.send_text(r#"422["try-num","x"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"432[{"bad":"invalid type: string \"x\", expected u32"}]"#
    );
}

#[tokio::test]
async fn state_extractor_shares_server_state() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut a, _) = sio_ws(&server, "/").await;
    let (mut b, _) = sio_ws(&server, "/").await;
    a.send_text(r#"421["count"]"#).await;
    assert_eq!(a.recv_text().await, "431[1]");
    b.send_text(r#"421["count"]"#).await;
    assert_eq!(b.recv_text().await, "431[2]");
}

#[tokio::test]
async fn fallback_gets_events_without_a_handler() {
    let _logs = init();
    let server = serve(server_builder()).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    ws.send_text(r#"42["no-such-event",1,{"x":2}]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["fallback","no-such-event",1,{"x":2}]"#
    );

    // Without a fallback (namespace /custom) such events are dropped; the connection stays.
    sio_connect_on(&mut ws, "/custom").await;
    ws.send_text(r#"42/custom,["no-such-event"]"#).await;
    ws.send_text(r#"42/custom,["echo","next"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/custom,["echo","next"]"#);
}

#[tokio::test]
async fn a_panicking_handler_does_not_break_the_connection() {
    let logs = init();
    let server = serve(server_builder()).await;
    let (mut other, _) = sio_ws(&server, "/").await;
    let (mut ws, _) = sio_ws(&server, "/").await;

    ws.send_text(r#"42["boom"]"#).await;
    assert_sio_echo(&mut ws, "after-boom").await;
    logs.wait_for("an event handler panicked").await;
    ws.send_text(r#"42["boom-later"]"#).await;
    assert_sio_echo(&mut ws, "after-boom-later").await;
    wait_until("both panics happened", || panic_count() == 2).await;

    assert_sio_echo(&mut other, "other-client").await;
    assert_eq!(server.rt.of("/").unwrap().socket_count(), 2);
}
