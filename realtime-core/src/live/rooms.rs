//! Rooms and broadcast targeting on this node: the [`RoomIndex`] decides *who* receives a
//! broadcast here; the namespace then delivers the already encoded packet to each of them.
//! Reaching other nodes is the cluster adapter's work ([`super::cluster`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use smallvec::SmallVec;

use crate::wire::payload::SocketId;

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

impl BroadcastOptions {
    /// The excepted rooms, the skipped socket folded in as its id room: how other nodes
    /// and connection state recovery's history see them.
    pub(crate) fn except_with_socket(&self) -> SmallVec<[&str; 4]> {
        let mut except: SmallVec<[&str; 4]> = self.except.iter().map(|r| &**r).collect();
        if let Some(id) = &self.except_socket {
            except.push(id.as_str());
        }
        except
    }
}

/// Room membership of one namespace on this node: two indexes, room → members and
/// socket → rooms. What a broadcast walks, so it is synchronous and never leaves the process;
/// the cross-node work of a cluster is the [`ClusterAdapter`](super::cluster::ClusterAdapter)'s.
///
/// Every socket is implicitly a member of the room named by its own id; the index does not
/// store that membership (the namespace resolves it), which keeps a socket that joins no room
/// free of any bookkeeping here.
#[derive(Debug, Default)]
pub struct RoomIndex {
    inner: RwLock<Indexes>,
}

#[derive(Debug, Default)]
struct Indexes {
    members: HashMap<Room, HashSet<SocketId>>,
    rooms_of: HashMap<SocketId, SmallVec<[Room; 2]>>,
}

impl RoomIndex {
    /// A new, empty index.
    pub fn new() -> RoomIndex {
        RoomIndex::default()
    }

    /// Adds `socket` to `rooms`.
    pub fn join(&self, socket: SocketId, rooms: &[Room]) {
        let mut ix = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for room in rooms {
            if ix.members.entry(room.clone()).or_default().insert(socket) {
                ix.rooms_of.entry(socket).or_default().push(room.clone());
            }
        }
    }

    /// Removes `socket` from `rooms`.
    pub fn leave(&self, socket: SocketId, rooms: &[Room]) {
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

    /// Removes `socket` from every room (on disconnect).
    pub fn leave_all(&self, socket: SocketId) {
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

    /// The rooms `socket` has joined (its own-id room not included).
    pub fn rooms_of(&self, socket: SocketId) -> Vec<Room> {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ix.rooms_of
            .get(&socket)
            .map(|r| r.to_vec())
            .unwrap_or_default()
    }

    /// Every room with at least one member on this node.
    pub fn all_rooms(&self) -> Vec<Room> {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ix.members.keys().cloned().collect()
    }

    /// Whether `room` has a member on this node (socket-id rooms not included).
    pub fn has_room(&self, room: &str) -> bool {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ix.members.contains_key(room)
    }

    /// The members of any of `rooms`, each once: a snapshot taken under one short lock.
    /// Callers deliver to the snapshot afterwards, so no lock is held while a broadcast
    /// reaches thousands of sockets, and nothing the caller does (asking the index again, a
    /// socket joining) can wait on the index from inside it.
    pub fn members(&self, rooms: &[Room]) -> Vec<SocketId> {
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

    /// Whether `socket` is in any of `rooms`.
    pub fn in_any(&self, socket: SocketId, rooms: &[Room]) -> bool {
        let ix = self.inner.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .iter()
            .any(|r| ix.members.get(r).is_some_and(|s| s.contains(&socket)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(a: &RoomIndex, rooms: &[&str]) -> Vec<SocketId> {
        let rooms: Vec<Room> = rooms.iter().map(|r| Room::from(*r)).collect();
        let mut out = a.members(&rooms);
        out.sort();
        out
    }

    #[test]
    fn union_deduplicates_and_leave_all_cleans_up() {
        let a = RoomIndex::new();
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
