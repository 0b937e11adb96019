//! Connecting, logging in, and reaching a user on all of their connections.

use realtime::{event, on_connect, on_disconnect, Data, Extension, Socket, State};
use serde::{Deserialize, Serialize};

use crate::arena::Arena;

/// Who a logged-in connection belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Player {
    pub name: String,
}

#[derive(Deserialize)]
pub struct Login {
    name: String,
}

#[derive(Serialize)]
pub struct Welcome {
    client_id: String,
    name: String,
}

/// Greets every new connection, Socket.IO or plain WebSocket, before its first event is
/// handled.
#[on_connect]
async fn greet(socket: Socket) {
    let _ = socket.emit(
        "welcome",
        &serde_json::json!({ "id": socket.id().as_str() }),
    );
}

/// Logs in as `name`: every connection of that name shares the client id `name`.
/// The return value answers the client's ack; an `Err` becomes `{"error": ...}`.
#[event("login")]
async fn login(socket: Socket, Data(login): Data<Login>) -> Result<Welcome, String> {
    let name = login.name.trim().to_owned();
    if name.is_empty() {
        return Err("a name is required".into());
    }
    socket.insert_extension(Player { name: name.clone() });
    socket.set_client_id(name.as_str());
    Ok(Welcome {
        client_id: socket.client_id().to_string(),
        name,
    })
}

/// Answers with the player stored at login, or `{"error": ...}` if not logged in (the
/// `Extension` extractor rejects the event then).
#[event("whoami")]
async fn whoami(Extension(player): Extension<Player>) -> Player {
    player
}

#[derive(Deserialize)]
pub struct Direct {
    to: String,
    text: String,
}

/// A direct message to every connection of the user `to` (whatever protocol each one
/// speaks), once per connection. Only logged-in players may send one.
#[event("dm")]
async fn direct_message(
    socket: Socket,
    Extension(me): Extension<Player>,
    Data(dm): Data<Direct>,
) -> bool {
    let message = serde_json::json!({ "from": me.name, "text": dm.text });
    socket.send_to(&dm.to, "dm", &message).is_ok()
}

/// Tells the lobby that a logged-in player left, and frees their seat in a match.
/// `Option<Extension<T>>` is the extractor for a value that may be missing (a connection
/// that never logged in); `Data<String>` is the disconnect reason.
#[on_disconnect]
async fn farewell(
    socket: Socket,
    State(arena): State<Arena>,
    player: Option<Extension<Player>>,
    Data(reason): Data<String>,
) {
    tracing::info!(socket = %socket.id(), %reason, "player left");
    arena.leave(&socket).await;
    if let Some(Extension(player)) = player {
        let _ = socket.broadcast().emit(
            "left",
            &serde_json::json!({ "name": player.name, "reason": reason }),
        );
    }
}
