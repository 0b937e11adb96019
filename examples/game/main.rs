//! A small multiplayer game server whose handlers live in several modules and register
//! themselves with `#[event]` and the lifecycle attributes: `main` lists none of them.
//!
//! ```sh
//! cargo run --example game            # Socket.IO on :3000/socket.io/, plain WebSocket on :3000/ws
//! ```
//!
//! - `lobby`: connect / disconnect, login (a client id shared by all of a user's
//!   connections), who-am-i, direct messages with `send_to`.
//! - `table`: typed game rooms (`Table(42)`), joining, moves broadcast to the room, scores
//!   in shared state answered through ack return values, dice answered with `AckSender`.
//! - `replays`: binary data with `Bin` and `Payload`, bare binary frames from plain clients.
//! - `admin`: a second namespace, `/admin`, guarded by middleware.
//! - `misc`: the fallback for unknown events and the start hook.
//!
//! Every handler serves Socket.IO clients and plain WebSocket clients alike; both kinds
//! share rooms, broadcasts and client ids.

mod admin;
mod lobby;
mod misc;
mod replays;
mod table;

use realtime::Realtime;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let rt = Realtime::builder()
        .allow_eio3(true) // socket.io-client 2.x pages connect too
        .state(table::Scores::default())
        .namespace("/admin", |ns| ns.middleware(admin::require_admin_token))
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("every event has one handler");

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    let app = rt.router();
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
