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
    sync::{Arc, Mutex},
    time::Instant,
};

use serde_json::Value;

use super::{
    cluster::SessionState,
    rooms::{BroadcastOptions, Room},
};
use crate::{
    config::Recovery,
    wire::{codec::Frames, payload::Payload},
};

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

/// The last offset a client saw: where its replay starts.
#[derive(Debug, Clone)]
pub(crate) enum Offset {
    /// In this node's memory.
    Memory(u64),
    /// In the cluster adapter's store (a stream entry id for the Redis streams adapter).
    Cluster(Arc<str>),
}

/// A socket coming back: its saved state, and where what it missed starts. What it missed
/// is read when it joins its namespace (see [`RecoveryLog::replay`]), so that nothing sent
/// in between is lost.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) socket: SavedSocket,
    /// The private id it was saved under (kept: the client keeps using it).
    pub(crate) pid: Arc<str>,
    pub(crate) from: Offset,
}

impl Restored {
    /// A session the cluster's store gave back for a client whose last offset was
    /// `offset`; `None` if its socket id is not one (written by something else).
    pub(crate) fn from_cluster(session: SessionState, offset: &str) -> Option<Restored> {
        crate::wire::payload::SocketId::parse(&session.sid)?;
        Some(Restored {
            socket: SavedSocket {
                sid: session.sid,
                rooms: session.rooms.into_iter().map(Room::from).collect(),
                data: Some(session.data).filter(|d| !d.is_null()),
                disconnected_at: Instant::now(),
            },
            pid: session.pid.into(),
            from: Offset::Cluster(offset.into()),
        })
    }
}

struct Kept {
    offset: u64,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    /// As Socket.IO clients got it (encoded once, offset included).
    frames: Frames,
    /// The event and its arguments, to encode for a plain WebSocket client that comes back
    /// (rare: encoded then).
    event: Arc<str>,
    payload: Payload,
    bytes: usize,
}

/// A broadcast a returning socket missed.
pub(crate) struct Missed {
    /// As a Socket.IO client gets it.
    pub(crate) frames: Frames,
    pub(crate) event: Arc<str>,
    /// Its arguments, without the offset.
    pub(crate) payload: Payload,
    pub(crate) offset: String,
}

#[derive(Default)]
struct Inner {
    /// The offset of the next broadcast.
    next: u64,
    kept: VecDeque<Kept>,
    bytes: usize,
    saved: HashMap<String, SavedSocket>,
}

/// One namespace's recovery state.
///
/// One lock orders everything: a broadcast takes its offset, picks its recipients and is
/// kept under it ([`record`](Self::record)); a recovered socket joins the namespace and
/// reads what it missed under it ([`replay`](Self::replay)). So every broadcast either
/// picked the socket as a recipient or is in its replay, never both, never neither.
pub(crate) struct RecoveryLog {
    config: Recovery,
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
            inner: Mutex::new(Inner {
                next: 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a dropped socket's state is kept.
    pub(crate) fn max_disconnection_duration(&self) -> std::time::Duration {
        self.config.max_disconnection_duration
    }

    /// Whether middleware is skipped for a recovered socket.
    pub(crate) fn skip_middlewares(&self) -> bool {
        self.config.skip_middlewares
    }

    /// Records a broadcast: `send` gets its offset and returns what it needs to send it
    /// (its recipients, say) and its frames, encoded once with the offset, which are kept
    /// for the sockets that may come back. Nothing is kept if `send` fails.
    pub(crate) fn record<R, E>(
        &self,
        event: &str,
        payload: &Payload,
        opts: &BroadcastOptions,
        send: impl FnOnce(u64) -> Result<(R, Frames), E>,
    ) -> Result<R, E> {
        let now = Instant::now();
        let mut inner = self.lock();
        let offset = inner.next;
        let (out, frames) = send(offset)?;
        inner.next += 1;
        let bytes: usize = frames.iter().map(|f| f.len()).sum::<usize>() * 2 + 64;
        let except = opts
            .except_with_socket()
            .iter()
            .map(|r| Room::from(*r))
            .collect();
        inner.kept.push_back(Kept {
            offset,
            at: now,
            rooms: opts.rooms.to_vec(),
            except,
            frames,
            event: event.into(),
            payload: payload.clone(),
            bytes,
        });
        inner.bytes += bytes;
        self.prune(&mut inner, now);
        Ok(out)
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

    /// Puts back the state `take` took for a socket that was then not admitted (its
    /// middleware refused it, or its connection closed first), unless newer state was saved
    /// under `pid` meanwhile. Its disconnection time stays: the client may try again within
    /// the same window, as in socket.io, where a refused recovery leaves the session kept.
    pub(crate) fn put_back(&self, pid: &str, saved: SavedSocket) {
        self.lock().saved.entry(pid.to_owned()).or_insert(saved);
    }

    /// Takes the state saved under `pid` if the client may come back: it did within
    /// `max_disconnection_duration`, and its last `offset` is still kept (else it would
    /// miss what was dropped). `None` makes it a new socket. A `pid` is recovered once
    /// (unless the socket is then not admitted: see `put_back`).
    pub(crate) fn take(&self, pid: &str, offset: &str) -> Option<Restored> {
        let offset: u64 = offset.parse().ok()?;
        let mut inner = self.lock();
        let saved = inner.saved.remove(pid)?;
        if saved.disconnected_at.elapsed() > self.config.max_disconnection_duration {
            return None;
        }
        // Everything after `offset` is still kept (the broadcast at `offset` itself may be
        // gone: the client has it), and `offset` is one this log gave.
        let first_kept = inner.kept.front().map_or(inner.next, |k| k.offset);
        let kept = offset < inner.next && offset.saturating_add(1) >= first_kept;
        kept.then(|| Restored {
            socket: saved,
            pid: pid.into(),
            from: Offset::Memory(offset),
        })
    }

    /// Runs `join` (which makes the socket a recipient of what comes next) and returns the
    /// broadcasts after `after` that a socket in `rooms` would have received, in order.
    pub(crate) fn replay(&self, after: u64, rooms: &[Room], join: impl FnOnce()) -> Vec<Missed> {
        let inner = self.lock();
        join();
        inner
            .kept
            .iter()
            .filter(|k| k.offset > after)
            .filter(|k| was_for(rooms, &k.rooms, &k.except))
            .map(|k| Missed {
                frames: k.frames.clone(),
                event: k.event.clone(),
                payload: k.payload.clone(),
                offset: k.offset.to_string(),
            })
            .collect()
    }
}

/// Whether a broadcast to `rooms` except `except` reached a socket in `socket_rooms`
/// (socket.io's `shouldIncludePacket`).
pub(crate) fn was_for(socket_rooms: &[Room], rooms: &[Room], except: &[Room]) -> bool {
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

    fn record(log: &RecoveryLog, opts: &BroadcastOptions, text: &str) -> u64 {
        log.record("e", &Payload::new(), opts, |offset| {
            Ok::<_, ()>((offset, frames(text)))
        })
        .unwrap()
    }

    fn texts(missed: &[Missed]) -> Vec<String> {
        missed
            .iter()
            .map(|m| match &m.frames[0] {
                Frame::Text(t) => t.to_string(),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn restores_what_the_socket_missed_in_order_once() {
        let log = RecoveryLog::new(Recovery::default());
        let o1 = record(&log, &opts(&[], &[]), "1");
        let rooms = vec![Room::from("sid"), Room::from("a")];
        log.save("p", "sid".into(), rooms.clone(), None);
        for (text, to, except) in [
            ("all", &[][..], &[][..]),
            ("room a", &["a"][..], &[][..]),
            ("room b", &["b"][..], &[][..]),
            ("all but a", &[][..], &["a"][..]),
            ("to me", &["sid"][..], &[][..]),
        ] {
            record(&log, &opts(to, except), text);
        }
        let restored = log.take("p", &o1.to_string()).unwrap();
        assert_eq!(restored.socket.sid, "sid");
        let Offset::Memory(after) = restored.from else {
            unreachable!()
        };
        let mut joined = false;
        let missed = log.replay(after, &restored.socket.rooms, || joined = true);
        assert!(joined);
        assert_eq!(texts(&missed), ["all", "room a", "to me"]);
        assert!(log.take("p", &o1.to_string()).is_none(), "once");
    }

    #[test]
    fn a_client_that_missed_nothing_comes_back() {
        let log = RecoveryLog::new(Recovery::default());
        let last = record(&log, &opts(&[], &[]), "1");
        log.save("p", "sid".into(), vec![Room::from("sid")], None);
        let restored = log.take("p", &last.to_string()).unwrap();
        assert!(log.replay(last, &restored.socket.rooms, || {}).is_empty());
    }

    #[test]
    fn state_put_back_can_be_restored_again_but_never_replaces_newer_state() {
        let log = RecoveryLog::new(Recovery::default());
        let o1 = record(&log, &opts(&[], &[]), "1");
        log.save("p", "sid".into(), vec![Room::from("sid")], None);
        let o2 = record(&log, &opts(&[], &[]), "2");
        let taken = log.take("p", &o1.to_string()).unwrap();
        log.put_back("p", taken.socket);
        let again = log.take("p", &o1.to_string()).expect("put back");
        assert_eq!(texts(&log.replay(o1, &again.socket.rooms, || {})), ["2"]);
        log.save("p", "newer".into(), vec![Room::from("newer")], None);
        log.put_back("p", again.socket);
        let newest = log.take("p", &o2.to_string()).unwrap();
        assert_eq!(newest.socket.sid, "newer");
    }

    #[test]
    fn an_offset_no_longer_kept_is_a_new_connection() {
        let log = RecoveryLog::new(Recovery {
            max_packets: 2,
            ..Recovery::default()
        });
        let first = record(&log, &opts(&[], &[]), "1");
        for _ in 0..3 {
            record(&log, &opts(&[], &[]), "x");
        }
        log.save("p", "sid".into(), vec![], None);
        assert!(log.take("p", &first.to_string()).is_none());
        assert!(log.take("unknown", "1").is_none());
        log.save("q", "sid".into(), vec![], None);
        assert!(log.take("q", "not a number").is_none());
    }

    #[test]
    fn a_client_whose_own_last_broadcast_was_dropped_but_missed_none_comes_back() {
        let log = RecoveryLog::new(Recovery {
            max_packets: 2,
            ..Recovery::default()
        });
        let seen = record(&log, &opts(&[], &[]), "seen");
        log.save("p", "sid".into(), vec![Room::from("sid")], None);
        record(&log, &opts(&[], &[]), "1");
        record(&log, &opts(&[], &[]), "2");
        let back = log
            .take("p", &seen.to_string())
            .expect("nothing it missed was dropped");
        assert_eq!(
            texts(&log.replay(seen, &back.socket.rooms, || {})),
            ["1", "2"]
        );
        log.save("q", "sid".into(), vec![], None);
        assert!(
            log.take("q", "99").is_none(),
            "an offset this log never gave"
        );
    }

    #[test]
    fn a_failed_broadcast_takes_no_offset() {
        let log = RecoveryLog::new(Recovery::default());
        let failed = log.record("e", &Payload::new(), &opts(&[], &[]), |_| {
            Err::<((), Frames), _>("no")
        });
        assert!(failed.is_err());
        assert_eq!(record(&log, &opts(&[], &[]), "1"), 1);
    }
}
