use realtime::event;

#[event(namespace = "/chat")]
async fn hello() {}

fn main() {}
