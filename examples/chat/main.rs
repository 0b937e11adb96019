//! The seeds' chat room: log in for a JSON Web Token, connect with it in the query string,
//! and chat — enter/leave notices, the online-user list, group messages, private messages,
//! and rooms (channels) to join and leave. Two pages share one conversation: one uses the
//! Socket.IO client, the other a bare `WebSocket` on the plain endpoint, as a WeChat
//! mini-program would (the seeds' warning: such clients cannot speak Socket.IO).
//!
//! ```sh
//! cargo run --example chat
//! # then open, in two windows (or two tabs: each tab logs in on its own):
//! #   http://localhost:3000/            the Socket.IO page   (index.html)
//! #   http://localhost:3000/plain.html  the plain WebSocket page (plain.html)
//! ```
//!
//! How a user gets in (the seed's `socket.handshake.query.token` + `JWT.verify`):
//!
//! 1. `POST /login {"name": "ann"}` answers `{"token": "..."}`: an HS256 JWT whose `sub` is
//!    the nickname (12 hours; see [`http`]). A name someone is online with is refused (409).
//! 2. The page connects with the token in the query string: `io("/?token=...")`, or
//!    `new WebSocket("ws://host/ws?token=...")`. The ready-made [`Jwt`] middleware checks it
//!    before the connection reaches any handler; a missing, forged or expired token is
//!    refused with the reason (`connect_error` `err.message` for Socket.IO, the frame
//!    `["$error", {"message"}]` and close 1008 for the plain WebSocket), which the page
//!    shows. Handlers read the nickname from the verified claims (`User<Claims>`).
//!
//! The events, the same for both kinds of client:
//!
//! | client → server | what happens |
//! |---|---|
//! | (connect) | `welcome` `{name, online}` to the newcomer; `enter` name to everyone else; `online` [names] to all |
//! | `say` `{text, room?}` | `chat` `{from, text, room}` to everyone, or to the room's members (the sender must be one) |
//! | a raw text frame on `/ws` (a mini-program's bare `send("hi")`), or `socket.send("hi")` | a group message: `chat` `{from, text, room: null}` to everyone |
//! | `whisper` `{to, text}` | `private` `{from, to, text}` to every connection of user `to`; acks whether `to` is online |
//! | `join` room / `leave` room | `joined` / `left` `{room, name}` to the room's other members; acks `{rooms}` or `{error}` |
//! | `online` | acks the online list (the seed's `GroupList` request) |
//! | (disconnect) | once a user's last connection is gone: `leave` name and `online` [names] to all |
//!
//! Any of them may also travel in weroll's compact form, `socket.emit("m", ["say", {...}])`
//! (plain: `["m", ["say", {...}]]`); the Socket.IO page sends its fire-and-forget events so.
//!
//! Settings, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PORT` | `3000` | the HTTP port: pages, `/login`, `/socket.io/`, `/ws` |
//! | `JWT_SECRET` | a development secret (logged as a warning) | the HS256 key tokens are signed and checked with |
//! | `REDIS_URL` | unset: one process | join the cluster on this Redis: copies on other ports are one chat |
//! | `SOCKET_IO_CLIENT_DIST` | `tests/interop/node/node_modules/socket.io-client/dist` | where `socket.io.min.js` is; when it is absent the page loads it from the official CDN |
//!
//! Two copies on two ports with `REDIS_URL` set are one chat: one online list, one
//! conversation, private messages and rooms across copies (a token from one copy opens the
//! other, given the same `JWT_SECRET`):
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3000 cargo run --example chat
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo run --example chat
//! ```

mod http;

use std::sync::Arc;

use realtime::{
    auth::{Jwt, TokenSource, User},
    AckSender, Data, FetchedSocket, Namespace, Realtime, Socket,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a token says about its holder. `exp` is required and checked by the middleware.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The nickname.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// What every node knows of a connected user (socket.io's `socket.data`): `fetch_sockets`
/// gathers it from every node, so the online list is the cluster's, not this process's.
#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
}

/// The chat's connections on every node. If the cluster cannot answer (Redis away), this
/// node's own, rather than nothing.
async fn online(ns: &Arc<Namespace>) -> Vec<FetchedSocket> {
    match ns.fetch_sockets().await {
        Ok(sockets) => sockets,
        Err(err) => {
            tracing::warn!(%err, "online list of this node only");
            ns.local().fetch_sockets().await.unwrap_or_default()
        }
    }
}

/// The nicknames online, sorted, each once (a user may have several tabs open).
fn names(sockets: &[FetchedSocket]) -> Vec<String> {
    let mut names: Vec<String> = sockets
        .iter()
        .filter_map(|s| s.data::<Profile>().ok().map(|p| p.name))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// How many connections `name` has.
fn connections_of(sockets: &[FetchedSocket], name: &str) -> usize {
    sockets
        .iter()
        .filter(|s| s.data::<Profile>().is_ok_and(|p| p.name == name))
        .count()
}

/// The nicknames online (for `POST /login` and the `online` request).
pub async fn online_names(ns: &Arc<Namespace>) -> Vec<String> {
    names(&online(ns).await)
}

/// Whether `name` may be a nickname or a room name: 1 to 16 characters, no control
/// characters or spaces at either end, not starting with `$`. The `$` keeps users out of
/// the framework's own rooms (`$client:<name>` carries private messages), and 16 is shorter
/// than a socket id (20), so no room can be named like someone's socket.
pub fn valid_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=16).contains(&len)
        && name.trim() == name
        && !name.starts_with('$')
        && !name.chars().any(char::is_control)
}

/// A connection whose token the middleware accepted.
async fn entered(socket: Socket, User(me): User<Claims>) {
    let name = me.sub;
    let _ = socket.set_data(&Profile { name: name.clone() });
    // weroll's clientID: `send_to(name)` now reaches every connection of this user, on any
    // node (this is how private messages travel).
    socket.set_client_id(name.as_str());

    let ns = socket.namespace();
    let sockets = online(ns).await;
    let names = names(&sockets);
    let _ = socket.emit("welcome", &json!({ "name": name, "online": names }));
    // "xxx entered" once per user, not once per tab. Two tabs opening at the same instant
    // may both announce it: the count is a read of the cluster, not a lock.
    if connections_of(&sockets, &name) <= 1 {
        let _ = socket.broadcast().emit("enter", &name);
    }
    let _ = ns.emit("online", &names);
}

async fn disconnected(socket: Socket) {
    // The socket has already left the namespace: the list no longer has it.
    let Some(Profile { name }) = socket.data::<Profile>() else {
        return;
    };
    let ns = socket.namespace();
    let sockets = online(ns).await;
    if connections_of(&sockets, &name) == 0 {
        let _ = ns.emit("leave", &name);
    }
    let _ = ns.emit("online", &names(&sockets));
}

#[derive(Deserialize)]
struct Say {
    text: String,
    /// A room to speak in; everyone when absent.
    room: Option<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    from: &'a str,
    text: &'a str,
    room: Option<&'a str>,
}

/// Group chat: everyone (the seed's `io.sockets.emit`), or one room (`io.to(room).emit`).
async fn say(socket: Socket, User(me): User<Claims>, Data(say): Data<Say>) {
    if say.text.trim().is_empty() {
        return;
    }
    let line = Line {
        from: &me.sub,
        text: &say.text,
        room: say.room.as_deref(),
    };
    let _ = match &say.room {
        None => socket.namespace().emit("chat", &line),
        Some(room) if in_room(&socket, room) => socket.within(room.as_str()).emit("chat", &line),
        Some(room) => socket.emit("notice", &format!("join #{room} to speak in it")),
    };
}

/// A raw text frame on the plain endpoint (the last seed's mini-program client sends bare
/// text), or Socket.IO's `socket.send(text)`: a group message. Returns nothing, so a raw
/// frame gets no raw reply; everyone (the sender too) gets the `chat` event.
async fn raw_text(socket: Socket, User(me): User<Claims>, Data(text): Data<String>) {
    if text.trim().is_empty() {
        return;
    }
    let line = Line {
        from: &me.sub,
        text: &text,
        room: None,
    };
    let _ = socket.namespace().emit("chat", &line);
}

#[derive(Deserialize)]
struct Whisper {
    to: String,
    text: String,
}

/// Private chat: only `to`'s connections receive it. Acks whether `to` is online.
async fn whisper(socket: Socket, User(me): User<Claims>, Data(w): Data<Whisper>) -> bool {
    let online = online_names(socket.namespace()).await;
    if w.text.trim().is_empty() || !online.contains(&w.to) {
        return false;
    }
    let line = json!({ "from": me.sub, "to": w.to, "text": w.text });
    socket.send_to(&w.to, "private", &line).is_ok()
}

fn in_room(socket: &Socket, room: &str) -> bool {
    socket.rooms().iter().any(|r| &**r == room)
}

/// The chat rooms this socket is in (not the framework's own `$client:` room).
fn my_rooms(socket: &Socket) -> Vec<String> {
    let mut rooms: Vec<String> = socket
        .rooms()
        .iter()
        .filter(|r| !r.starts_with('$'))
        .map(|r| r.to_string())
        .collect();
    rooms.sort();
    rooms
}

async fn join(socket: Socket, ack: AckSender, User(me): User<Claims>, Data(room): Data<String>) {
    if !valid_name(&room) {
        let _ =
            ack.send(&json!({ "error": "a room name is 1 to 16 characters, not starting with $" }));
        return;
    }
    if !in_room(&socket, &room) {
        socket.join(room.as_str());
        let notice = json!({ "room": room, "name": me.sub });
        let _ = socket.to(room.as_str()).emit("joined", &notice);
    }
    let _ = ack.send(&json!({ "rooms": my_rooms(&socket) }));
}

async fn leave(socket: Socket, ack: AckSender, User(me): User<Claims>, Data(room): Data<String>) {
    if valid_name(&room) && in_room(&socket, &room) {
        socket.leave(room.as_str());
        let notice = json!({ "room": room, "name": me.sub });
        let _ = socket.to(room.as_str()).emit("left", &notice);
    }
    let _ = ack.send(&json!({ "rooms": my_rooms(&socket) }));
}

/// The seed's `GroupList` request: who is online.
async fn who(socket: Socket) -> Vec<String> {
    online_names(socket.namespace()).await
}

/// The socket.io client bundle to serve at `/socket.io/socket.io.js`: the directory of
/// [`http::socket_io_client_dist`] (or the directory of the file it names); none when that
/// directory has no `socket.io.js` (those paths are then 404, and the page's bundle comes
/// from the CDN).
fn client_dist() -> Option<std::path::PathBuf> {
    let path = http::socket_io_client_dist();
    let dir = if path.is_file() {
        path.parent()?.to_path_buf()
    } else {
        path
    };
    dir.join("socket.io.js").is_file().then_some(dir)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let secret = std::env::var("JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            tracing::warn!("JWT_SECRET is not set: using the development secret, which anyone can read in examples/chat/http.rs");
            http::DEV_JWT_SECRET.to_owned()
        });

    let mut builder = Realtime::builder()
        // socket.io-client 2.x pages (the seeds') connect too.
        .allow_eio3(true)
        // A Socket.IO page that drops (a phone changing networks) and comes back within 2
        // minutes gets the messages it missed, with its rooms (`socket.recovered()`).
        .connection_state_recovery(realtime::config::Recovery::default())
        // Every connection, Socket.IO or plain, shows a token in its query string first.
        .middleware(
            Jwt::hs256(secret.as_bytes())
                .from(TokenSource::Query("token"))
                .middleware::<Claims>(),
        )
        .on_connect(entered)
        .on_disconnect(disconnected)
        .on("say", say)
        .on("message", raw_text)
        .on("whisper", whisper)
        .on("join", join)
        .on("leave", leave)
        .on("online", who)
        // With REDIS_URL set, copies of this server on other ports form one chat.
        .adapter_from_env()
        .map_err(std::io::Error::other)?;
    if let Some(dist) = client_dist() {
        // Pages can load the client from us: <script src="/socket.io/socket.io.js">.
        builder = builder.serve_client(dist);
    }
    let rt = builder.build().expect("one handler per event");

    let ns = rt.of("/").expect("the main namespace always exists");
    // Realtime and ordinary HTTP routes on one port, like the seeds' express/koa setups.
    let app = http::routes(http::App::new(secret.as_bytes(), ns)).merge(rt.router());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = realtime::Realtime::bind(format!("0.0.0.0:{port}")).await?;
    println!(
        "chat on http://localhost:{port}/ (Socket.IO page) and http://localhost:{port}/plain.html (plain WebSocket page)"
    );
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
