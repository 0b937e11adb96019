use realtime::on_connect;

#[on_connect("connection")]
async fn connected() {}

fn main() {}
