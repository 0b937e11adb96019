use realtime::{event, Data, State};

struct Db;

#[event("hello")]
async fn hello(State(_db): State<Db>, Data(_n): Data<u32>) {}

fn main() {}
