//! The WebSocket decoder: arbitrary bytes from a client, arriving split at arbitrary points.
//!
//! The first byte chooses where the rest is split into reads (and the message size limit);
//! the rest is what the client sent. Checks, besides "never panics":
//! - decoding the bytes in one read and split into pieces gives the same messages, and the
//!   same outcome (an error, or not);
//! - no message is larger than the limit, and messages together are no larger than the input;
//! - after the last message of a clean input, nothing is held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::wire::websocket::decoder::{Decoder, Incoming};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let max = [16usize, 125, 4096, 1 << 20][usize::from(knobs & 3)];
    let step = usize::from(knobs >> 2) + 1;

    let (whole, whole_ok) = decode(input, &[input.len().max(1)], max);
    let pieces: Vec<usize> = (0..input.len()).step_by(step).map(|_| step).collect();
    let (split, split_ok) = decode(input, &pieces, max);
    assert_eq!(whole, split, "the split into reads changed the messages");
    assert_eq!(whole_ok, split_ok, "the split into reads changed the outcome");

    let total: usize = whole.iter().map(size).sum();
    assert!(total <= input.len());
    for m in &whole {
        if matches!(m, Incoming::Text(_) | Incoming::Binary(_)) {
            assert!(size(m) <= max, "a message over the limit was delivered");
        }
    }
});

fn size(m: &Incoming) -> usize {
    match m {
        Incoming::Text(t) => t.as_str().len(),
        Incoming::Binary(b) | Incoming::Ping(b) => b.len(),
        Incoming::Pong | Incoming::Close(_) => 0,
    }
}

/// Decodes `input` in reads of the sizes in `pieces` (cycled); the messages until the first
/// error, and whether there was none.
fn decode(input: &[u8], pieces: &[usize], max: usize) -> (Vec<Incoming>, bool) {
    let mut decoder = Decoder::new(max);
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().expect("cycled")).min(rest.len()).max(1);
        let (read, more) = rest.split_at(n);
        rest = more;
        let result = decoder.decode(read);
        while let Some(m) = decoder.next_message() {
            out.push(m);
        }
        if result.is_err() {
            return (out, false);
        }
    }
    (out, true)
}
