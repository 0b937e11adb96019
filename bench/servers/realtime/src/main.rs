//! The benchmark contract served by `realtime`, written the way an application would:
//! `#[event]` handlers, the default configuration (Socket.IO at `/socket.io/`, plain
//! WebSocket at `/ws`, default pings, no compression).
//!
//! - `join(room)`: joins `room`, acks `true`;
//! - `echo(args...)`: acks with the same arguments;
//! - `fanout({room, ...})`: emits `tick` with the same object to everyone in `room` (the
//!   sender too if it is a member), acks `true`.

use realtime::{event, Data, Payload, Realtime, Socket};
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
    let rt = Realtime::builder()
        .build()
        .expect("every event has one handler");
    rt.serve(format!("127.0.0.1:{port}")).await
}
