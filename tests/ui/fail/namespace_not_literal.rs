use realtime::on_connect;

const CHAT: &str = "/chat";

#[on_connect(namespace = CHAT)]
async fn connected() {}

fn main() {}
