//! Every mistake is reported once, at its own token.

use realtime::{event, Data};

struct Score;

#[event("play")]
async fn play(Data(_n): Data<u32>, _name: String) -> Score {
    Score
}

fn main() {}
