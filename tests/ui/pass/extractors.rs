//! Every extractor, in any order, with the one that consumes the payload last.

use std::sync::Arc;

use realtime::{
    event, AckSender, Bin, BroadcastOperator, Data, Event, EventContext, Extension, FromEventParts,
    Namespace, Payload, Socket, State, TryData,
};
use serde::Deserialize;

#[derive(Clone)]
struct Db;

#[derive(Clone)]
struct User;

#[derive(Deserialize)]
struct Move {
    _x: i32,
}

#[event("socket")]
async fn socket(_: Socket) {}

#[event("data")]
async fn data(Data(_m): Data<Move>) {}

#[event("try_data")]
async fn try_data(TryData(_m): TryData<Move>) {}

#[event("payload")]
async fn payload(_: Payload) {}

#[event("bin")]
async fn bin(Bin(_b): Bin) {}

#[event("ack")]
async fn ack(ack: AckSender) {
    let _ = ack.send(&1);
}

#[event("state")]
async fn state(State(_db): State<Db>) {}

#[event("event")]
async fn event_name(Event(_name): Event) {}

#[event("extension")]
async fn extension(Extension(_user): Extension<User>) {}

#[event("optional_extension")]
async fn optional_extension(_user: Option<Extension<User>>) {}

#[event("broadcast")]
async fn broadcast(others: BroadcastOperator) {
    let _ = others.emit("x", &());
}

#[event("namespace")]
async fn namespace(ns: Arc<Namespace>) {
    let _ = ns.socket_count();
}

/// Context extractors in any order before the payload.
#[event("mixed")]
async fn mixed(_ack: AckSender, _ev: Event, _socket: Socket, _bin: Bin, Data(_m): Data<Move>) {}

#[event("mixed_reversed")]
async fn mixed_reversed(_bin: Bin, _socket: Socket, _ev: Event, _ack: AckSender, _p: Payload) {}

/// A context extractor may also come last (the payload is then left alone).
#[event("parts_last")]
async fn parts_last(_socket: Socket, _ev: Event) {}

/// Patterns in argument position.
#[event("patterns")]
async fn patterns(_: State<Db>, Data((_a, _b)): Data<(u8, String)>) {}

/// An extractor of the application's own.
struct Sid(String);

impl FromEventParts for Sid {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Sid(ctx.socket().id().as_str().to_owned()))
    }
}

#[event("custom")]
async fn custom(Sid(_sid): Sid, Data(_m): Data<Move>) {}

/// Type aliases and paths work: the check is on the type, not its spelling.
type Shared = State<Db>;

#[event("alias")]
async fn alias(_db: Shared, _socket: realtime::Socket, _data: realtime::Data<String>) {}

fn main() {}
