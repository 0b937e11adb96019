use realtime::{event, FromEventParts};

#[event("hello")]
async fn hello(_socket: impl FromEventParts) {}

fn main() {}
