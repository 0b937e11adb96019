//! A small multiplayer game server: two-player pong in the browser, with a lobby of open
//! matches, each match a typed room run by a server-authoritative tick loop; and, around it,
//! handlers that live in several modules and register themselves with `#[event]` and the
//! lifecycle attributes: `main` lists none of them.
//!
//! ```sh
//! cargo run --example game            # then open http://localhost:3000 in two browser windows
//! ```
//!
//! In each window pick a name; create a match in one, join it from the lobby in the other,
//! and play with ↑/↓ (or W/S). `PORT` changes the port; with `REDIS_URL` set, copies of
//! this server on several ports form one cluster (logins, direct messages, tables and shouts
//! reach every node; a match is played on the node that created it). Socket.IO is on
//! `/socket.io/`, plain WebSocket on `/ws`; the page is `index.html`, and it loads the
//! socket.io client from this server when `tests/interop/node/node_modules` has it (or
//! `SOCKET_IO_CLIENT_DIST` names it), otherwise from the official CDN.
//!
//! - `lobby`: connect / disconnect, login (a client id shared by all of a user's
//!   connections), who-am-i, direct messages with `send_to`.
//! - `arena`: the lobby's list of open matches, creating and joining a match (typed rooms,
//!   `Match(7)`), inputs as events, one tokio task per match broadcasting its state 20 times
//!   a second, stopped when the match empties.
//! - `pong`: the game's rules and state, no I/O.
//! - `table`: typed game rooms (`Table(42)`), joining, moves broadcast to the room, scores
//!   in shared state answered through ack return values, dice answered with `AckSender`.
//! - `replays`: binary data with `Bin` and `Payload`, bare binary frames from plain clients.
//! - `admin`: a second namespace, `/admin`, guarded by middleware.
//! - `misc`: the fallback for unknown events and the start hook.
//!
//! Every handler serves Socket.IO clients and plain WebSocket clients alike; both kinds
//! share rooms, broadcasts and client ids.

mod admin;
mod arena;
mod lobby;
mod misc;
mod pong;
mod replays;
#[path = "../shared/socket_io_client.rs"]
mod socket_io_client;
mod table;

use realtime::{
    axum::{response::Html, routing::get, Router},
    Realtime,
};
use socket_io_client::SocketIoClient;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let rt = Realtime::builder()
        .allow_eio3(true) // socket.io-client 2.x pages connect too
        .state(table::Scores::default())
        .state(arena::Arena::default())
        .namespace("/admin", |ns| ns.middleware(admin::require_admin_token))
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("every event has one handler");

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = realtime::Realtime::bind(format!("0.0.0.0:{port}")).await?;
    // The page and the realtime endpoints share the port.
    let client = SocketIoClient::locate();
    let page = client.page(include_str!("index.html"));
    let app = client
        .serve(Router::new().route("/", get(move || async move { Html(page) })))
        .merge(rt.router());
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
