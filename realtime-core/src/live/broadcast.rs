//! Broadcasting: choose recipients (rooms, exceptions, flags), encode once, deliver to all.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use smallvec::SmallVec;

use super::{
    namespace::Namespace,
    rooms::{BroadcastOptions, Room},
    socket::{EmitError, Socket},
};
use crate::wire::{
    codec::{self, Codec, Frames},
    payload::{Payload, SocketId},
};

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
/// excepted rooms, minus the sender when started from a socket.
#[derive(Debug, Clone)]
#[must_use = "a broadcast does nothing until emitted"]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>, opts: BroadcastOptions) -> Self {
        BroadcastOperator { ns, opts }
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

    /// Sends `event` with one argument to every recipient. The packet is encoded once per
    /// protocol in use and its bytes are shared by all recipients.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, &Payload::from_value(serde_json::to_value(data)?))
    }

    /// Sends a payload (several arguments, binary attachments) to every recipient.
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        let encode = |protocol| {
            codec::encode_event(
                protocol,
                self.ns.name(),
                event,
                payload.raw_args(),
                payload.binary(),
                None,
            )
        };
        // Fail before delivering anything if the payload cannot be encoded at all.
        let sio: Frames = encode(Codec::SocketIo)?;
        let plain: OnceLock<Option<Frames>> = OnceLock::new();
        let recipients = self.ns.recipients(&self.opts);
        for socket in &recipients {
            match socket.codec() {
                Codec::SocketIo => socket.deliver(&sio, self.opts.volatile),
                Codec::Plain => {
                    if let Some(frames) = plain.get_or_init(|| encode(Codec::Plain).ok()) {
                        socket.deliver(frames, self.opts.volatile);
                    }
                }
            }
        }
        tracing::trace!(
            ns = self.ns.name(),
            event,
            recipients = recipients.len(),
            "broadcast"
        );
        if !self.opts.local {
            self.ns
                .adapter
                .publish(self.ns.name(), event, payload, &self.opts);
        }
        Ok(())
    }

    /// The sockets this broadcast would reach.
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.recipients(&self.opts)
    }

    /// Makes every recipient join `rooms`.
    pub fn join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for s in self.sockets() {
            s.join(rooms.clone().into_vec());
        }
    }

    /// Makes every recipient leave `rooms`.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for s in self.sockets() {
            s.leave(rooms.clone().into_vec());
        }
    }

    /// Disconnects every recipient from the namespace.
    pub fn disconnect(&self) {
        for s in self.sockets() {
            s.disconnect();
        }
    }
}
