//! Game tables: typed rooms, moves broadcast to a table, scores kept in shared state.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use realtime::{event, BroadcastOperator, Data, Room, RoomName, Socket, State, TryData};
use serde::{Deserialize, Serialize};

/// A game table, as a typed room: handlers pass `Table(7)`, never `"table:7"`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct Table(pub u64);

impl RoomName for Table {
    fn room_name(&self) -> Room {
        format!("table:{}", self.0).into()
    }
}

/// Points per table, shared by every handler.
#[derive(Debug, Clone, Default)]
pub struct Scores(Arc<Mutex<HashMap<u64, u64>>>);

#[derive(Deserialize)]
pub struct Move {
    table: Table,
    x: i32,
    y: i32,
}

/// Sits at a table: enters its room (awaitable, as weroll's `enterRoom`) and tells the
/// others at the table, not the sender.
#[event("sit")]
async fn sit(socket: Socket, Data(table): Data<Table>) -> Table {
    socket.enter_room(table).await;
    let _ = socket.to(table).emit(
        "seated",
        &serde_json::json!({ "id": socket.id().as_str(), "table": table }),
    );
    table
}

#[event("stand")]
async fn stand(socket: Socket, Data(table): Data<Table>) {
    socket.leave_room(table).await;
}

/// A move goes to everyone at the table, the mover included, and scores a point.
#[event("move")]
async fn play(socket: Socket, State(scores): State<Scores>, Data(m): Data<Move>) -> u64 {
    let _ = socket.within(m.table).emit(
        "moved",
        &serde_json::json!({ "x": m.x, "y": m.y, "by": socket.id().as_str() }),
    );
    let mut scores = scores.0.lock().unwrap();
    let points = scores.entry(m.table.0).or_default();
    *points += 1;
    *points
}

/// A chat line to everyone else in the lobby: the injected broadcast context already
/// excludes the sender.
#[event("shout")]
async fn shout(others: BroadcastOperator, Data(text): Data<String>) {
    let _ = others.emit("shout", &text);
}

/// `TryData` hands a malformed payload to the handler instead of rejecting it.
#[event("score")]
async fn score(
    State(scores): State<Scores>,
    TryData(table): TryData<Table>,
) -> Result<u64, String> {
    let table = table.map_err(|e| format!("expected a table number: {e}"))?;
    Ok(scores.0.lock().unwrap().get(&table.0).copied().unwrap_or(0))
}
