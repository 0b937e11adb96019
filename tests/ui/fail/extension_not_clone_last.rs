use realtime::{event, Extension, Socket};

struct User;

#[event("hello")]
async fn hello(_socket: Socket, Extension(_user): Extension<User>) {}

fn main() {}
