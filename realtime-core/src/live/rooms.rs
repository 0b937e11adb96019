//! Rooms and broadcast targeting, behind the [`Adapter`] trait.
//!
//! The adapter decides *who* receives a broadcast; the namespace then delivers the already
//! encoded packet to each local recipient. The in-memory [`LocalAdapter`] is the default; a
//! cluster adapter (Redis) implements the same trait and additionally forwards broadcasts to
//! other nodes, so handler code never changes.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use smallvec::SmallVec;

use crate::wire::payload::{Payload, SocketId};

/// A room name. Cheap to clone; rooms are shared between their members' bookkeeping.
pub type Room = Arc<str>;

/// Whom a broadcast reaches.
#[derive(Debug, Clone, Default)]
pub struct BroadcastOptions {
    /// The union of these rooms; empty means every socket of the namespace.
    pub rooms: SmallVec<[Room; 2]>,
    /// Sockets in any of these rooms are skipped.
    pub except: SmallVec<[Room; 2]>,
    /// A socket to skip (the sender, for `broadcast` and `to(room)` from a socket).
    pub except_socket: Option<SocketId>,
    /// Drop the packet for recipients whose outbound queue is full instead of closing them.
    pub volatile: bool,
    /// Deliver on this node only (no cluster forwarding).
    pub local: bool,
}

/// Room membership of one namespace, and broadcast targeting.
///
/// Every socket is implicitly a member of the room named by its own id; adapters need not
/// store that membership (the namespace resolves it), which keeps a socket that joins no room
/// free of any adapter bookkeeping.
pub trait Adapter: Send + Sync + 'static {
    /// Adds `socket` to `rooms`.
    fn join(&self, socket: SocketId, rooms: &[Room]);
    /// Removes `socket` from `rooms`.
    fn leave(&self, socket: SocketId, rooms: &[Room]);
    /// Removes `socket` from every room (on disconnect).
    fn leave_all(&self, socket: SocketId);
    /// The rooms `socket` has joined (its own-id room not included).
    fn rooms_of(&self, socket: SocketId) -> Vec<Room>;
    /// Every room with at least one member on this node.
    fn all_rooms(&self) -> Vec<Room>;
    /// The local members of any of `rooms`, each once: a snapshot taken under one short
    /// lock. Callers deliver to the snapshot afterwards, so no lock of the adapter is held
    /// while a broadcast reaches thousands of sockets, and nothing the caller does (asking
    /// the adapter again, a socket joining) can wait on the adapter from inside it.
    fn members(&self, rooms: &[Room]) -> Vec<SocketId>;
    /// Whether `socket` is in any of `rooms`.
    fn in_any(&self, socket: SocketId, rooms: &[Room]) -> bool;

    /// Forwards a broadcast to the other nodes of a cluster, after the namespace delivered it
    /// locally. Not called for `local()` broadcasts. The in-memory adapter has no other
    /// nodes, so the default does nothing.
    fn publish(
        &self,
        _namespace: &str,
        _event: &str,
        _payload: &Payload,
        _opts: &BroadcastOptions,
    ) {
    }
}

/// The in-memory adapter: two indexes, room → members and socket → rooms.
#[derive(Debug, Default)]
pub struct LocalAdapter {
    inner: RwLock<Indexes>,
}

#[derive(Debug, Default)]
struct Indexes {
    members: HashMap<Room, HashSet<SocketId>>,
    rooms_of: HashMap<SocketId, SmallVec<[Room; 2]>>,
}

impl LocalAdapter {
    /// A new, empty adapter.
    pub fn new() -> LocalAdapter {
        LocalAdapter::default()
    }
}

impl Adapter for LocalAdapter {
    fn join(&self, socket: SocketId, rooms: &[Room]) {
        let mut ix = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for room in rooms {
            if ix.members.entry(room.clone()).or_default().insert(socket) {
                ix.rooms_of.entry(socket).or_default().push(room.clone());
            }
        }
    }

    fn leave(&self, socket: SocketId, rooms: &[Room]) {
        let mut ix = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for room in rooms {
            if let Some(set) = ix.members.get_mut(room) {
                if set.remove(&socket) && set.is_empty() {
                    ix.members.remove(room);
                }
            }
            if let Some(list) = ix.rooms_of.get_mut(&socket) {
                list.retain(|r| r != room);
                if list.is_empty() {
                    ix.rooms_of.remove(&socket);
                }
            }
        }
    }

    fn leave_all(&self, socket: SocketId) {
        let mut ix = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Some(rooms) = ix.rooms_of.remove(&socket) else {
            return;
        };
        for room in rooms {
            if let Some(set) = ix.members.get_mut(&room) {
                set.remove(&socket);
                if set.is_empty() {
                    ix.members.remove(&room);
                }
            }
        }
    }

    fn rooms_of(&self, socket: SocketId) -> Vec<Room> {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ix.rooms_of
            .get(&socket)
            .map(|r| r.to_vec())
            .unwrap_or_default()
    }

    fn all_rooms(&self) -> Vec<Room> {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ix.members.keys().cloned().collect()
    }

    fn members(&self, rooms: &[Room]) -> Vec<SocketId> {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match rooms {
            [] => Vec::new(),
            [room] => ix
                .members
                .get(room)
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default(),
            _ => {
                let mut seen = HashSet::new();
                rooms
                    .iter()
                    .filter_map(|r| ix.members.get(r))
                    .flatten()
                    .copied()
                    .filter(|id| seen.insert(*id))
                    .collect()
            }
        }
    }

    fn in_any(&self, socket: SocketId, rooms: &[Room]) -> bool {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .iter()
            .any(|r| ix.members.get(r).is_some_and(|s| s.contains(&socket)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(a: &LocalAdapter, rooms: &[&str]) -> Vec<SocketId> {
        let rooms: Vec<Room> = rooms.iter().map(|r| Room::from(*r)).collect();
        let mut out = a.members(&rooms);
        out.sort();
        out
    }

    #[test]
    fn union_deduplicates_and_leave_all_cleans_up() {
        let a = LocalAdapter::new();
        let (s1, s2) = (SocketId::new(), SocketId::new());
        a.join(s1, &["a".into(), "b".into()]);
        a.join(s2, &["b".into()]);
        let mut both = vec![s1, s2];
        both.sort();
        assert_eq!(collect(&a, &["a", "b"]), both);
        assert_eq!(collect(&a, &["a"]), vec![s1]);
        assert!(a.in_any(s2, &["b".into()]));
        a.leave_all(s1);
        assert_eq!(collect(&a, &["a", "b"]), vec![s2]);
        a.leave(s2, &["b".into()]);
        assert!(a.all_rooms().is_empty());
        assert!(a.inner.read().unwrap().rooms_of.is_empty());
    }
}
