use realtime::{event, Socket};

#[event("hello")]
fn hello(_socket: Socket) {}

fn main() {}
