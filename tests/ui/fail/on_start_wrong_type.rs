use realtime::{on_start, Socket};

#[on_start]
async fn started(_socket: Socket) {}

fn main() {}
