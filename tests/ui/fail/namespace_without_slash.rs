use realtime::event;

#[event("hello", namespace = "chat")]
async fn hello() {}

fn main() {}
