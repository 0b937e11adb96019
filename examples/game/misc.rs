//! The fallback for unknown events, and the start hook.

use realtime::{fallback, on_start, Event, Realtime, Reply};

/// Unknown events answer the client's ack with `{"error": "unknown event \"...\""}`:
/// the `Event` extractor tells the fallback which name it was called for.
#[fallback]
async fn unknown(Event(name): Event) -> Reply {
    Reply::error(format!("unknown event {name:?}"))
}

/// Runs once, when the server starts serving.
#[on_start]
async fn started(rt: Realtime) {
    tracing::info!(path = %rt.config().path, "game server started");
}
