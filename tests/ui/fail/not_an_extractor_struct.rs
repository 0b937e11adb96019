use realtime::{event, Data};

#[derive(serde::Deserialize)]
struct Hello {
    _name: String,
}

#[event("hello")]
async fn hello(_hello: Hello, Data(_n): Data<u32>) {}

fn main() {}
