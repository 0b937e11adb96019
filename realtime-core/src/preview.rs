//! Bounded previews of client data for logs and error replies.
//!
//! A client controls event names, payloads and frames. Quoting them in full would let one
//! 1 MB event add a megabyte to the log (and to the error sent back); a preview keeps the
//! first few hundred bytes and says how long the whole was.

use std::fmt;

/// How many bytes of client data a log line or an error message quotes.
pub const PREVIEW_BYTES: usize = 200;

/// Displays at most [`PREVIEW_BYTES`] of a string, cut at a character boundary, followed by
/// `… (N bytes)` when it was longer.
#[derive(Debug, Clone, Copy)]
pub struct Preview<'a>(pub &'a str);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= PREVIEW_BYTES {
            return f.write_str(s);
        }
        let mut end = PREVIEW_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}… ({} bytes)", &s[..end], s.len())
    }
}

/// [`Preview`] as an owned string (for error messages sent to clients).
pub fn preview(s: &str) -> String {
    Preview(s).to_string()
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
    }
}
