//! A chat server: the seeds' chat room with enter/leave notices, an online-user list, group
//! (room) chat and private messages, sharing one port with an ordinary HTTP page.
//!
//! ```sh
//! cargo run --example chat            # then open http://localhost:3000
//! ```
//!
//! Two copies on two ports with `REDIS_URL` set are one chat: one online list, one
//! conversation, private messages between users of different copies.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3000 cargo run --example chat
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo run --example chat
//! ```
//!
//! The page talks to the plain WebSocket endpoint (`/ws`, JSON frames, no client library);
//! Socket.IO clients (`io("http://localhost:3000")`) join the same chat through the same
//! handlers and see the same messages.

use std::sync::Arc;

use axum::{response::Html, routing::get, Router};
use realtime::{AckSender, Data, FetchedSocket, Namespace, Realtime, Socket};
use serde::{Deserialize, Serialize};

/// What every node knows of a logged-in socket (socket.io's `socket.data`): `fetch_sockets`
/// gathers it from every node, so the online list is the cluster's, not this process's.
#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
}

/// The logged-in sockets of every node. If the cluster cannot answer (Redis away), this
/// node's own, rather than nothing.
async fn online(ns: &Arc<Namespace>) -> Vec<FetchedSocket> {
    let sockets = match ns.fetch_sockets().await {
        Ok(sockets) => sockets,
        Err(err) => {
            tracing::warn!(%err, "online list of this node only");
            ns.local().fetch_sockets().await.unwrap_or_default()
        }
    };
    sockets
        .into_iter()
        .filter(|s| s.data::<Profile>().is_ok())
        .collect()
}

/// The nicknames online, sorted.
async fn online_names(ns: &Arc<Namespace>) -> Vec<String> {
    let mut names: Vec<String> = online(ns)
        .await
        .iter()
        .filter_map(|s| s.data::<Profile>().ok().map(|p| p.name))
        .collect();
    names.sort();
    names
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

#[derive(Deserialize)]
struct Say {
    text: String,
    /// A room to speak in; the whole lobby when absent.
    room: Option<String>,
}

#[derive(Deserialize)]
struct Whisper {
    to: String,
    text: String,
}

#[derive(Serialize)]
struct Line<'a> {
    from: &'a str,
    text: &'a str,
    room: Option<&'a str>,
}

async fn login(socket: Socket, ack: AckSender, Data(login): Data<Login>) {
    let name = login.name.trim().to_owned();
    let ns = socket.namespace();
    // Two people picking one name on two nodes at the same instant can both get it: the
    // check is a read of the cluster, not a lock.
    let taken = online_names(ns).await.contains(&name);
    if name.is_empty() || taken || socket.data::<Profile>().is_some() {
        let _ = ack.send(&serde_json::json!({ "ok": false, "error": "name empty or taken" }));
        return;
    }
    let _ = socket.set_data(&Profile { name: name.clone() });
    let names = online_names(ns).await;
    let _ = ack.send(&serde_json::json!({ "ok": true, "online": names }));
    // "xxx entered the room" for everyone else, and a fresh online list for all.
    let _ = socket.broadcast().emit("enter", &name);
    let _ = ns.emit("online", &names);
}

async fn say(socket: Socket, Data(say): Data<Say>) {
    let Some(Profile { name: from }) = socket.data::<Profile>() else {
        let _ = socket.emit("error", "log in first");
        return;
    };
    let line = Line {
        from: &from,
        text: &say.text,
        room: say.room.as_deref(),
    };
    let _ = match &say.room {
        Some(room) => socket.within(room.as_str()).emit("chat", &line),
        None => socket.namespace().emit("chat", &line),
    };
}

async fn whisper(socket: Socket, ack: AckSender, Data(w): Data<Whisper>) {
    let Some(Profile { name: from }) = socket.data::<Profile>() else {
        return;
    };
    let online = online(socket.namespace()).await;
    let target = online
        .iter()
        .find(|s| s.data::<Profile>().is_ok_and(|p| p.name == w.to));
    let line = Line {
        from: &from,
        text: &w.text,
        room: None,
    };
    // The recipient may be connected to another node: emitting to a fetched socket reaches it.
    let sent = target.is_some_and(|t| t.emit("private", &line).is_ok());
    let _ = ack.send(&sent);
}

async fn join(socket: Socket, Data(room): Data<String>) {
    socket.join(room.as_str());
    if let Some(Profile { name }) = socket.data::<Profile>() {
        let _ = socket
            .to(room.as_str())
            .emit("joined", &serde_json::json!({ "room": room, "name": name }));
    }
}

async fn leave(socket: Socket, Data(room): Data<String>) {
    socket.leave(room.as_str());
}

async fn disconnected(socket: Socket) {
    // The socket has already left the namespace: the list no longer has it.
    if let Some(Profile { name }) = socket.data::<Profile>() {
        let ns = socket.namespace();
        let _ = ns.emit("leave", &name);
        let _ = ns.emit("online", &online_names(ns).await);
    }
}

/// The socket.io client bundle to serve at `/socket.io/socket.io.js`: the directory
/// `SOCKET_IO_CLIENT_DIST` names, else the one the interop tests install (after `npm ci` in
/// `tests/interop/node`), else none (those paths are then 404).
fn client_dist() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("SOCKET_IO_CLIENT_DIST") {
        return Some(dir.into());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/node/node_modules/socket.io-client/dist");
    dir.join("socket.io.js").is_file().then_some(dir)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let mut builder = Realtime::builder()
        // socket.io-client 2.x pages (the seeds') connect too.
        .allow_eio3(true)
        .on("login", login)
        .on("say", say)
        .on("whisper", whisper)
        .on("join", join)
        .on("leave", leave)
        .on_disconnect(disconnected)
        // With REDIS_URL set, copies of this server on other ports form one chat.
        .adapter_from_env()
        .map_err(std::io::Error::other)?;
    if let Some(dist) = client_dist() {
        // Pages can load the client from us: <script src="/socket.io/socket.io.js">.
        builder = builder.serve_client(dist);
    }
    let rt = builder.build().expect("one handler per event");

    // Realtime and ordinary HTTP routes on one port, like the seeds' express/koa setups.
    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .merge(rt.router());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    println!("chat on http://localhost:{port}  (plain WebSocket at /ws, Socket.IO at /socket.io/)");
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
