//! The benchmark contract served by socketioxide 0.18 on axum/tokio, written as its
//! documentation shows: handlers registered with `socket.on(..)` in the `/` namespace.
//!
//! Configuration: defaults (pings 25 s / 20 s, WebSocket and polling, no compression)
//! except `max_buffer_size`, raised from 128 to 1024 packets per connection so that its
//! per-connection queue equals realtime's `max_buffered_packets` (1024); with 128 a
//! saturating fan-out drops packets for a socket whose queue is full, by design.
//!
//! With `REDIS_URL` set (the cluster scenario) the server is a node of a cluster on that
//! Redis: `socketioxide-redis` with the `redis` crate driver (RESP3, which it requires),
//! its defaults except the channel prefix, `REDIS_KEY` (default `socket.io`). The namespace
//! is served once the adapter has subscribed (`io.ns(..)` awaited).
//!
//! socketioxide has no connection state recovery: `CONNECTION_STATE_RECOVERY=1` (which the
//! suite never sets for it) is only noted on stderr, and the jitter scenario shows what a
//! server without recovery loses.

use serde_json::Value;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Data, SocketRef},
    SocketIo,
};
use socketioxide_redis::{
    drivers::redis::redis_client as redis, RedisAdapter, RedisAdapterConfig, RedisAdapterCtr,
};

async fn on_connect<A: Adapter>(socket: SocketRef<A>) {
    socket.on("join", join::<A>);
    socket.on("echo", echo::<A>);
    socket.on("fanout", fanout::<A>);
}

async fn join<A: Adapter>(socket: SocketRef<A>, Data(room): Data<String>, ack: AckSender<A>) {
    socket.join(room);
    ack.send(&true).ok();
}

async fn echo<A: Adapter>(Data(args): Data<Value>, ack: AckSender<A>) {
    ack.send(&args).ok();
}

async fn fanout<A: Adapter>(socket: SocketRef<A>, Data(msg): Data<Value>, ack: AckSender<A>) {
    let room = msg
        .get("room")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let ok = socket.within(room).emit("tick", &msg).await.is_ok();
    ack.send(&ok).ok();
}

async fn serve<A: Adapter>(layer: socketioxide::layer::SocketIoLayer<A>) -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if std::env::var("CONNECTION_STATE_RECOVERY").is_ok_and(|v| v == "1") {
        eprintln!(
            "socketioxide has no connection state recovery: CONNECTION_STATE_RECOVERY ignored"
        );
    }
    let builder = SocketIo::builder().max_buffer_size(1024);
    match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        None => {
            let (layer, io) = builder.build_layer();
            io.ns("/", on_connect);
            serve(layer).await
        }
        Some(url) => {
            let url = if url.contains("protocol=") {
                url
            } else if url.contains('?') {
                format!("{url}&protocol=resp3")
            } else {
                format!("{url}?protocol=resp3")
            };
            let fail = |what: &str, err: &dyn std::fmt::Display| -> ! {
                eprintln!("socketioxide-redis: {what}: {err}");
                std::process::exit(1)
            };
            let client =
                redis::Client::open(url.as_str()).unwrap_or_else(|e| fail("invalid REDIS_URL", &e));
            let mut config = RedisAdapterConfig::new();
            if let Ok(key) = std::env::var("REDIS_KEY") {
                config = config.with_prefix(key);
            }
            let adapter = RedisAdapterCtr::new_with_redis_config(&client, config)
                .await
                .unwrap_or_else(|e| fail("cannot connect to Redis", &e));
            let (layer, io) = builder
                .with_adapter::<RedisAdapter<_>>(adapter)
                .build_layer();
            if let Err(e) = io.ns("/", on_connect).await {
                fail("cannot subscribe", &e);
            }
            serve(layer).await
        }
    }
}
