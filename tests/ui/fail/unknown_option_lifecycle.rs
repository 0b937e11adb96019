use realtime::on_connect;

#[on_connect(namespce = "/chat")]
async fn connected() {}

fn main() {}
