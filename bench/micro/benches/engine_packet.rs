//! Engine.IO v4 packets (`realtime_core::engine::packet`): decoding what clients send on
//! both transports, and encoding long-polling response bodies.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use realtime_core::engine::packet::{
    decode_payload, decode_record, decode_text, encode_record, Frame, PacketType,
};

const EVENT: &str =
    r#"42["fanout",{"room":"r","t":1712345678901,"s":42,"d":"0123456789abcdef0123456789abcdef"}]"#;

fn polling_body(records: usize) -> String {
    let mut body = String::new();
    for i in 0..records {
        let frame = if i % 5 == 4 {
            Frame::Binary(Bytes::from(vec![7u8; 64]))
        } else {
            Frame::text(PacketType::Message, &EVENT[1..])
        };
        encode_record(&mut body, &frame);
    }
    body
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("text message (WebSocket frame)", |b| {
        b.iter(|| decode_text(black_box(EVENT)))
    });
    g.bench_function("ping", |b| b.iter(|| decode_text(black_box("2"))));
    let binary = format!("b{}", "AAECAwQFBgcICQoLDA0ODw".repeat(4));
    g.bench_function("binary polling record (base64, 64 B)", |b| {
        b.iter(|| decode_record(black_box(&binary)))
    });
    let body = polling_body(10);
    g.throughput(Throughput::Elements(10));
    g.bench_function("polling payload, 10 records", |b| {
        b.iter(|| decode_payload(black_box(&body)))
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Frame::text message", |b| {
        b.iter(|| Frame::text(PacketType::Message, black_box(&EVENT[1..])))
    });
    let frames: Vec<Frame> = (0..10)
        .map(|i| {
            if i % 5 == 4 {
                Frame::Binary(Bytes::from(vec![7u8; 64]))
            } else {
                Frame::text(PacketType::Message, &EVENT[1..])
            }
        })
        .collect();
    g.throughput(Throughput::Elements(10));
    g.bench_function("polling body, 10 records", |b| {
        b.iter(|| {
            let mut body = String::with_capacity(1024);
            for f in &frames {
                encode_record(&mut body, black_box(f));
            }
            body
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
