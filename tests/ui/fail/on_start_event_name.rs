use realtime::{on_start, Realtime};

#[on_start("boot")]
async fn started(_rt: Realtime) {}

fn main() {}
