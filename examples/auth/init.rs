//! The weroll server's `/` (Socket.IO at `/socket.io/`, plain WebSocket at `/ws`): weroll's
//! `$init` handshake. Its handlers register themselves with the attribute macros.
//!
//! A client connects, then proves its session from `POST /login` within the shakehand
//! timeout:
//!
//! ```js
//! const socket = io("http://127.0.0.1:3000");
//! socket.on("connect", () => socket.emit("$init", { _sess: { userid, token, tokentimestamp } }));
//! socket.on("$init", ({ clientID, socketID, time }) => { /* clientID === userid: done */ });
//! socket.on("$error", ({ event, error }) => { /* why something was refused */ });
//! ```
//!
//! A plain WebSocket client sends the same as JSON frames: `["$init", {"_sess": {...}}]`.
//!
//! - Every event before `$init` is refused with `handshake required: emit $init first`
//!   and reaches no handler. Events sent right behind `$init` wait for it and run, in
//!   order, once it succeeds (they are refused if it fails).
//! - Without guests (`ALLOW_GUEST` unset), a bad, forged (another user's id with your token)
//!   or expired session: `$error` `{"event": "$init", "error": "invalid or expired
//!   session"}`, then the server disconnects. The same without `_sess`, and with `handshake
//!   timed out` when no `$init` came in time (`SHAKEHAND_TIMEOUT_MS`).
//! - With guests (`ALLOW_GUEST=1`, and always on `/lobby`), as in weroll: any `$init` that
//!   fails makes the client a guest, whose client id is its socket id. With
//!   `STRICT_SESSIONS=1` only a `$init` without `_sess` does; a bad session is refused.
//! - Success: the server answers `$init` with weroll's `{"clientID", "socketID", "time"}`.
//!   The client id becomes the user id (a numeric `userid` is its decimal string), so
//!   `send_to(userid)` (see `dm`) reaches every connection of that user, on every device it
//!   logged in on; a guest keeps its socket id.
//!
//! The four lifecycle handlers below tell the client their name as the event `lifecycle`
//! (`{"event": "shakeHandStart"}`, ...), so it can watch the documented order:
//! `shakeHandStart` → `shakeHandComplete` (`data`: true or false) → `shakeHandSuccess` or
//! `shakeHandFail` (`data`: the reason). A timed-out client sees only `shakeHandFail`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

/// This module's path: the weroll server takes the handlers registered here, and only those.
pub const MODULE: &str = module_path!();

use realtime::{
    event, on_connect, on_shakehand_complete, on_shakehand_fail, on_shakehand_start,
    on_shakehand_success, Data, Extension, Session, Socket, State,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::stats::Stats;

/// Counts the handler run and tells the client, as `["lifecycle", {"event", "data"}]`.
fn record(socket: &Socket, stats: &Stats, event: &str, data: Value) {
    stats.hit(format!("/ {event}"));
    let _ = socket.emit("lifecycle", &json!({ "event": event, "data": data }));
}

/// Runs as the socket joins `/`, before its handshake.
#[on_connect]
async fn connected(State(stats): State<Stats>) {
    stats.hit("/ connection");
}

/// `$init` arrived. (Its payload, `Data<Value>`, holds the credentials: never echo it.)
#[on_shakehand_start]
async fn shakehand_start(socket: Socket, State(stats): State<Stats>) {
    record(&socket, &stats, "shakeHandStart", Value::Null);
}

/// The session was checked: `Data<bool>` says whether it passed.
#[on_shakehand_complete]
async fn shakehand_complete(socket: Socket, State(stats): State<Stats>, Data(ok): Data<bool>) {
    record(&socket, &stats, "shakeHandComplete", Value::Bool(ok));
}

/// The client may now send events; its client id is its user id (or, for a guest, its socket
/// id).
#[on_shakehand_success]
async fn shakehand_success(socket: Socket, State(stats): State<Stats>) {
    let client_id = socket.client_id();
    record(&socket, &stats, "shakeHandSuccess", json!(&*client_id));
}

/// The handshake failed or timed out; `Data<String>` is the reason. The server disconnects
/// the client right after this.
#[on_shakehand_fail]
async fn shakehand_fail(socket: Socket, State(stats): State<Stats>, Data(reason): Data<String>) {
    record(&socket, &stats, "shakeHandFail", Value::String(reason));
}

/// Who this connection is: the session `$init` verified (`Option<Extension<Session>>`: a
/// guest has none), and the client id `send_to` reaches it by.
#[event("whoami")]
async fn whoami(
    socket: Socket,
    State(stats): State<Stats>,
    session: Option<Extension<Session>>,
) -> Value {
    stats.hit("/ whoami");
    let userid = session.map(|Extension(s)| s.userid);
    json!({
        "clientID": &*socket.client_id(),
        "socketID": socket.id().as_str(),
        "guest": userid.is_none(),
        "userid": userid,
    })
}

/// `whoami` in `/lobby`, registered by hand in `main` with the lobby's own handshake
/// settings (guests always welcome).
pub async fn lobby_whoami(socket: Socket, session: Option<Extension<Session>>) -> Value {
    let userid = session.map(|Extension(s)| s.userid);
    json!({
        "ns": socket.ns(),
        "clientID": &*socket.client_id(),
        "socketID": socket.id().as_str(),
        "guest": userid.is_none(),
        "userid": userid,
    })
}

/// How many times `bump` ran on this connection.
#[derive(Debug, Clone, Default)]
struct Bumps(Arc<AtomicU64>);

/// Answers how many times this handler ran for this connection: an event refused before
/// `$init` did not count.
#[event("bump")]
async fn bump(socket: Socket, State(stats): State<Stats>) -> u64 {
    stats.hit("/ bump");
    let bumps = socket.extension::<Bumps>().unwrap_or_else(|| {
        let bumps = Bumps::default();
        socket.insert_extension(bumps.clone());
        bumps
    });
    bumps.0.fetch_add(1, Ordering::Relaxed) + 1
}

#[derive(Deserialize)]
struct Direct {
    to: String,
    text: String,
}

/// A direct message to every connection of the user `to` (weroll's `sendTo(clientID)`),
/// whatever protocol each one speaks. The `Session` extractor lets only users with a session
/// send one: a guest gets `no session: ...`.
#[event("dm")]
async fn dm(
    socket: Socket,
    State(stats): State<Stats>,
    session: Session,
    Data(dm): Data<Direct>,
) -> Result<Value, String> {
    stats.hit("/ dm");
    let message = json!({ "from": session.userid, "text": dm.text });
    socket
        .send_to(&dm.to, "dm", &message)
        .map_err(|e| e.to_string())?;
    Ok(json!({ "sent": true }))
}
