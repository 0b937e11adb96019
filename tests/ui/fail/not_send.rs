use std::rc::Rc;

use realtime::{event, Socket};

async fn tick() {}

#[event("hello")]
async fn hello(socket: Socket) {
    let counter = Rc::new(1);
    tick().await;
    let _ = socket.emit("count", &*counter);
}

fn main() {}
