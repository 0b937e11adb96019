use realtime::event;

const HELLO: &str = "hello";

#[event(HELLO)]
async fn hello() {}

fn main() {}
