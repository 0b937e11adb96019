//! weroll's `Realtime` module, as its guide describes it, in Rust: the config block, every
//! lifecycle event logged, the `$init` handshake with sessions (and guests), the compact
//! `"m"` message form, and `socket.helper`'s room, broadcast and `sendTo` helpers.
//!
//! ```sh
//! cargo run --example weroll     # then open http://localhost:3001 (in two windows: log in as
//!                                # the same user in both, and a message sent to that user
//!                                # reaches both devices)
//! ```
//!
//! weroll's config, from the environment:
//!
//! | weroll | variable | default |
//! |---|---|---|
//! | `port` | `PORT` | `3001` |
//! | `debug` | `DEBUG` | `true`: the lifecycle log below at `info` |
//! | `allowGuest` | `ALLOW_GUEST` | `true` (a client whose `$init` fails, or has no session, is a guest) |
//! | `shakehand` | `SHAKEHAND` | `true`: every event waits for `$init`, which verifies the session (the guide's sample says `false`: then no session is verified, every client's clientID is its socket id, and the server pushes `$init` on connect) |
//! | `shakehandTimeout` | `SHAKEHAND_TIMEOUT_MS` | `15000` |
//! | `cluster: {enable, redis}` | `REDIS_URL` | unset; set, the server joins the cluster and keeps sessions in Redis in weroll's own layout (`user_sess_<userid>_<token>`) |
//!
//! The page logs in over HTTP (`POST /login {"userid"}` → `{userid, token, tokentimestamp}`,
//! weroll's `Session`), connects with the socket.io client, and sends `$init` with `_sess`.
//!
//! Events (all also reachable in the compact form `socket.emit("m", [event, data])`):
//!
//! | event | what the server does (weroll's `socket.helper`) |
//! |---|---|
//! | `hello` `data` | the guide's first example: answers `bye` `{"msg": "game over"}` (a listener the `shakeHandSuccess` handler adds to the socket) |
//! | `enterRoom` / `leaveRoom` `room` | `enterRoom(room)` / `leaveRoom(room)`, acked with the socket's rooms |
//! | `toRoom` `{room, text, withoutSender?}` | `broadcastToRoom` / `broadcastToRoomWithoutSender`: `said` `{from, text, room}` |
//! | `toAll` `{text, withoutSender?}` | `broadcast` / `broadcastWithoutSender`: `said` `{from, text}` |
//! | `sendTo` `{clientID, text}` | `sendTo(clientID, "said", ...)`: every connection of that client, on any node |

#[path = "../shared/socket_io_client.rs"]
mod socket_io_client;

use std::{sync::Arc, time::Duration};

use realtime::{
    axum::{
        body::Bytes,
        extract::State as AxumState,
        http::{header, StatusCode},
        response::{Html, IntoResponse, Response},
        routing::{get, post},
        Router,
    },
    event, on_connect, on_disconnect, on_shakehand_complete, on_shakehand_fail, on_shakehand_start,
    on_shakehand_success, on_start,
    session::{MemorySessionStore, Session, SessionStore},
    AckSender, Data, Realtime, RedisSessionStore, ShakehandConfig, Socket, WerollFormat,
};
use serde::Deserialize;
use serde_json::{json, Value};
use socket_io_client::SocketIoClient;

// --- Lifecycle: weroll's Realtime.on("start" | "connection" | "disconnect" | "shakeHand*") ---

#[on_start]
async fn start(_rt: Realtime) {
    tracing::info!("start");
}

#[on_connect]
async fn connection(socket: Socket) {
    tracing::info!(socket = %socket.id(), "connection");
}

#[on_disconnect]
async fn disconnect(socket: Socket, Data(reason): Data<String>) {
    tracing::info!(socket = %socket.id(), client = %socket.client_id(), %reason, "disconnect");
}

#[on_shakehand_start]
async fn shakehand_start(socket: Socket) {
    tracing::info!(socket = %socket.id(), "shakeHandStart");
}

#[on_shakehand_complete]
async fn shakehand_complete(socket: Socket, Data(result): Data<bool>) {
    tracing::info!(socket = %socket.id(), result, "shakeHandComplete");
}

/// The guide's first example: once the handshake succeeded, the socket listens to `hello`.
/// (Fires without `shakehand` too, as weroll's does.)
#[on_shakehand_success]
async fn shakehand_success(socket: Socket) {
    tracing::info!(socket = %socket.id(), client = %socket.client_id(), "shakeHandSuccess");
    let _ = socket.on(
        "hello",
        |socket: Socket, Data(data): Data<Value>| async move {
            tracing::info!(?data, "receive \"hello\" message from client");
            let _ = socket.emit("bye", &json!({ "msg": "game over" }));
        },
    );
}

#[on_shakehand_fail]
async fn shakehand_fail(socket: Socket, Data(reason): Data<String>) {
    tracing::info!(socket = %socket.id(), %reason, "shakeHandFail");
}

// --- socket.helper ---

/// Who said it: the client id (the user id after a `$init` with a session, else the
/// socket id: a guest).
fn from(socket: &Socket) -> String {
    socket.client_id().to_string()
}

#[event("enterRoom")]
async fn enter_room(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.enter_room(room.as_str()).await;
    let _ = ack.send(&socket.rooms());
}

#[event("leaveRoom")]
async fn leave_room(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.leave_room(room.as_str()).await;
    let _ = ack.send(&socket.rooms());
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToRoom {
    room: String,
    text: String,
    #[serde(default)]
    without_sender: bool,
}

#[event("toRoom")]
async fn to_room(socket: Socket, Data(m): Data<ToRoom>) {
    let line = json!({ "from": from(&socket), "text": m.text, "room": m.room });
    let _ = if m.without_sender {
        socket.to(m.room.as_str()).emit("said", &line) // broadcastToRoomWithoutSender
    } else {
        socket.within(m.room.as_str()).emit("said", &line) // broadcastToRoom
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToAll {
    text: String,
    #[serde(default)]
    without_sender: bool,
}

#[event("toAll")]
async fn to_all(socket: Socket, Data(m): Data<ToAll>) {
    let line = json!({ "from": from(&socket), "text": m.text });
    let _ = if m.without_sender {
        socket.broadcast().emit("said", &line) // broadcastWithoutSender
    } else {
        socket.namespace().emit("said", &line) // broadcast
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendTo {
    #[serde(rename = "clientID")]
    client_id: String,
    text: String,
}

/// `sendTo(clientID, event, data)`: a user on three devices gets it three times.
#[event("sendTo")]
async fn send_to(socket: Socket, Data(m): Data<SendTo>) {
    let line = json!({ "from": from(&socket), "text": m.text, "to": m.client_id });
    let _ = socket.send_to(&m.client_id, "said", &line);
}

// --- HTTP: the page, and weroll's login creating a Session ---

#[derive(Clone)]
struct Web {
    store: Arc<dyn SessionStore>,
    page: Arc<str>,
}

#[derive(Deserialize)]
struct Login {
    userid: Value,
}

async fn login(AxumState(web): AxumState<Web>, body: Bytes) -> Response {
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected {\"userid\": \"...\"}").into_response();
    };
    let userid = match login.userid {
        Value::String(s) if !s.is_empty() && s.len() <= 64 && !s.starts_with('$') => s,
        Value::Number(n) => n.to_string(),
        _ => return (StatusCode::BAD_REQUEST, "expected {\"userid\": \"...\"}").into_response(),
    };
    let session = Session {
        userid,
        token: format!("{:032x}", rand_u128()),
        tokentimestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default(),
        data: json!({}),
    };
    if let Err(err) = web.store.save(&session, Duration::from_secs(3600)).await {
        tracing::error!(%err, "could not save a session");
        return (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable").into_response();
    }
    let body = json!({
        "userid": session.userid,
        "token": session.token,
        "tokentimestamp": session.tokentimestamp,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A random token (the standard library's randomly seeded hasher: no extra dependency).
fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut out = 0u128;
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(out);
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

fn env_flag(name: &str, default: bool) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let debug = env_flag("DEBUG", true);
    realtime::logging::init_with(if debug { "info" } else { "warn" });
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let timeout = std::env::var("SHAKEHAND_TIMEOUT_MS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(15_000);

    // cluster: {enable, redis}: the adapter, and weroll's sessions in Redis.
    let redis_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    let store: Arc<dyn SessionStore> = match &redis_url {
        Some(url) => Arc::new(
            RedisSessionStore::connect_weroll(url, WerollFormat::new(""))
                .await
                .map_err(std::io::Error::other)?,
        ),
        None => Arc::new(MemorySessionStore::new()),
    };
    let shakehand = ShakehandConfig::with_store(store.clone())
        .allow_guest(env_flag("ALLOW_GUEST", true))
        .required(env_flag("SHAKEHAND", true))
        .timeout(Duration::from_millis(timeout));
    let rt = Realtime::builder()
        // The 2.x client weroll's pages loaded connects too.
        .allow_eio3(true)
        .shakehand(shakehand)
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("every event has one handler");

    let client = SocketIoClient::locate();
    let web = Web {
        store,
        page: client.page(include_str!("index.html")).into(),
    };
    let app = client
        .serve(
            Router::new()
                .route(
                    "/",
                    get(|AxumState(web): AxumState<Web>| async move { Html(web.page.to_string()) }),
                )
                .route("/login", post(login)),
        )
        .with_state(web)
        .merge(rt.router());
    let listener = realtime::Realtime::bind(("0.0.0.0", port)).await?;
    tracing::info!(port, "weroll example on http://localhost:{port}");
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
