//! Handlers registered by `#[event]` and the lifecycle attributes, with no registration call:
//! `Realtime::builder().build()` finds every handler of this test binary (the inventory
//! collection holds exactly what this file defines), in two modules and two namespaces, and
//! a raw Socket.IO client reaches them. `without_registered_handlers()` ignores them.

mod common;

use std::sync::Mutex;

use common::*;
use realtime::{Config, Realtime};

/// What the lifecycle handlers saw, for the tests to wait on.
static DISCONNECTS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static STARTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn disconnects() -> Vec<(String, String)> {
    DISCONNECTS.lock().unwrap().clone()
}

fn starts() -> Vec<usize> {
    STARTS.lock().unwrap().clone()
}

/// The main namespace `/`: events, return values as ack replies, connect, the fallback.
mod lobby {
    use realtime::{event, fallback, on_connect, Data, Event, Reply, Socket};
    use serde::Serialize;
    use serde_json::Value;

    #[derive(Serialize)]
    struct Score {
        points: u32,
    }

    #[on_connect]
    async fn welcome(socket: Socket) {
        let _ = socket.emit("welcome", &socket.id().as_str());
    }

    #[event("echo")]
    async fn echo(socket: Socket, Data(value): Data<Value>) {
        let _ = socket.emit("echoed", &value);
    }

    /// A `Serialize` value answers the ack as its one argument.
    #[event("double")]
    async fn double(Data(n): Data<u32>) -> Score {
        Score { points: n * 2 }
    }

    /// `Err` answers `{"error": ...}`.
    #[event("check")]
    async fn check(Data(n): Data<i64>) -> Result<i64, String> {
        if n >= 0 {
            Ok(n)
        } else {
            Err(format!("{n} is negative"))
        }
    }

    /// `()` answers an ack with no arguments.
    #[event("nothing")]
    async fn nothing() {}

    /// An integer event name.
    #[event(7)]
    async fn seven(socket: Socket) {
        let _ = socket.emit("seven", &true);
    }

    #[fallback]
    async fn unknown(Event(name): Event) -> Reply {
        Reply::error(format!("unknown event {name:?}"))
    }
}

/// A second namespace through the `namespace` option, and the start hook.
mod admin {
    use realtime::{event, on_connect, on_disconnect, on_start, Data, Realtime, Socket};
    use serde_json::Value;

    #[on_connect(namespace = "/admin")]
    async fn admin_connected(socket: Socket) {
        let _ = socket.emit("admin-welcome", &socket.ns());
    }

    /// Same event name as `lobby::echo`, other namespace: no conflict.
    #[event("echo", namespace = "/admin")]
    async fn admin_echo(socket: Socket, Data(value): Data<Value>) {
        let _ = socket.emit("admin-echoed", &value);
    }

    #[on_disconnect(namespace = "/admin")]
    async fn admin_left(socket: Socket, Data(reason): Data<String>) {
        super::DISCONNECTS
            .lock()
            .unwrap()
            .push((socket.id().as_str().to_owned(), reason));
    }

    #[on_start]
    async fn started(rt: Realtime) {
        super::STARTS.lock().unwrap().push(rt.config().max_payload);
    }
}

/// The server with every registered handler: only `build()`, nothing listed.
async fn registered() -> Server {
    serve(Realtime::builder()).await
}

/// Reads the next text frame and checks it.
async fn expect(ws: &mut Ws, expected: &str) {
    assert_eq!(ws.recv_text_no_ping().await, expected);
}

#[tokio::test]
async fn event_handlers_are_reached_plain_and_compact() {
    init();
    let server = registered().await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    expect(&mut ws, &format!(r#"42["welcome","{sid}"]"#)).await;

    ws.send_text(r#"42["echo",{"a":1}]"#).await;
    expect(&mut ws, r#"42["echoed",{"a":1}]"#).await;

    // weroll's compact form: ["m", [event, ...args]].
    ws.send_text(r#"42["m",["echo","compact"]]"#).await;
    expect(&mut ws, r#"42["echoed","compact"]"#).await;

    // An integer event name, as a JS client may send it.
    ws.send_text(r#"42[7]"#).await;
    expect(&mut ws, r#"42["seven",true]"#).await;
    ws.send_text(r#"42["7"]"#).await;
    expect(&mut ws, r#"42["seven",true]"#).await;
    assert_no_panics();
}

#[tokio::test]
async fn return_values_answer_acks() {
    init();
    let server = registered().await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    expect(&mut ws, &format!(r#"42["welcome","{sid}"]"#)).await;

    // A Serialize value: its one argument.
    ws.send_text(r#"421["double",21]"#).await;
    expect(&mut ws, r#"431[{"points":42}]"#).await;
    // The same through the compact form.
    ws.send_text(r#"422["m",["double",2]]"#).await;
    expect(&mut ws, r#"432[{"points":4}]"#).await;
    // Result: Ok(v) is v, Err(e) is {"error": e}.
    ws.send_text(r#"423["check",5]"#).await;
    expect(&mut ws, "433[5]").await;
    ws.send_text(r#"424["check",-5]"#).await;
    expect(&mut ws, r#"434[{"error":"-5 is negative"}]"#).await;
    // (): an ack with no arguments.
    ws.send_text(r#"425["nothing"]"#).await;
    expect(&mut ws, "435[]").await;
    // A payload the extractor rejects: the documented error ack, the handler never runs.
    ws.send_text(r#"426["double","not a number"]"#).await;
    let reply = ws.recv_text_no_ping().await;
    assert!(
        reply.starts_with(r#"436[{"error":"invalid payload for event \"double\""#),
        "{reply}"
    );
    assert_no_panics();
}

#[tokio::test]
async fn fallback_runs_for_unknown_events() {
    init();
    let server = registered().await;
    let (mut ws, sid) = sio_ws(&server, "/").await;
    expect(&mut ws, &format!(r#"42["welcome","{sid}"]"#)).await;

    ws.send_text(r#"421["nope",1]"#).await;
    expect(&mut ws, r#"431[{"error":"unknown event \"nope\""}]"#).await;
    ws.send_text(r#"422["m",["nope.compact"]]"#).await;
    expect(
        &mut ws,
        r#"432[{"error":"unknown event \"nope.compact\""}]"#,
    )
    .await;
    // Known events still reach their own handler.
    ws.send_text(r#"423["double",1]"#).await;
    expect(&mut ws, r#"433[{"points":2}]"#).await;
    assert_no_panics();
}

#[tokio::test]
async fn namespace_option_and_lifecycle_handlers() {
    init();
    let server = registered().await;
    let (mut ws, _) = eio_ws(&server).await;

    // on_connect of "/admin" only: joining "/admin" first gets the admin welcome.
    let admin_sid = sio_connect_on(&mut ws, "/admin").await;
    expect(&mut ws, r#"42/admin,["admin-welcome","/admin"]"#).await;
    let sid = sio_connect_on(&mut ws, "/").await;
    expect(&mut ws, &format!(r#"42["welcome","{sid}"]"#)).await;

    // One event name, two namespaces, two handlers.
    ws.send_text(r#"42/admin,["echo","a"]"#).await;
    expect(&mut ws, r#"42/admin,["admin-echoed","a"]"#).await;
    ws.send_text(r#"42["echo","b"]"#).await;
    expect(&mut ws, r#"42["echoed","b"]"#).await;
    // "/admin" has no fallback: an unknown event gets the framework's error ack there.
    ws.send_text(r#"42/admin,1["nope"]"#).await;
    expect(
        &mut ws,
        r#"43/admin,1[{"error":"no handler for event \"nope\""}]"#,
    )
    .await;

    // on_disconnect of "/admin" runs when the client leaves the namespace.
    assert!(!disconnects().iter().any(|(s, _)| *s == admin_sid));
    ws.send_text("41/admin,").await;
    wait_until("the /admin disconnect handler ran", || {
        disconnects()
            .iter()
            .any(|(s, reason)| *s == admin_sid && reason == "client namespace disconnect")
    })
    .await;
    // The main namespace is still there.
    ws.send_text(r#"42["echo","c"]"#).await;
    expect(&mut ws, r#"42["echoed","c"]"#).await;
    assert!(!disconnects().iter().any(|(s, _)| *s == sid));
    assert_no_panics();
}

/// A config only this test uses, so that the start handler's record identifies its server.
fn marked_config(max_payload: usize) -> Config {
    let mut config = Config::default();
    config.max_payload = max_payload;
    config
}

#[tokio::test]
async fn on_start_runs_when_serving_begins() {
    init();
    let rt = Realtime::builder()
        .config(marked_config(1_000_001))
        .build()
        .expect("the registered handlers build");
    settle().await;
    assert!(
        !starts().contains(&1_000_001),
        "start handlers wait until serving begins"
    );
    let app = rt.router();
    let _server = serve_app(rt, app).await;
    wait_until("the start handler ran", || starts().contains(&1_000_001)).await;
    assert_eq!(
        starts().iter().filter(|m| **m == 1_000_001).count(),
        1,
        "once per server"
    );
    assert_no_panics();
}

#[tokio::test]
async fn without_registered_handlers_ignores_them() {
    init();
    let server = serve(
        Realtime::builder()
            .config(marked_config(1_000_002))
            .without_registered_handlers(),
    )
    .await;
    let (mut ws, _) = sio_ws(&server, "/").await;

    // No on_connect handler: the first frame is the answer to the first event.
    ws.send_text(r#"421["double",1]"#).await;
    expect(
        &mut ws,
        r#"431[{"error":"no handler for event \"double\""}]"#,
    )
    .await;
    // No fallback either.
    ws.send_text(r#"422["nope"]"#).await;
    expect(&mut ws, r#"432[{"error":"no handler for event \"nope\""}]"#).await;
    // "/admin" exists only through the macros.
    ws.send_text("40/admin,").await;
    expect(&mut ws, r#"44/admin,{"message":"Invalid namespace"}"#).await;
    assert!(server.rt.of("/admin").is_none());
    // No start handler.
    settle().await;
    assert!(!starts().contains(&1_000_002));
    assert_no_panics();
}

/// `handlers_from_module` takes the registered handlers of one module only: two servers in
/// one program each get their own.
#[tokio::test]
async fn handlers_from_module_takes_one_module() {
    init();
    let admin_only = serve(
        Realtime::builder()
            .config(marked_config(1_000_003))
            .handlers_from_module(concat!(module_path!(), "::admin")),
    )
    .await;
    // The lobby's handlers (and its on_connect) are not there...
    let (mut ws, _) = sio_ws(&admin_only, "/").await;
    ws.send_text(r#"421["double",1]"#).await;
    expect(
        &mut ws,
        r#"431[{"error":"no handler for event \"double\""}]"#,
    )
    .await;
    // ...the admin module's are.
    assert!(admin_only.rt.of("/admin").is_some());
    // And a prefix must end at a module boundary: `...::admi` is no module.
    let none = Realtime::builder()
        .handlers_from_module(concat!(module_path!(), "::admi"))
        .build()
        .unwrap();
    assert!(none.of("/admin").is_none());
    assert_no_panics();
}
