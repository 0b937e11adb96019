//! Whatever a handler returns answers the client's ack.

use realtime::{event, on_connect, Payload, Reply};
use serde::Serialize;

#[derive(Serialize)]
struct Score {
    points: u32,
}

#[event("unit")]
async fn unit() {}

#[event("explicit_unit")]
async fn explicit_unit() -> () {}

#[event("serialize")]
async fn serialize() -> Score {
    Score { points: 1 }
}

#[event("json")]
async fn json() -> serde_json::Value {
    serde_json::json!({ "ok": true })
}

#[event("result")]
async fn result() -> Result<Score, String> {
    Err("nope".into())
}

#[event("reply")]
async fn reply() -> Reply {
    Reply::error("nope")
}

#[event("payload")]
async fn payload() -> Payload {
    Payload::new()
}

#[event("option")]
async fn option() -> Option<u32> {
    None
}

/// An opaque serializable type.
#[event("opaque")]
async fn opaque() -> impl Serialize {
    Score { points: 2 }
}

/// Lifecycle handlers may return values too (there is no ack to answer).
#[on_connect]
async fn connected() -> Reply {
    Reply::none()
}

fn main() {}
