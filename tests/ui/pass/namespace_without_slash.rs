// `namespace = "chat"` names the namespace `/chat`, as `.namespace("chat", ..)` does.
use realtime::event;

#[event("hello", namespace = "chat")]
async fn hello() {}

fn main() {}
