//! Connection state recovery (socket.io 4.6+), one namespace's side of it, in memory.
//!
//! Every broadcast that may be recovered (an event without an ack id, not volatile) gets an
//! offset: the namespace's next number, written as a string and appended as the packet's
//! last argument (what the socket.io client remembers as its last offset). The packet is
//! encoded once, offset included, and kept here as the frames every recipient got, with the
//! rooms it went to. A socket that drops for a reason worth recovering (the transport
//! closed or erred, a ping timed out: not a deliberate disconnect) leaves its id, rooms and
//! data here under its private id `pid`. A client that comes back within
//! `max_disconnection_duration` with that `pid` and its last offset gets the same socket
//! id, rooms and data, and every kept broadcast after the offset that it would have
//! received, before the CONNECT reply (so before anything new).
//!
//! Bounds: broadcasts are kept at most `max_disconnection_duration`, `max_packets` of them
//! and `max_bytes` in all; the oldest go first. A client whose offset is no longer kept, or
//! whose state expired, connects as a new socket (`recovered() == false`), as in Node.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Instant,
};

use serde_json::Value;

use super::rooms::{BroadcastOptions, Room};
use crate::{config::Recovery, wire::codec::Frames};

/// What a dropped socket leaves behind for its return.
#[derive(Debug, Clone)]
pub(crate) struct SavedSocket {
    /// Its socket id, as a string.
    pub(crate) sid: String,
    /// Its rooms, its own id's room included.
    pub(crate) rooms: Vec<Room>,
    /// Its application data (`Socket::set_data`), if any.
    pub(crate) data: Option<Value>,
    disconnected_at: Instant,
}

/// A recovered socket's state and the frames it missed, in order.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) socket: SavedSocket,
    pub(crate) missed: Vec<Frames>,
    /// The private id it was saved under (kept: the client keeps using it).
    pub(crate) pid: std::sync::Arc<str>,
}

struct Kept {
    offset: u64,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    frames: Frames,
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    kept: VecDeque<Kept>,
    bytes: usize,
    saved: HashMap<String, SavedSocket>,
}

/// One namespace's recovery state.
pub(crate) struct RecoveryLog {
    config: Recovery,
    next: AtomicU64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for RecoveryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryLog").finish_non_exhaustive()
    }
}

impl RecoveryLog {
    pub(crate) fn new(config: Recovery) -> RecoveryLog {
        RecoveryLog {
            config,
            next: AtomicU64::new(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether middleware is skipped for a recovered socket.
    pub(crate) fn skip_middlewares(&self) -> bool {
        self.config.skip_middlewares
    }

    /// The next broadcast's offset.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps a broadcast (already encoded with its offset) for the sockets that may come
    /// back.
    pub(crate) fn keep(&self, offset: u64, opts: &BroadcastOptions, frames: &Frames) {
        let bytes: usize = frames.iter().map(|f| f.len()).sum::<usize>() + 64;
        let now = Instant::now();
        let mut inner = self.lock();
        let mut except = opts.except.to_vec();
        if let Some(id) = opts.except_socket {
            except.push(Room::from(id.as_str()));
        }
        inner.kept.push_back(Kept {
            offset,
            at: now,
            rooms: opts.rooms.to_vec(),
            except,
            frames: frames.clone(),
            bytes,
        });
        inner.bytes += bytes;
        self.prune(&mut inner, now);
    }

    /// Drops what is too old or past the bounds.
    fn prune(&self, inner: &mut Inner, now: Instant) {
        let max_age = self.config.max_disconnection_duration;
        while let Some(front) = inner.kept.front() {
            let too_old = now.duration_since(front.at) > max_age;
            let too_many = inner.kept.len() > self.config.max_packets.max(1);
            let too_big = inner.bytes > self.config.max_bytes && inner.kept.len() > 1;
            if !(too_old || too_many || too_big) {
                break;
            }
            let gone = inner.kept.pop_front().expect("checked");
            inner.bytes -= gone.bytes;
        }
        if inner.saved.len() > 64 {
            inner
                .saved
                .retain(|_, s| now.duration_since(s.disconnected_at) <= max_age);
        }
    }

    /// Keeps a dropped socket's state under its private id.
    pub(crate) fn save(&self, pid: &str, sid: String, rooms: Vec<Room>, data: Option<Value>) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.saved.insert(
            pid.to_owned(),
            SavedSocket {
                sid,
                rooms,
                data,
                disconnected_at: now,
            },
        );
        self.prune(&mut inner, now);
    }

    /// Puts back the state `restore` took for a socket that was then not admitted (its
    /// middleware refused it, or its connection closed first), unless newer state was saved
    /// under `pid` meanwhile. Its disconnection time stays: the client may try again within
    /// the same window, as in socket.io, where a refused recovery leaves the session kept.
    pub(crate) fn put_back(&self, pid: &str, saved: SavedSocket) {
        self.lock().saved.entry(pid.to_owned()).or_insert(saved);
    }

    /// The state saved under `pid` and the broadcasts after `offset` it would have
    /// received; `None` when there is no such state, it expired, or the offset is no longer
    /// kept (the client then connects as a new socket). The state is taken: a `pid` is
    /// recovered once (unless the socket is then not admitted: see `put_back`).
    pub(crate) fn restore(&self, pid: &str, offset: &str) -> Option<Restored> {
        let offset: u64 = offset.parse().ok()?;
        let mut inner = self.lock();
        let saved = inner.saved.remove(pid)?;
        if saved.disconnected_at.elapsed() > self.config.max_disconnection_duration {
            return None;
        }
        let start = inner.kept.iter().position(|k| k.offset == offset)?;
        let missed = inner
            .kept
            .iter()
            .skip(start + 1)
            .filter(|k| was_for(&saved.rooms, &k.rooms, &k.except))
            .map(|k| k.frames.clone())
            .collect();
        Some(Restored {
            socket: saved,
            missed,
            pid: pid.into(),
        })
    }
}

/// Whether a broadcast to `rooms` except `except` reached a socket in `socket_rooms`
/// (socket.io's `shouldIncludePacket`).
fn was_for(socket_rooms: &[Room], rooms: &[Room], except: &[Room]) -> bool {
    let included = rooms.is_empty() || socket_rooms.iter().any(|r| rooms.contains(r));
    let excluded = socket_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::engineio::Frame;

    fn frames(text: &str) -> Frames {
        let mut f = Frames::new();
        f.push(Frame::Text(text.to_owned().into()));
        f
    }

    fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            ..BroadcastOptions::default()
        }
    }

    #[test]
    fn restores_what_the_socket_missed_in_order_once() {
        let log = RecoveryLog::new(Recovery::default());
        let o1 = log.next_offset();
        log.keep(o1, &opts(&[], &[]), &frames("1"));
        log.save(
            "p",
            "sid".into(),
            vec![Room::from("sid"), Room::from("a")],
            None,
        );
        for (text, rooms, except) in [
            ("all", &[][..], &[][..]),
            ("room a", &["a"][..], &[][..]),
            ("room b", &["b"][..], &[][..]),
            ("all but a", &[][..], &["a"][..]),
            ("to me", &["sid"][..], &[][..]),
        ] {
            let o = log.next_offset();
            log.keep(o, &opts(rooms, except), &frames(text));
        }
        let restored = log.restore("p", &o1.to_string()).unwrap();
        let texts: Vec<String> = restored
            .missed
            .iter()
            .map(|f| match &f[0] {
                Frame::Text(t) => t.to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(texts, ["all", "room a", "to me"]);
        assert_eq!(restored.socket.sid, "sid");
        assert!(log.restore("p", &o1.to_string()).is_none(), "once");
    }

    #[test]
    fn state_put_back_can_be_restored_again_but_never_replaces_newer_state() {
        let log = RecoveryLog::new(Recovery::default());
        let o1 = log.next_offset();
        log.keep(o1, &opts(&[], &[]), &frames("1"));
        log.save("p", "sid".into(), vec![Room::from("sid")], None);
        let o2 = log.next_offset();
        log.keep(o2, &opts(&[], &[]), &frames("2"));
        let taken = log.restore("p", &o1.to_string()).unwrap();
        log.put_back("p", taken.socket);
        let again = log.restore("p", &o1.to_string()).expect("put back");
        assert_eq!(again.missed.len(), 1);
        log.save("p", "newer".into(), vec![Room::from("newer")], None);
        log.put_back("p", again.socket);
        let newest = log.restore("p", &o2.to_string()).unwrap();
        assert_eq!(newest.socket.sid, "newer");
    }

    #[test]
    fn an_offset_no_longer_kept_is_a_new_connection() {
        let log = RecoveryLog::new(Recovery {
            max_packets: 2,
            ..Recovery::default()
        });
        let first = log.next_offset();
        log.keep(first, &opts(&[], &[]), &frames("1"));
        for _ in 0..3 {
            let o = log.next_offset();
            log.keep(o, &opts(&[], &[]), &frames("x"));
        }
        log.save("p", "sid".into(), vec![], None);
        assert!(log.restore("p", &first.to_string()).is_none());
        assert!(log.restore("unknown", "1").is_none());
        assert!(log.restore("p", "not a number").is_none());
    }
}
