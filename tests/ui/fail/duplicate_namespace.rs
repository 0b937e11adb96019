use realtime::event;

#[event("hello", namespace = "/a", namespace = "/b")]
async fn hello() {}

fn main() {}
