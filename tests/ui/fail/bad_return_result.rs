use realtime::event;

struct Nope;

#[event("score")]
async fn score() -> Result<u32, Nope> {
    Err(Nope)
}

fn main() {}
