use realtime::{event, Bin, Data, Event, Socket};

#[event("hello")]
async fn hello(
    _a: Socket,
    _b: Socket,
    _c: Socket,
    _d: Socket,
    _e: Bin,
    _f: Bin,
    _g: Event,
    _h: Event,
    Data(_i): Data<u32>,
) {
}

fn main() {}
