use realtime::{event, Data, Socket};

#[event("hello")]
async fn hello(Data(_name): Data<String>, _socket: Socket, _n: realtime::Event) {}

fn main() {}
