//! Per-connection event rate limiting: a token bucket per connection.
//!
//! Each event a client sends takes a token; tokens refill at `per_second` up to `burst`. An
//! event without a token is refused with `rate limit exceeded` (as its error ack or a
//! `$error` event) and never reaches a handler. A client that keeps flooding — more than
//! `max_refused` refusals in a row — is disconnected (logged at `warn`). Other connections
//! are unaffected: each has its own bucket, and a refusal costs no more than a lookup.

use std::time::Instant;

/// How many events a connection may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained events per second.
    pub per_second: f64,
    /// Events that may arrive at once after a quiet period.
    pub burst: u32,
    /// Consecutive refused events after which the connection is closed.
    pub max_refused: u32,
}

impl RateLimit {
    /// `per_second` sustained, bursts of `burst`, cut off after `burst` refusals in a row.
    pub fn new(per_second: f64, burst: u32) -> RateLimit {
        RateLimit {
            per_second,
            burst,
            max_refused: burst.max(1),
        }
    }

    /// Sets [`RateLimit::max_refused`].
    pub fn max_refused(mut self, max_refused: u32) -> RateLimit {
        self.max_refused = max_refused;
        self
    }
}

/// What the bucket says about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Refuse,
    /// Refused, and the client has been flooding: close the connection.
    CutOff,
}

/// One connection's bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
}

impl Bucket {
    pub(crate) fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: Instant::now(),
            refused_in_a_row: 0,
        }
    }

    pub(crate) fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > self.limit.max_refused {
            Verdict::CutOff
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_refills_and_cuts_off() {
        let start = Instant::now();
        let mut b = Bucket::new(RateLimit::new(10.0, 3).max_refused(2));
        assert_eq!(
            [b.take(start), b.take(start), b.take(start)],
            [Verdict::Allow; 3]
        );
        assert_eq!(b.take(start), Verdict::Refuse);
        assert_eq!(b.take(start), Verdict::Refuse);
        assert_eq!(b.take(start), Verdict::CutOff);
        // 100 ms later one token is back, and the refusal streak resets.
        let later = start + Duration::from_millis(100);
        assert_eq!(b.take(later), Verdict::Allow);
        assert_eq!(b.take(later), Verdict::Refuse);
    }
}
