//! Game tables: typed rooms, moves broadcast to a table, scores kept in shared state.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex},
};

use realtime::{
    event, AckSender, BroadcastOperator, Data, Payload, Room, RoomName, Socket, State, TryData,
};
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

/// The answer to `sit`: the table, and the name of the room it maps to.
#[derive(Serialize)]
pub struct Seat {
    table: Table,
    room: String,
}

/// Sits at a table: enters its room (awaitable, as weroll's `enterRoom`) and tells the
/// others at the table, not the sender. A payload that is not a table number is rejected
/// by `Data` before this runs.
#[event("sit")]
async fn sit(socket: Socket, Data(table): Data<Table>) -> Seat {
    socket.enter_room(table).await;
    let _ = socket.to(table).emit(
        "seated",
        &serde_json::json!({ "id": socket.id().as_str(), "table": table }),
    );
    Seat {
        table,
        room: table.room_name().to_string(),
    }
}

/// Leaves a table. Returning `()` answers an ack with no arguments: `callback()`.
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

#[derive(Deserialize)]
pub struct Roll {
    table: Table,
    dice: u8,
}

/// Rolls dice at a table. `AckSender` answers the ack by hand, and the return value then
/// no longer does: here with one argument per die (`callback(4, 1)`), before the handler
/// goes on to tell the others at the table. `expected()` says whether the client asked for
/// an ack; one that did not sees its roll as the `rolled` event, like the rest of the table.
#[event("roll")]
async fn roll(socket: Socket, ack: AckSender, Data(roll): Data<Roll>) {
    let dice: Vec<u8> = (0..roll.dice.clamp(1, 6)).map(|_| die()).collect();
    let news = serde_json::json!({ "by": socket.id().as_str(), "dice": dice });
    if ack.expected() {
        let reply = Payload::from_values(dice.iter().map(|&d| d.into()));
        let _ = ack.send_payload(&reply);
        let _ = socket.to(roll.table).emit("rolled", &news);
    } else {
        let _ = socket.within(roll.table).emit("rolled", &news);
    }
}

/// 1 to 6, from the standard library's randomly keyed hasher.
fn die() -> u8 {
    (RandomState::new().hash_one(()) % 6 + 1) as u8
}
