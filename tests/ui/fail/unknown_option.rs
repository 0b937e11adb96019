use realtime::event;

#[event("hello", room = "lobby")]
async fn hello() {}

fn main() {}
