//! The server every interoperability test talks to (`tests/interop/`): the official
//! `socket.io-client` (Node and browser), `python-socketio`, and plain WebSocket clients.
//!
//! Port from `PORT` (default 3001). Besides the realtime endpoints (`/socket.io/`, `/ws`) it
//! serves a test page on `GET /` and the socket.io client bundle on `GET /socket.io.min.js`
//! (read at run time from `tests/interop/node/node_modules/socket.io-client/dist/`, or from
//! `INTEROP_CLIENT_JS`), so a browser can run the browser scenario from one origin; the same
//! directory's bundles are also served where Node serves them, `/socket.io/socket.io.js`,
//! `/socket.io/socket.io.min.js` and their maps (`Config::serve_client`), which the test
//! page loads.
//!
//! socket.io-client 2.x (Engine.IO v3) is let in (`Config::allow_eio3`).
//!
//! Environment (besides `PORT`, `INTEROP_CLIENT_JS` and `REDIS_URL`):
//!
//! | variable | what it sets |
//! |---|---|
//! | `PING_INTERVAL_MS`, `PING_TIMEOUT_MS` | a shorter heartbeat (the heartbeat and ping-timeout tests) |
//! | `CONNECTION_STATE_RECOVERY=1` | connection state recovery on, with `Recovery::default()` but for the knobs below |
//! | `RECOVERY_MAX_DISCONNECTION_MS` | `Recovery::max_disconnection_duration`, in milliseconds |
//! | `RECOVERY_MAX_PACKETS` | `Recovery::max_packets` |
//! | `RECOVERY_MAX_BYTES` | `Recovery::max_bytes` |
//! | `RECOVERY_SKIP_MIDDLEWARES` | `0`: a recovered socket goes through connection middleware again (`Recovery::skip_middlewares = false`); anything else: the default, it skips them |
//!
//! Namespace `/`:
//!
//! | event | what the server does |
//! |---|---|
//! | (connect) | emits `welcome` `{id, ns, auth}` |
//! | `echo` | emits `echo` back with the same arguments (binary included) |
//! | `ack-echo` | acks with the same arguments (binary included) |
//! | `recovered` | acks whether the socket came back with connection state recovery (`CONNECTION_STATE_RECOVERY=1`) |
//! | `server-ack` `{event?, data, timeoutMs}` | `emit_with_ack_timeout(event, data)` to the client, then reports `{ok:true, reply}` or `{ok:false, error}` as the ack reply, or as the event `server-ack-result` if no ack was asked |
//! | `server-ack-binary` | sends `ask-binary` with a binary argument and an ack; reports the client's whole reply as the event `server-ack-binary-result` |
//! | `binary` | emits `binary` back with the same payload and acks `{attachments: n}` |
//! | `binary-from-server` | emits `binary-from-server` with `"server"`, top-level bytes `[1,2,3]` and nested bytes `{nested:{buf:[4,5,6]}, list:[..., [7,8]]}` |
//! | `join` room / `leave` room | joins / leaves; acks `{rooms:[...]}` |
//! | `to-room` `{room, data}` | `socket.to(room).emit("room-message", {room, from, data})` (not to the sender); acks `"sent"` |
//! | `typed` `{a:int, b:int}` | `TryData`: acks `{ok:true, sum}` or `{ok:false, error}` |
//! | `add` `{a, b}` | `AckSender` + `Data<T>`: acks `{sum}` (a wrong shape should get the framework's error ack) |
//! | `sum` `{a, b}` | `Data<T>` alone: emits `sum` with `a + b` (a wrong shape gets the framework's error ack) |
//! | `count` | `State<Counter>`: acks the incremented server-wide counter |
//! | `1` (numeric event) | emits `numeric` with `{event:"1", args:[...]}` |
//! | `disconnect-me` | `socket.disconnect()` (client sees `io server disconnect`) |
//! | `set-data` value | `socket.set_data(value)`; acks `true` |
//! | `get-data` | acks `socket.data()` (`null` if none was set) |
//! | `disconnect-reason` id | acks the reason the socket with that id (in `/` or `/admin`) last disconnected for, as the server's disconnect handler saw it (`null` if it has not) |
//! | (disconnect) | remembers the reason for `disconnect-reason` |
//! | `message` | plain WebSocket raw text: acks `TEXT!!!` (raw text reply), otherwise emits `message` with it; binary (a plain binary frame): emits `message` with the same binary |
//! | anything else | fallback: emits `unknown-event` `{event, args}` |
//!
//! Namespace `/admin`: a middleware refuses unless `auth.token == "secret"` with
//! `ConnectError("not authorized", {reason:"bad token"})`; emits `welcome`; `whoami` acks
//! `{ns, id, auth}`; `join`, `to-room` and `recovered` as in `/`, and its disconnects are
//! remembered for `/`'s `disconnect-reason` (the recovery tests' middleware cases). Namespace `/custom`: emits `welcome`, `echo` as in `/`.
//!
//! ```sh
//! PORT=3001 cargo run --example interop
//! ```

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse},
    routing::get,
    Router,
};
use realtime::{
    AckSender, Bin, Config, ConnectError, CorsLayer, Data, Event, Payload, Realtime, Reply, Socket,
    State, TryData,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// Server-wide counter for the `State<T>` extractor.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

/// The reason each socket last disconnected for, by socket id (`disconnect-reason`).
#[derive(Clone, Default)]
struct Reasons(Arc<Mutex<HashMap<String, String>>>);

async fn remember_reason(
    socket: Socket,
    State(reasons): State<Reasons>,
    Data(reason): Data<String>,
) {
    let mut reasons = reasons.0.lock().unwrap_or_else(|e| e.into_inner());
    reasons.insert(socket.id().as_str().to_owned(), reason);
}

async fn disconnect_reason(ack: AckSender, State(reasons): State<Reasons>, Data(id): Data<String>) {
    let reason = reasons
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned();
    let _ = ack.send(&reason);
}

/// Per-socket data (kept across connection state recovery).
async fn set_data(socket: Socket, ack: AckSender, Data(value): Data<Value>) {
    let _ = ack.send(&socket.set_data(&value).is_ok());
}

async fn get_data(socket: Socket, ack: AckSender) {
    let _ = ack.send(&socket.data::<Value>());
}

/// Whether the socket came back with connection state recovery (the recovery tests).
async fn recovered(realtime::Recovered(recovered): realtime::Recovered) -> bool {
    recovered
}

async fn welcome(socket: Socket) {
    let _ = socket.emit(
        "welcome",
        &json!({ "id": socket.id().as_str(), "ns": socket.ns(), "auth": socket.auth() }),
    );
}

/// Emits the arguments back as the event `echo`. Returns `Reply::none()` so that a client
/// that asks for an ack anyway gets none (the client-side timeout test relies on it).
async fn echo(socket: Socket, payload: Payload) -> Reply {
    let _ = socket.emit_payload("echo", &payload);
    Reply::none()
}

async fn ack_echo(ack: AckSender, payload: Payload) {
    let _ = ack.send_payload(&payload);
}

#[derive(Deserialize)]
struct ServerAckRequest {
    #[serde(default = "default_ask_event")]
    event: String,
    #[serde(default)]
    data: Value,
    #[serde(rename = "timeoutMs", default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_ask_event() -> String {
    "ask".into()
}

fn default_timeout_ms() -> u64 {
    2000
}

/// Asks the client for an ack and reports what came back (or the error).
async fn server_ack(socket: Socket, ack: AckSender, Data(req): Data<ServerAckRequest>) {
    let result = socket
        .emit_with_ack_timeout::<_, Value>(
            &req.event,
            &req.data,
            Duration::from_millis(req.timeout_ms),
        )
        .await;
    let report = match result {
        Ok(reply) => json!({ "ok": true, "reply": reply }),
        Err(err) => json!({
            "ok": false,
            "error": err.to_string(),
            "timeout": matches!(err, realtime::AckError::Timeout(_)),
        }),
    };
    if ack.expected() {
        let _ = ack.send(&report);
    } else {
        let _ = socket.emit("server-ack-result", &report);
    }
}

/// Server → client ack carrying binary; the client's whole reply (binary included) is
/// reported back as an event.
async fn server_ack_binary(socket: Socket) {
    let ask = Payload::new()
        .arg("bin-question")
        .expect("serializable")
        .binary_arg(vec![9u8, 8, 7]);
    match socket
        .emit_payload_with_ack("ask-binary", &ask, Duration::from_secs(3))
        .await
    {
        Ok(reply) => {
            let _ = socket.emit_payload("server-ack-binary-result", &reply);
        }
        Err(err) => {
            let _ = socket.emit(
                "server-ack-binary-result",
                &json!({ "error": err.to_string() }),
            );
        }
    }
}

async fn binary(socket: Socket, ack: AckSender, Bin(attachments): Bin, payload: Payload) {
    let _ = socket.emit_payload("binary", &payload);
    let _ = ack.send(&json!({ "attachments": attachments.len() }));
}

/// A server-built payload: a top-level binary argument and binary nested in objects/arrays.
async fn binary_from_server(socket: Socket) {
    let mut payload = Payload::new()
        .arg("server")
        .expect("serializable")
        .binary_arg(vec![1u8, 2, 3]);
    let buf = payload.attach(vec![4u8, 5, 6]);
    let item = payload.attach(vec![7u8, 8]);
    let payload = payload
        .arg(json!({
            "nested": { "buf": Payload::placeholder(buf) },
            "list": ["x", Payload::placeholder(item)],
        }))
        .expect("serializable");
    let _ = socket.emit_payload("binary-from-server", &payload);
}

async fn join(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.join(room.as_str());
    let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    let _ = ack.send(&json!({ "rooms": rooms }));
}

async fn leave(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.leave(room.as_str());
    let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    let _ = ack.send(&json!({ "rooms": rooms }));
}

#[derive(Deserialize)]
struct ToRoom {
    room: String,
    #[serde(default)]
    data: Value,
}

async fn to_room(socket: Socket, ack: AckSender, Data(msg): Data<ToRoom>) {
    let body = json!({ "room": msg.room, "from": socket.id().as_str(), "data": msg.data });
    let result = socket.to(msg.room.as_str()).emit("room-message", &body);
    let _ = ack.send(&if result.is_ok() {
        json!("sent")
    } else {
        json!("failed")
    });
}

#[derive(Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

async fn typed(ack: AckSender, TryData(input): TryData<Sum>) {
    let _ = ack.send(&match input {
        Ok(Sum { a, b }) => json!({ "ok": true, "sum": a + b }),
        Err(err) => json!({ "ok": false, "error": err.to_string() }),
    });
}

async fn add(ack: AckSender, Data(Sum { a, b }): Data<Sum>) {
    let _ = ack.send(&json!({ "sum": a + b }));
}

/// `Data<T>` without an `AckSender`: a wrong shape is answered by the framework's error ack.
async fn sum(socket: Socket, Data(Sum { a, b }): Data<Sum>) {
    let _ = socket.emit("sum", &(a + b));
}

async fn count(ack: AckSender, State(counter): State<Counter>) {
    let n = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = ack.send(&n);
}

async fn numeric(socket: Socket, Event(event): Event, payload: Payload) {
    let _ = socket.emit(
        "numeric",
        &json!({ "event": &*event, "args": payload.values().unwrap_or_default() }),
    );
}

async fn disconnect_me(socket: Socket) {
    socket.disconnect();
}

/// Plain WebSocket raw text (`hello` → `HELLO!!!` as the raw reply) and binary frames
/// (echoed back as the event `message`, which a plain client gets inline as base64).
async fn message(socket: Socket, ack: AckSender, Bin(attachments): Bin, payload: Payload) {
    if !attachments.is_empty() {
        let _ = socket.emit_payload("message", &payload);
        return;
    }
    let reply = match payload.get::<Value>(0).unwrap_or(Value::Null) {
        Value::String(s) => Value::from(format!("{}!!!", s.to_uppercase())),
        other => other,
    };
    if ack.expected() {
        let _ = ack.send(&reply);
    } else {
        let _ = socket.emit("message", &reply);
    }
}

async fn unknown_event(socket: Socket, Event(event): Event, payload: Payload) {
    let _ = socket.emit(
        "unknown-event",
        &json!({ "event": &*event, "args": payload.values().unwrap_or_default() }),
    );
}

async fn whoami(socket: Socket, ack: AckSender) {
    let _ =
        ack.send(&json!({ "ns": socket.ns(), "id": socket.id().as_str(), "auth": socket.auth() }));
}

async fn require_secret(socket: Socket) -> Result<(), ConnectError> {
    if socket.auth().get("token").and_then(Value::as_str) == Some("secret") {
        Ok(())
    } else {
        Err(ConnectError::new("not authorized").with_data(json!({ "reason": "bad token" })))
    }
}

/// A duration in milliseconds from the environment variable `name`.
fn env_ms(name: &str) -> Option<Duration> {
    let ms = std::env::var(name).ok()?;
    Some(Duration::from_millis(ms.parse().unwrap_or_else(|_| {
        panic!("{name} must be a number of milliseconds, not {ms:?}")
    })))
}

/// A number from the environment variable `name`.
fn env_usize(name: &str) -> Option<usize> {
    let n = std::env::var(name).ok()?;
    Some(
        n.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {n:?}")),
    )
}

/// Connection state recovery as the environment asks (the recovery tests): off unless
/// `CONNECTION_STATE_RECOVERY=1`; the `RECOVERY_*` knobs change the defaults.
fn recovery_from_env() -> Option<realtime::config::Recovery> {
    if !std::env::var("CONNECTION_STATE_RECOVERY").is_ok_and(|v| v == "1") {
        return None;
    }
    let mut recovery = realtime::config::Recovery::default();
    if let Some(d) = env_ms("RECOVERY_MAX_DISCONNECTION_MS") {
        recovery.max_disconnection_duration = d;
    }
    if let Some(n) = env_usize("RECOVERY_MAX_PACKETS") {
        recovery.max_packets = n;
    }
    if let Some(n) = env_usize("RECOVERY_MAX_BYTES") {
        recovery.max_bytes = n;
    }
    if let Ok(v) = std::env::var("RECOVERY_SKIP_MIDDLEWARES") {
        recovery.skip_middlewares = v != "0";
    }
    Some(recovery)
}

fn client_bundle_path() -> PathBuf {
    match std::env::var_os("INTEROP_CLIENT_JS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/node/node_modules/socket.io-client/dist/socket.io.min.js"),
    }
}

async fn client_bundle() -> impl IntoResponse {
    let path = client_bundle_path();
    match tokio::fs::read(&path).await {
        Ok(bytes) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/javascript")], bytes).into_response(),
        Err(err) => (
            StatusCode::NOT_FOUND,
            format!("socket.io client bundle not found at {} ({err}); run `npm ci` in tests/interop/node", path.display()),
        )
            .into_response(),
    }
}

const PAGE: &str = include_str!("../tests/interop/browser/page.html");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init_with("warn");

    // socket.io-client 2.x too. The heartbeat tests run a copy with a short heartbeat.
    let mut config = Config::default().with_allow_eio3(true);
    if let Some(ms) = env_ms("PING_INTERVAL_MS") {
        config = config.with_ping_interval(ms);
    }
    if let Some(ms) = env_ms("PING_TIMEOUT_MS") {
        config = config.with_ping_timeout(ms);
    }
    // The recovery tests run a copy with connection state recovery on.
    if let Some(recovery) = recovery_from_env() {
        config = config.with_connection_state_recovery(recovery);
    }
    // The client bundle at /socket.io/socket.io.js (and .min.js, the maps) when installed.
    let bundle = client_bundle_path();
    if let Some(dist) = bundle.parent().filter(|d| d.join("socket.io.js").is_file()) {
        config = config.with_serve_client(dist);
    }

    let rt = Realtime::builder()
        .config(config)
        .cors(CorsLayer::very_permissive())
        .state(Counter::default())
        .state(Reasons::default())
        .namespace("/", |ns| {
            ns.on_connect(welcome)
                .on_disconnect(remember_reason)
                .on("echo", echo)
                .on("recovered", recovered)
                .on("ack-echo", ack_echo)
                .on("server-ack", server_ack)
                .on("server-ack-binary", server_ack_binary)
                .on("binary", binary)
                .on("binary-from-server", binary_from_server)
                .on("join", join)
                .on("leave", leave)
                .on("to-room", to_room)
                .on("typed", typed)
                .on("add", add)
                .on("sum", sum)
                .on("count", count)
                .on("1", numeric)
                .on("disconnect-me", disconnect_me)
                .on("set-data", set_data)
                .on("get-data", get_data)
                .on("disconnect-reason", disconnect_reason)
                .on("message", message)
                .fallback(unknown_event)
        })
        .namespace("/admin", |ns| {
            ns.middleware(require_secret)
                .on_connect(welcome)
                .on_disconnect(remember_reason)
                .on("whoami", whoami)
                .on("join", join)
                .on("to-room", to_room)
                .on("recovered", recovered)
        })
        .namespace("/custom", |ns| ns.on_connect(welcome).on("echo", echo))
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("valid server");

    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/socket.io.min.js", get(client_bundle))
        .merge(rt.router());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3001".into());
    let listener = realtime::Realtime::bind(format!("127.0.0.1:{port}")).await?;
    println!("interop server listening on http://127.0.0.1:{port}");
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
