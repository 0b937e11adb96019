//! A chat server: the seeds' chat room with enter/leave notices, an online-user list, group
//! (room) chat and private messages, sharing one port with an ordinary HTTP page.
//!
//! ```sh
//! cargo run --example chat            # then open http://localhost:3000
//! ```
//!
//! The page talks to the plain WebSocket endpoint (`/ws`, JSON frames, no client library);
//! Socket.IO clients (`io("http://localhost:3000")`) join the same chat through the same
//! handlers and see the same messages.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{response::Html, routing::get, Router};
use realtime::{AckSender, Data, Realtime, Socket, SocketId, State};
use serde::{Deserialize, Serialize};

/// Who is online: socket id → nickname.
#[derive(Clone, Default)]
struct Online(Arc<Mutex<HashMap<SocketId, String>>>);

impl Online {
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.lock().unwrap().values().cloned().collect();
        names.sort();
        names
    }

    fn find(&self, name: &str) -> Option<SocketId> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }
}

/// The nickname a socket logged in with, kept on the socket.
#[derive(Clone)]
struct Nick(String);

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

async fn login(
    socket: Socket,
    State(online): State<Online>,
    ack: AckSender,
    Data(login): Data<Login>,
) {
    let name = login.name.trim().to_owned();
    if name.is_empty() || online.find(&name).is_some() {
        let _ = ack.send(&serde_json::json!({ "ok": false, "error": "name empty or taken" }));
        return;
    }
    socket.insert_extension(Nick(name.clone()));
    online.0.lock().unwrap().insert(socket.id(), name.clone());
    let _ = ack.send(&serde_json::json!({ "ok": true, "online": online.names() }));
    // "xxx entered the room" for everyone else, and a fresh online list for all.
    let _ = socket.broadcast().emit("enter", &name);
    let _ = socket.namespace().emit("online", &online.names());
}

async fn say(socket: Socket, Data(say): Data<Say>) {
    let Some(Nick(from)) = socket.extension::<Nick>() else {
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

async fn whisper(
    socket: Socket,
    State(online): State<Online>,
    ack: AckSender,
    Data(w): Data<Whisper>,
) {
    let Some(Nick(from)) = socket.extension::<Nick>() else {
        return;
    };
    match online.find(&w.to) {
        Some(id) => {
            let _ = socket.within(id).emit(
                "private",
                &Line {
                    from: &from,
                    text: &w.text,
                    room: None,
                },
            );
            let _ = ack.send(&true);
        }
        None => {
            let _ = ack.send(&false);
        }
    }
}

async fn join(socket: Socket, Data(room): Data<String>) {
    socket.join(room.as_str());
    if let Some(Nick(name)) = socket.extension::<Nick>() {
        let _ = socket
            .to(room.as_str())
            .emit("joined", &serde_json::json!({ "room": room, "name": name }));
    }
}

async fn leave(socket: Socket, Data(room): Data<String>) {
    socket.leave(room.as_str());
}

async fn disconnected(socket: Socket, State(online): State<Online>) {
    let name = online.0.lock().unwrap().remove(&socket.id());
    if let Some(name) = name {
        let _ = socket.namespace().emit("leave", &name);
        let _ = socket.namespace().emit("online", &online.names());
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let rt = Realtime::builder()
        .state(Online::default())
        .on("login", login)
        .on("say", say)
        .on("whisper", whisper)
        .on("join", join)
        .on("leave", leave)
        .on_disconnect(disconnected)
        .build()
        .expect("one handler per event");

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
