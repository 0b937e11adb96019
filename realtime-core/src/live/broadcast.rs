//! Broadcasting: choose recipients (rooms, exceptions, flags), encode once, deliver to all.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use smallvec::SmallVec;

use super::{
    cluster::{AckEvent, BroadcastAcks, ClusterError, FetchedSocket},
    namespace::Namespace,
    rooms::{BroadcastOptions, Room},
    socket::{EmitError, Socket},
};
use crate::wire::payload::{Payload, SocketId};

/// A typed room: a value that knows its room name, so handlers pass `GameRoom(42)` instead
/// of formatting `"game:42"` in several places.
///
/// ```
/// use realtime_core::{Room, RoomName};
///
/// struct GameRoom(u64);
///
/// impl RoomName for GameRoom {
///     fn room_name(&self) -> Room {
///         format!("game:{}", self.0).into()
///     }
/// }
/// // socket.join(GameRoom(42)); socket.to(GameRoom(42)).emit("move", &m);
/// ```
pub trait RoomName {
    /// The room's name.
    fn room_name(&self) -> Room;
}

impl<T: RoomName> IntoRooms for T {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![self.room_name()]
    }
}

/// Room arguments: a name, several names, owned `Room`s, or typed rooms ([`RoomName`]).
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> SmallVec<[Room; 2]>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Room::from(self)]
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Room::from(self)]
    }
}
impl IntoRooms for &String {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Room::from(self.as_str())]
    }
}
impl IntoRooms for Room {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![self]
    }
}
impl IntoRooms for SocketId {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Room::from(self.as_str())]
    }
}
impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

/// A broadcast being described: `ns.to("a").to("b").except("c").volatile().emit(...)`.
///
/// Recipients are the union of the target rooms (each socket once), minus sockets in the
/// excepted rooms, minus the sender when started from a socket: on this node and, with a
/// cluster adapter, on every other node too (unless [`local`](Self::local)).
#[derive(Debug, Clone)]
#[must_use = "a broadcast does nothing until emitted"]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
    /// How long `emit_with_ack` waits; the configured ack timeout if unset.
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>, opts: BroadcastOptions) -> Self {
        BroadcastOperator {
            ns,
            opts,
            timeout: None,
        }
    }

    /// Adds target rooms.
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Skips sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Drops the packet for recipients whose queue is full instead of closing them.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Delivers on this node only, even with a cluster adapter.
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for the acks.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn cluster(&self) -> Option<&Arc<dyn super::cluster::ClusterAdapter>> {
        self.ns.cluster().filter(|_| !self.opts.local)
    }

    /// Whether this broadcast is stored in the cluster for connection state recovery:
    /// recovery keeps its history there, and the broadcast may be recovered (not volatile;
    /// a broadcast with acks never is).
    fn stored(&self) -> bool {
        self.ns.recovery_in_cluster() && !self.opts.volatile
    }

    /// Sends `event` with one argument to every recipient. The packet is encoded once per
    /// protocol in use and its bytes are shared by all recipients; other nodes get one
    /// message.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, &Payload::from_value(serde_json::to_value(data)?))
    }

    /// Sends a payload (several arguments, binary attachments) to every recipient.
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        if let Some(cluster) = self.cluster().filter(|_| self.stored()) {
            // Connection state recovery across nodes: the adapter stores the broadcast and
            // delivers it here too, with the offset it was stored under (every node's
            // clients then see one offset per broadcast, in one order).
            let packet = self.ns.cluster_packet(event, payload.clone());
            let (ns, opts) = (self.ns.clone(), self.opts.clone());
            let (event, payload) = (event.to_owned(), payload.clone());
            cluster.broadcast_stored(
                &packet,
                &self.opts,
                Box::new(move || {
                    if let Err(err) = ns.deliver_stored(&event, &payload, &opts, None) {
                        tracing::warn!(ns = ns.name(), event, %err, "cannot deliver a broadcast");
                    }
                }),
            );
            return Ok(());
        }
        self.ns.deliver(event, payload, &self.opts)?;
        if let Some(cluster) = self.cluster() {
            cluster.broadcast(&self.ns.cluster_packet(event, payload.clone()), &self.opts);
        }
        Ok(())
    }

    /// Sends `event` to every recipient and gathers their acks (socket.io's
    /// `io.timeout(ms).emitWithAck(...)`): each recipient's first ack argument, on every
    /// node, for at most the [`timeout`](Self::timeout) (the configured ack timeout if
    /// unset). See [`BroadcastAcks`].
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastAcks, EmitError> {
        self.emit_payload_with_ack(event, &Payload::from_value(serde_json::to_value(data)?))
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with a payload (several arguments, binary).
    pub fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: &Payload,
    ) -> Result<BroadcastAcks, EmitError> {
        let timeout = self.timeout.unwrap_or(self.ns.shared.config.ack_timeout);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let local = self
            .ns
            .deliver_with_ack(event, payload, &self.opts, tx.clone())?;
        let other_servers = match self.cluster() {
            None => Some(0),
            Some(cluster) => {
                cluster.broadcast_with_ack(
                    &self.ns.cluster_packet(event, payload.clone()),
                    &self.opts,
                    timeout,
                    tx.clone(),
                );
                let count = cluster.server_count(self.ns.name());
                tokio::spawn(async move {
                    match count.await {
                        Ok(n) => {
                            let _ = tx.send(AckEvent::Servers(n.saturating_sub(1)));
                        }
                        // Unknown: the wait ends at the timeout.
                        Err(err) => {
                            tracing::warn!(%err, "broadcast with acks: cannot count the nodes")
                        }
                    }
                });
                None
            }
        };
        Ok(BroadcastAcks::new(rx, timeout, local, other_servers))
    }

    /// The sockets this broadcast would reach on this node.
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.recipients(&self.opts)
    }

    /// The sockets this broadcast would reach on every node (socket.io's
    /// `fetchSockets()`): id, rooms, handshake and data of each, and operations that reach
    /// it wherever it is connected.
    pub async fn fetch_sockets(&self) -> Result<Vec<FetchedSocket>, ClusterError> {
        let local = self.sockets();
        let remote = match self.cluster() {
            Some(cluster) => cluster.fetch_sockets(self.ns.name(), &self.opts).await?,
            None => Vec::new(),
        };
        let mut out: Vec<FetchedSocket> = local
            .into_iter()
            .map(|s| FetchedSocket::new(self.ns.clone(), s.details(), Some(s)))
            .collect();
        out.extend(
            remote
                .into_iter()
                .map(|d| FetchedSocket::new(self.ns.clone(), d, None)),
        );
        Ok(out)
    }

    /// Makes every recipient join `rooms`, on every node.
    pub fn join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for s in self.sockets() {
            s.join(rooms.clone().into_vec());
        }
        if let Some(cluster) = self.cluster() {
            cluster.add_sockets(self.ns.name(), &self.opts, &rooms);
        }
    }

    /// Makes every recipient leave `rooms`, on every node.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for s in self.sockets() {
            s.leave(rooms.clone().into_vec());
        }
        if let Some(cluster) = self.cluster() {
            cluster.del_sockets(self.ns.name(), &self.opts, &rooms);
        }
    }

    /// Disconnects every recipient from the namespace, on every node.
    pub fn disconnect(&self) {
        self.disconnect_sockets(false);
    }

    /// Closes the whole connection of every recipient (all its namespaces), on every node.
    pub fn close_connections(&self) {
        self.disconnect_sockets(true);
    }

    fn disconnect_sockets(&self, close: bool) {
        for s in self.sockets() {
            if close {
                s.close_connection();
            } else {
                s.disconnect();
            }
        }
        if let Some(cluster) = self.cluster() {
            cluster.disconnect_sockets(self.ns.name(), &self.opts, close);
        }
    }
}
