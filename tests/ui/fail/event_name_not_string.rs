use realtime::event;

#[event(true)]
async fn hello() {}

fn main() {}
