//! Broadcast encoding: what one `emit` to a room costs before any byte is written.
//!
//! A broadcast encodes its packet once per protocol in use and hands the same reference-
//! counted frame to every recipient. The encoder that does this,
//! `realtime_core::socketio::encode_event`, is `pub(crate)`, and recipients need live
//! connections, so this measures the nearest public paths:
//!
//! - `BroadcastOperator::emit` / `emit_payload` on a server built in-process with no
//!   clients: argument conversion, the one Socket.IO encoding, the room lookup (empty) and
//!   the adapter hand-off;
//! - the public packet encoder plus `Frame::message_prefixed`, i.e. the once-per-broadcast
//!   encoding alone, and the cost of cloning the frame once per recipient (what each of N
//!   recipients adds before its write).
//!
//! Measuring per-recipient delivery without a network would need `encode_event` public, or
//! an in-memory socket constructor for tests.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use realtime_core::{
    engine::Frame,
    socketio::packet::{encode, EventBody, One, PacketKind},
    Payload, Realtime,
};
use serde_json::json;

fn broadcast(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let server = Realtime::builder()
        .without_registered_handlers()
        .build()
        .expect("server builds");
    let ns = server.of("/").expect("the default namespace");
    let tick = json!({"room": "r", "t": 1712345678901u64, "s": 42, "d": "0123456789abcdef0123456789abcdef"});

    let mut g = c.benchmark_group("broadcast");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ns.to(room).emit(Value), no recipients", |b| {
        b.iter(|| ns.to("r").emit("tick", black_box(&tick)))
    });
    let payload = Payload::from_value(tick.clone());
    g.bench_function("ns.to(room).emit_payload(Payload), no recipients", |b| {
        b.iter(|| ns.to("r").emit_payload("tick", black_box(&payload)))
    });
    g.bench_function(
        "encode once: packet::encode + Frame::message_prefixed",
        |b| {
            b.iter(|| {
                let text = encode(
                    PacketKind::Event,
                    0,
                    "/",
                    None,
                    &EventBody {
                        event: "tick",
                        args: &One(black_box(&tick)),
                    },
                )
                .unwrap();
                Frame::message_prefixed(text)
            })
        },
    );
    let text = encode(
        PacketKind::Event,
        0,
        "/",
        None,
        &EventBody {
            event: "tick",
            args: &One(&tick),
        },
    )
    .unwrap();
    let frame = Frame::message_prefixed(text);
    for n in [1_000usize, 10_000] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(
            format!("share the frame with {n} recipients (clone per recipient)"),
            |b| {
                b.iter_batched_ref(
                    || Vec::with_capacity(n),
                    |out: &mut Vec<Frame>| {
                        for _ in 0..n {
                            out.push(black_box(&frame).clone());
                        }
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
