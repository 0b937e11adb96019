//! Clusters: many nodes that behave as one server.
//!
//! [`RedisAdapter`] joins this server to a cluster on Redis pub/sub, wire-compatible with
//! Node's `@socket.io/redis-adapter` 8.x: Rust and Node socket.io nodes can share one
//! cluster, and `@socket.io/redis-emitter` reaches both. Turn it on with one line; handler
//! code does not change:
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_core::{Realtime, RedisAdapter};
//! let rt = Realtime::builder()
//!     .adapter(RedisAdapter::new("redis://127.0.0.1:6379")?)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! What reaches every node, and what a Redis outage costs: [`crate::docs::cluster`].
//!
//! - `redis`: the adapter, its connections and its request bookkeeping.
//! - `messages`: the reference adapter's channels and messages.
//! - `msgpack`: msgpack as Node writes it ↔ payloads with binary attachments.
//! - `streams`: [`RedisStreamsAdapter`], the cluster on Redis streams that also keeps
//!   connection state recovery's history and sessions (Node's
//!   `@socket.io/redis-streams-adapter`).
//! - `shared`: what both adapters share (requests awaiting answers, the command
//!   connection).

mod messages;
mod msgpack;
mod redis;
mod shared;
mod streams;

pub use self::redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterStats};
pub use messages::Parser;
pub use streams::{RedisStreamsAdapter, RedisStreamsAdapterConfig};

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets (not part of the API).

    /// Reads `bytes` as each kind of message another node can send, for both adapters;
    /// must never panic. A
    /// broadcast that decodes must survive being written again (msgpack, as this node
    /// publishes) and read back: the second writing is byte for byte the first (the first
    /// may normalise, e.g. `1.0` to `1` as notepack does), with the same event and options.
    pub fn read_messages(bytes: &[u8]) {
        use super::messages::{decode_broadcast, encode_broadcast};
        if let Ok(b) = decode_broadcast(bytes, "/") {
            let once = encode_broadcast(super::Parser::MsgPack, "fuzz", &b.packet, &b.opts);
            let back = decode_broadcast(&once, "/").expect("a re-encoded broadcast decodes");
            let twice = encode_broadcast(super::Parser::MsgPack, "fuzz", &back.packet, &back.opts);
            assert_eq!(once, twice, "writing a read broadcast again changes it");
            assert_eq!(back.packet.event, b.packet.event);
            assert_eq!(back.packet.payload.binary(), b.packet.payload.binary());
            assert_eq!(back.opts.rooms, b.opts.rooms);
            assert_eq!(back.opts.except, b.opts.except);
            assert_eq!(back.opts.volatile, b.opts.volatile);
        }
        let _ = super::messages::decode_request(bytes).map(|r| {
            let _ = r.opts();
            let _ = r.rooms();
            let _ = r.server_side_packet("/");
            let _ = r.broadcast("/");
        });
        let _ = super::messages::decode_response(bytes).map(|r| r.payload("data"));
        // The streams adapter's messages (Node's @socket.io/redis-streams-adapter).
        super::streams::fuzz_read(bytes);
    }
}
