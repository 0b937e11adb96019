//! The seed's echo server: whatever text comes in goes back upper-cased with `!!!`.
//!
//! - A plain WebSocket client on `ws://localhost:3000/ws` sends `hello` and receives
//!   `HELLO!!!` (raw text frames, no library needed).
//! - A Socket.IO client emits `message` with `"hello"` and gets `"HELLO!!!"` back: as the
//!   ack reply if it asked for one, otherwise as a `message` event.
//!
//! ```sh
//! cargo run --example echo
//! ```

use realtime::{AckSender, Data, Realtime, Socket};

async fn shout(socket: Socket, ack: AckSender, Data(text): Data<String>) {
    let reply = format!("{}!!!", text.to_uppercase());
    tracing::info!(%text, %reply, "echo");
    if ack.expected() {
        let _ = ack.send(&reply);
    } else {
        let _ = socket.emit("message", &reply);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    println!(
        "echo server on ws://localhost:{port}/ws (plain) and http://localhost:{port}/socket.io/"
    );
    Realtime::builder()
        .allow_eio3(true) // socket.io-client 2.x pages connect too
        .on("message", shout)
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("valid server")
        .serve(format!("0.0.0.0:{port}"))
        .await
}
