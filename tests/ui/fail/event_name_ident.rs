use realtime::event;

#[event(hello)]
async fn hello() {}

fn main() {}
