//! What other cluster nodes (or `@socket.io/redis-emitter`) publish on Redis: broadcasts,
//! requests and responses, msgpack or JSON. Any bytes must be refused or read without a
//! panic; a broadcast that is read must survive being written again and read back unchanged
//! (see `realtime_core::cluster::fuzzing::read_messages`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    realtime_core::cluster::fuzzing::read_messages(data);
});
