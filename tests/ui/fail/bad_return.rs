use realtime::event;

struct Score {
    _points: u32,
}

#[event("score")]
async fn score() -> Score {
    Score { _points: 1 }
}

fn main() {}
