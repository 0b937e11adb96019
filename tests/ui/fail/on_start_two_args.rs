use realtime::{on_start, Realtime, Socket};

#[on_start]
async fn started(_rt: Realtime, _socket: Socket) {}

fn main() {}
