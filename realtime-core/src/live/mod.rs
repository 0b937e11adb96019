//! Live objects: connections, sockets, namespaces, rooms and broadcasts; what handlers talk
//! to, and what runs them.
//!
//! - [`core`]: a server's namespaces (fixed and dynamic) and shared state.
//! - [`connection`]: one client connection (Socket.IO over Engine.IO, or plain WebSocket)
//!   and its sockets; admitting sockets into namespaces; dispatching inbound packets.
//! - [`plain`]: the plain WebSocket endpoint.
//! - [`inbox`]: a connection's handlers, started in order off its I/O task, bounded.
//! - [`socket`]: [`Socket`](socket::Socket), one client in one namespace.
//! - [`namespace`]: [`Namespace`](namespace::Namespace), its definition and lifecycle events.
//! - [`rooms`]: room membership on this node, what a broadcast walks.
//! - [`broadcast`]: encode-once broadcasts to rooms.
//! - [`cluster`]: the seam to other nodes: the [`ClusterAdapter`](cluster::ClusterAdapter)
//!   trait, and [`LocalNode`](cluster::LocalNode), how other nodes' work reaches this one.
//! - [`event`]: one event's context; how handlers are stored and started.
//! - [`request`]: the HTTP request that opened a connection.
//! - [`gate`]: the hook features use to check sockets and events (weroll's `$init`).

pub mod broadcast;
pub mod cluster;
pub mod connection;
pub mod core;
pub mod event;
pub mod gate;
pub mod inbox;
pub mod namespace;
pub mod plain;
pub(crate) mod recovery;
pub mod request;
pub mod rooms;
pub mod socket;
