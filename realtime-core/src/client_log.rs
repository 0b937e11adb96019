//! Logging what clients cause, bounded: previews of their data, and a per-connection budget
//! of warnings.
//!
//! A client controls event names, payloads and frames. Quoting them in full would let one
//! 1 MB event add a megabyte to the log (and to the error sent back); a preview keeps the
//! first few hundred bytes and says how long the whole was. And a client that sends bad
//! events in a loop would write a warning per event; each connection may cause at most
//! [`WARNINGS_PER_WINDOW`] warnings per [`WARNING_WINDOW`], then one line says how many were
//! left out.

use std::{
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How many bytes of client data a log line or an error message quotes.
pub const PREVIEW_BYTES: usize = 200;

/// Displays at most [`PREVIEW_BYTES`] of a string, cut at a character boundary, followed by
/// `… (N bytes)` when it was longer. `{:?}` quotes the kept part like a `str`.
#[derive(Clone, Copy)]
pub struct Preview<'a>(pub &'a str);

impl<'a> Preview<'a> {
    /// The kept part, and the whole length when something was cut.
    fn split(&self, max: usize) -> (&'a str, Option<usize>) {
        let s = self.0;
        if s.len() <= max {
            return (s, None);
        }
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        (&s[..end], Some(s.len()))
    }
}

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split(PREVIEW_BYTES) {
            (kept, None) => f.write_str(kept),
            (kept, Some(len)) => write!(f, "{kept}… ({len} bytes)"),
        }
    }
}

impl fmt::Debug for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split(PREVIEW_BYTES) {
            (kept, None) => write!(f, "{kept:?}"),
            (kept, Some(len)) => write!(f, "{kept:?}… ({len} bytes)"),
        }
    }
}

/// [`Preview`] as an owned string (for error messages sent to clients).
pub fn preview(s: &str) -> String {
    Preview(s).to_string()
}

/// Bounds a whole message that may quote client data (an extractor's rejection, which
/// quotes previews itself when it is one of ours), at a few previews' length.
pub fn bounded_message(s: &str) -> String {
    match Preview(s).split(4 * PREVIEW_BYTES) {
        (kept, None) => kept.to_owned(),
        (kept, Some(len)) => format!("{kept}… ({len} bytes)"),
    }
}

/// Warnings one connection may cause per [`WARNING_WINDOW`].
pub const WARNINGS_PER_WINDOW: u32 = 10;
/// See [`WARNINGS_PER_WINDOW`].
pub const WARNING_WINDOW: Duration = Duration::from_secs(60);

/// One connection's warning budget. Empty (no allocation) until its first warning.
#[derive(Debug, Default)]
pub(crate) struct WarnBudget(Mutex<Option<Box<Window>>>);

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
    suppressed: u64,
}

/// Whether a warning may be logged, and how many were left out before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Log it; `suppressed` warnings of this connection were left out since the last one.
    Log { suppressed: u64 },
    /// Over budget: log it at debug level at most.
    Suppress,
}

impl WarnBudget {
    /// Takes one warning from the budget.
    pub(crate) fn take(&self, now: Instant) -> Budget {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let w = guard.get_or_insert_with(|| {
            Box::new(Window {
                started: now,
                used: 0,
                suppressed: 0,
            })
        });
        if now.duration_since(w.started) >= WARNING_WINDOW {
            w.started = now;
            w.used = 0;
        }
        if w.used < WARNINGS_PER_WINDOW {
            w.used += 1;
            Budget::Log {
                suppressed: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed += 1;
            Budget::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_kept_long_ones_cut_at_a_char_boundary() {
        assert_eq!(preview("hello"), "hello");
        let long = "é".repeat(300); // 600 bytes
        let p = preview(&long);
        assert!(p.ends_with("… (600 bytes)"), "{p}");
        assert!(p.len() < PREVIEW_BYTES + 20);
        assert!(p.starts_with("éé"));
        assert_eq!(format!("{:?}", Preview("a\"b")), r#""a\"b""#);
        assert!(format!("{:?}", Preview(&long)).ends_with("\"… (600 bytes)"));
    }

    #[test]
    fn warnings_are_budgeted_per_window_and_the_left_out_are_counted() {
        let b = WarnBudget::default();
        let t0 = Instant::now();
        for _ in 0..WARNINGS_PER_WINDOW {
            assert_eq!(b.take(t0), Budget::Log { suppressed: 0 });
        }
        for _ in 0..5 {
            assert_eq!(b.take(t0), Budget::Suppress);
        }
        let later = t0 + WARNING_WINDOW;
        assert_eq!(b.take(later), Budget::Log { suppressed: 5 });
        assert_eq!(b.take(later), Budget::Log { suppressed: 0 });
    }
}
