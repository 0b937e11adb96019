use realtime::event;

struct Game;

impl Game {
    #[event("hello")]
    async fn hello(&self) {}
}

fn main() {}
