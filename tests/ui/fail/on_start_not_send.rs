use std::rc::Rc;

use realtime::{on_start, Realtime};

async fn tick() {}

#[on_start]
async fn started(_rt: Realtime) {
    let flag = Rc::new(true);
    tick().await;
    drop(flag);
}

fn main() {}
