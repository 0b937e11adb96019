use realtime::event;

#[event]
async fn hello() {}

fn main() {}
