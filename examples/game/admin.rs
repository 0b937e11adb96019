//! The `/admin` namespace: a middleware guards it, and its handlers say which namespace
//! they belong to.

use std::sync::Arc;

use realtime::{event, on_connect, ConnectError, Namespace, Socket};

/// Lets in clients that carry the admin token: Socket.IO clients in their auth payload
/// (`io("/admin", { auth: { token } })`), plain WebSocket clients in the query string
/// (`/ws?ns=/admin&token=...`). A refusal reaches the client with its message and data.
pub async fn require_admin_token(socket: Socket) -> Result<(), ConnectError> {
    let token = socket
        .auth()
        .get("token")
        .and_then(|t| t.as_str().map(str::to_owned))
        .or_else(|| socket.request().query("token"));
    match token.as_deref() {
        Some("letmein") => Ok(()),
        _ => Err(ConnectError::new("admin token required")
            .with_data(serde_json::json!({ "hint": "auth.token" }))),
    }
}

/// Runs for every operator the middleware let in (and only for those).
#[on_connect(namespace = "/admin")]
async fn admin_connected(socket: Socket) {
    let _ = socket.emit("admin", &"welcome, operator");
}

/// How many operators are connected: the injected namespace handle answers.
///
/// `/admin` has no fallback, so an event nobody handles is answered by the framework:
/// `{"error": "no handler for event \"...\""}`.
#[event("stats", namespace = "/admin")]
async fn stats(admin: Arc<Namespace>) -> serde_json::Value {
    serde_json::json!({ "operators": admin.socket_count() })
}
