//! The bookkeeping of the `jitter` scenario, one client at a time: which stream numbers it
//! received (once, twice, out of order), the connection state recovery state a
//! socket.io-client keeps (`pid` from the CONNECT reply, the last offset seen), and a short
//! timeline of its cuts and reconnects to describe a loss when there is one. The async loop
//! that drives it is `worker::jitter`.

use serde::Serialize;
use serde_json::Value;

/// One tick as the scenario reads it: its stream number and emit timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub s: u64,
    pub t: Option<u64>,
    /// Already received once.
    pub duplicate: bool,
}

/// One client's view of the stream.
#[derive(Debug)]
pub struct Track {
    emits: u64,
    /// Bit `s` set: stream number `s` received.
    seen: Vec<u64>,
    pub distinct: u64,
    pub duplicates: u64,
    /// Received after a higher stream number (and not a duplicate).
    pub out_of_order: u64,
    /// Ticks without a stream number in range.
    pub bad: u64,
    pub max_s: Option<u64>,
    /// socket.io-client's `_pid`: the private id of the last CONNECT reply (recovery on).
    pub pid: Option<String>,
    /// The socket id of the last CONNECT reply.
    pub sid: String,
    /// socket.io-client's `_lastOffset`: the last argument of the last event received,
    /// when it is a string and the client has a pid.
    pub last_offset: Option<String>,
    pub cuts: u64,
    pub reconnects: u64,
    pub recovered: u64,
    /// Recovered (same pid) but given another socket id.
    pub recovered_other_sid: u64,
    /// Events replayed before a CONNECT reply.
    pub replayed: u64,
    /// Reconnects that got a new session and joined the room again.
    pub rejoins: u64,
    /// `join`s sent again because the first got no ack within a second.
    pub join_retries: u64,
    pub failed_attempts: u64,
    /// Connections the server ended (not cut by the scenario).
    pub server_drops: u64,
    /// After each recovered reconnect, the stream number that should come first once the
    /// replay is read: one past the highest received by then.
    seams: Vec<u64>,
    timeline: Vec<String>,
}

/// Timeline entries kept per client (the first ones: the first loss is what matters).
const TIMELINE_MAX: usize = 24;

impl Track {
    pub fn new(emits: u64) -> Track {
        Track {
            emits,
            seen: vec![0; emits.div_ceil(64) as usize],
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            bad: 0,
            max_s: None,
            pid: None,
            sid: String::new(),
            last_offset: None,
            cuts: 0,
            reconnects: 0,
            recovered: 0,
            recovered_other_sid: 0,
            replayed: 0,
            rejoins: 0,
            join_retries: 0,
            failed_attempts: 0,
            server_drops: 0,
            seams: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Records a `tick` event's arguments (`[{"s":..,"t":..,..}]`, with recovery on
    /// `[{..}, "<offset>"]`). `None` when it carries no stream number in range.
    pub fn tick(&mut self, args: &[Value]) -> Option<Tick> {
        // socket.io-client: `if (this._pid && args.length && typeof args[args.length - 1]
        // === "string") this._lastOffset = args[args.length - 1]`.
        if self.pid.is_some() {
            if let Some(Value::String(offset)) = args.last() {
                self.last_offset = Some(offset.clone());
            }
        }
        let msg = args.first();
        let s = msg.and_then(|m| m.get("s")).and_then(Value::as_u64);
        let t = msg.and_then(|m| m.get("t")).and_then(Value::as_u64);
        let Some(s) = s.filter(|s| *s < self.emits) else {
            self.bad += 1;
            return None;
        };
        let (word, bit) = ((s / 64) as usize, 1u64 << (s % 64));
        let duplicate = self.seen[word] & bit != 0;
        if duplicate {
            self.duplicates += 1;
        } else {
            self.seen[word] |= bit;
            self.distinct += 1;
            if self.max_s.is_some_and(|m| s < m) {
                self.out_of_order += 1;
            }
        }
        self.max_s = Some(self.max_s.map_or(s, |m| m.max(s)));
        Some(Tick { s, t, duplicate })
    }

    /// Notes, once a recovered reconnect's replay is read, that the next live tick should be
    /// the one after the highest received.
    pub fn mark_seam(&mut self) {
        if let Some(m) = self.max_s {
            self.seams.push(m + 1);
        }
    }

    /// Whether stream number `s` (below `emits`) was received.
    fn received(&self, s: u64) -> bool {
        self.seen[(s / 64) as usize] & (1 << (s % 64)) != 0
    }

    /// Lost stream numbers that were the first due after a recovered reconnect's replay:
    /// the seam between what the server replayed and what it delivered live.
    pub fn lost_at_seams(&self) -> u64 {
        let mut seams: Vec<u64> = self
            .seams
            .iter()
            .copied()
            .filter(|s| *s < self.emits)
            .collect();
        seams.sort_unstable();
        seams.dedup();
        seams.iter().filter(|s| !self.received(**s)).count() as u64
    }

    /// The client has the end of the stream: every number, or at least the last one.
    pub fn has_end(&self) -> bool {
        self.distinct == self.emits || self.max_s == Some(self.emits.saturating_sub(1))
    }

    /// The auth object socket.io-client sends in its CONNECT once it has a pid:
    /// `{"pid":..,"offset":..}` (no offset before the first one).
    pub fn auth(&self) -> Option<String> {
        let pid = Value::from(self.pid.as_deref()?);
        Some(match &self.last_offset {
            Some(offset) => format!(r#"{{"pid":{pid},"offset":{}}}"#, Value::from(&**offset)),
            None => format!(r#"{{"pid":{pid}}}"#),
        })
    }

    /// Adds a timeline entry, `ms` after the scenario began for this client.
    pub fn note(&mut self, ms: u64, what: impl Into<String>) {
        if self.timeline.len() < TIMELINE_MAX {
            self.timeline.push(format!("{ms} ms {}", what.into()));
        }
    }

    /// The stream numbers never received, as inclusive ranges.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut start = None;
        for s in 0..self.emits {
            let have = self.received(s);
            match (have, start) {
                (false, None) => start = Some(s),
                (true, Some(a)) => {
                    out.push((a, s - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(a) = start {
            out.push((a, self.emits - 1));
        }
        out
    }

    /// One line describing what went wrong for this client, if anything did.
    pub fn describe(&self, client: usize) -> Option<String> {
        let missing = self.missing();
        if missing.is_empty() && self.duplicates == 0 && self.out_of_order == 0 {
            return None;
        }
        let ranges: Vec<String> = missing
            .iter()
            .take(6)
            .map(|&(a, b)| {
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}–{b}")
                }
            })
            .collect();
        let lost = self.emits - self.distinct;
        Some(format!(
            "client {client} (sid {}): missing s={}{} ({lost} of {}), {} duplicate(s), {} out of \
             order; timeline: {}",
            self.sid,
            if ranges.is_empty() {
                "none".to_owned()
            } else {
                ranges.join(",")
            },
            if missing.len() > 6 { ",…" } else { "" },
            self.emits,
            self.duplicates,
            self.out_of_order,
            self.timeline.join("; ")
        ))
    }
}

/// Every client's figures of one worker process, summed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    pub clients: u64,
    /// Stream numbers each client should have: emits × clients.
    pub expected: u64,
    pub distinct: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub bad: u64,
    pub cuts: u64,
    pub reconnects: u64,
    pub recovered: u64,
    pub recovered_other_sid: u64,
    pub replayed: u64,
    pub rejoins: u64,
    pub join_retries: u64,
    pub failed_attempts: u64,
    pub server_drops: u64,
    /// Clients without a connection when the scenario ended.
    pub not_connected: u64,
    /// Clients that never had the end of the stream.
    pub incomplete: u64,
    /// Lost stream numbers that were the first due after a recovered reconnect's replay.
    pub lost_at_seams: u64,
    pub clients_short: u64,
    pub clients_duplicated: u64,
    /// A few clients' [`Track::describe`].
    pub examples: Vec<String>,
}

/// Examples kept per worker process.
const EXAMPLES_MAX: usize = 5;

impl Totals {
    pub fn add(&mut self, client: usize, t: &Track, connected: bool) {
        self.clients += 1;
        self.expected += t.emits;
        self.distinct += t.distinct;
        self.duplicates += t.duplicates;
        self.out_of_order += t.out_of_order;
        self.bad += t.bad;
        self.cuts += t.cuts;
        self.reconnects += t.reconnects;
        self.recovered += t.recovered;
        self.recovered_other_sid += t.recovered_other_sid;
        self.replayed += t.replayed;
        self.rejoins += t.rejoins;
        self.join_retries += t.join_retries;
        self.failed_attempts += t.failed_attempts;
        self.server_drops += t.server_drops;
        self.not_connected += u64::from(!connected);
        self.incomplete += u64::from(!t.has_end());
        self.lost_at_seams += t.lost_at_seams();
        self.clients_short += u64::from(t.distinct < t.emits);
        self.clients_duplicated += u64::from(t.duplicates > 0);
        if self.examples.len() < EXAMPLES_MAX {
            if let Some(d) = t.describe(client) {
                self.examples.push(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tick(s: u64, offset: Option<&str>) -> Vec<Value> {
        let mut args = vec![json!({"room": "j", "t": 5, "s": s})];
        if let Some(o) = offset {
            args.push(json!(o));
        }
        args
    }

    #[test]
    fn counts_distinct_duplicates_and_disorder() {
        let mut t = Track::new(10);
        for s in [0, 1, 2, 2, 5, 3, 9] {
            t.tick(&tick(s, None));
        }
        assert_eq!(t.distinct, 6);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.out_of_order, 1); // 3 after 5
        assert_eq!(t.missing(), vec![(4, 4), (6, 8)]);
        assert!(t.has_end());
        assert!(t.tick(&tick(10, None)).is_none());
        assert_eq!(t.bad, 1);
        let d = t.describe(7).unwrap();
        assert!(d.contains("missing s=4,6–8 (4 of 10)"), "{d}");
    }

    #[test]
    fn remembers_the_offset_only_with_a_pid() {
        let mut t = Track::new(4);
        t.tick(&tick(0, Some("11")));
        assert_eq!(t.last_offset, None);
        assert_eq!(t.auth(), None);
        t.pid = Some("p".into());
        assert_eq!(t.auth().unwrap(), r#"{"pid":"p"}"#);
        t.tick(&tick(1, Some("12")));
        assert_eq!(t.last_offset.as_deref(), Some("12"));
        assert_eq!(t.auth().unwrap(), r#"{"pid":"p","offset":"12"}"#);
        for s in 2..4 {
            t.tick(&tick(s, Some("x")));
        }
        assert!(t.describe(0).is_none());
    }

    #[test]
    fn finds_a_loss_at_the_seam_of_a_replay() {
        let mut t = Track::new(10);
        for s in [0, 1, 2] {
            t.tick(&tick(s, None));
        }
        // cut; back, recovered, 3 and 4 replayed; 5 never comes; 6 is the first live.
        t.tick(&tick(3, None));
        t.tick(&tick(4, None));
        t.mark_seam();
        for s in 6..10 {
            t.tick(&tick(s, None));
        }
        assert_eq!(t.missing(), vec![(5, 5)]);
        assert_eq!(t.lost_at_seams(), 1);
        // A loss elsewhere is not at a seam.
        let mut u = Track::new(4);
        u.tick(&tick(0, None));
        u.mark_seam();
        u.tick(&tick(1, None));
        u.tick(&tick(3, None));
        assert_eq!(u.lost_at_seams(), 0);
    }
}
