//! The `/admin` namespace: a middleware guards it, and its handlers say which namespace
//! they belong to.

use std::sync::Arc;

use realtime::{event, on_connect, ConnectError, Namespace, Socket};

/// Lets in clients whose auth payload carries the admin token.
pub async fn require_admin_token(socket: Socket) -> Result<(), ConnectError> {
    match socket.auth().get("token").and_then(|t| t.as_str()) {
        Some("letmein") => Ok(()),
        _ => Err(ConnectError::new("admin token required")
            .with_data(serde_json::json!({ "hint": "auth.token" }))),
    }
}

#[on_connect(namespace = "/admin")]
async fn admin_connected(socket: Socket) {
    let _ = socket.emit("admin", &"welcome, operator");
}

/// How many operators are connected: the injected namespace handle answers.
#[event("stats", namespace = "/admin")]
async fn stats(admin: Arc<Namespace>) -> serde_json::Value {
    serde_json::json!({ "operators": admin.socket_count() })
}
