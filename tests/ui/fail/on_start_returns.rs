use realtime::{on_start, Realtime};

#[on_start]
async fn started(_rt: Realtime) -> u32 {
    1
}

fn main() {}
