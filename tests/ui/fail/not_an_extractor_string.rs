use realtime::{event, Socket};

#[event("hello")]
async fn hello(_socket: Socket, _name: String) {}

fn main() {}
