use realtime::{event, Data, Payload};

#[event("hello")]
async fn hello(_raw: Payload, Data(_name): Data<String>) {}

fn main() {}
