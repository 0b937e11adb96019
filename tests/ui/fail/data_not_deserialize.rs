use realtime::{event, Data};

struct Hello {
    _name: String,
}

#[event("hello")]
async fn hello(Data(_hello): Data<Hello>) {}

fn main() {}
