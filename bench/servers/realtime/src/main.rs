//! The benchmark contract served by `realtime`, written the way an application would:
//! `#[event]` handlers, the default configuration (Socket.IO at `/socket.io/`, plain
//! WebSocket at `/ws`, default pings, no compression).
//!
//! - `join(room)`: joins `room`, acks `true`;
//! - `echo(args...)`: acks with the same arguments;
//! - `fanout({room, ...})`: emits `tick` with the same object to everyone in `room` (the
//!   sender too if it is a member), acks `true`.
//!
//! With `REDIS_URL` set (the cluster scenario) the server is a node of a cluster on that
//! Redis: `RedisAdapter` with Node's defaults except the channel prefix, `REDIS_KEY`
//! (default `socket.io`); it logs warnings to stderr and the adapter's counters on exit.
//!
//! With `CONNECTION_STATE_RECOVERY=1` (the jitter scenario) connection state recovery is on,
//! with its defaults (`Recovery::default()`: 2 minutes, middleware skipped, at most 10 000
//! broadcasts / 16 MiB kept per namespace); off otherwise, as by default.

use realtime::{
    cluster::RedisAdapterConfig, config::Recovery, event, Data, Payload, Realtime, RedisAdapter,
    Socket,
};
use serde_json::Value;

#[event("join")]
async fn join(socket: Socket, Data(room): Data<String>) -> bool {
    socket.join(room);
    true
}

#[event("echo")]
async fn echo(args: Payload) -> Payload {
    args
}

#[event("fanout")]
async fn fanout(socket: Socket, Data(msg): Data<Value>) -> bool {
    match msg.get("room").and_then(Value::as_str) {
        Some(room) => socket.within(room).emit("tick", &msg).is_ok(),
        None => false,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let adapter = std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| {
            realtime::logging::init_with("warn");
            let mut config = RedisAdapterConfig::default();
            if let Ok(key) = std::env::var("REDIS_KEY") {
                config.key = key;
            }
            RedisAdapter::with_config(&url, config).expect("a valid REDIS_URL")
        });
    let mut builder = Realtime::builder();
    if let Some(adapter) = &adapter {
        builder = builder.adapter(adapter.clone());
    }
    if std::env::var("CONNECTION_STATE_RECOVERY").is_ok_and(|v| v == "1") {
        builder = builder.connection_state_recovery(Recovery::default());
    }
    let rt = builder.build().expect("every event has one handler");
    if let Err(err) = rt.cluster_ready().await {
        // serve() would serve alone; a benchmark node must not.
        eprintln!("the Redis adapter is not ready: {err}");
        std::process::exit(1);
    }
    let served = rt.serve(format!("127.0.0.1:{port}")).await;
    if let Some(adapter) = &adapter {
        eprintln!("redis adapter {}: {:?}", adapter.uid(), adapter.stats());
    }
    served
}
