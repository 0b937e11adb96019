//! The fallback for unknown events, and the start hook.

use realtime::{fallback, on_start, Event, Realtime, Reply};

/// Unknown events answer the client's ack with `{"error": "unknown event ..."}`.
#[fallback]
async fn unknown(Event(name): Event) -> Reply {
    Reply::error(format!("unknown event {name:?}"))
}

#[on_start]
async fn started(rt: Realtime) {
    tracing::info!(path = %rt.config().path, "game server started");
}
