use realtime::{on_start, Realtime};

#[on_start(namespace = "/chat")]
async fn started(_rt: Realtime) {}

fn main() {}
