use realtime::{event, Data};

#[event("hello")]
async fn hello<T: serde::de::DeserializeOwned + Send + 'static>(Data(_t): Data<T>) {}

fn main() {}
