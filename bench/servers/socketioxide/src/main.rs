//! The benchmark contract served by socketioxide 0.18 on axum/tokio, written as its
//! documentation shows: handlers registered with `socket.on(..)` in the `/` namespace.
//!
//! Configuration: defaults (pings 25 s / 20 s, WebSocket and polling, no compression)
//! except `max_buffer_size`, raised from 128 to 1024 packets per connection so that its
//! per-connection queue equals realtime's `max_buffered_packets` (1024); with 128 a
//! saturating fan-out drops packets for a socket whose queue is full, by design.

use serde_json::Value;
use socketioxide::{
    extract::{AckSender, Data, SocketRef},
    SocketIo,
};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let (layer, io) = SocketIo::builder().max_buffer_size(1024).build_layer();

    io.ns("/", async |socket: SocketRef| {
        socket.on(
            "join",
            async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
                socket.join(room);
                ack.send(&true).ok();
            },
        );
        socket.on("echo", async |Data::<Value>(args), ack: AckSender| {
            ack.send(&args).ok();
        });
        socket.on(
            "fanout",
            async |socket: SocketRef, Data::<Value>(msg), ack: AckSender| {
                let room = msg
                    .get("room")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let ok = socket.within(room).emit("tick", &msg).await.is_ok();
                ack.send(&ok).ok();
            },
        );
    });

    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await
}
