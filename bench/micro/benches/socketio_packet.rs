//! Socket.IO v5 packets (`realtime_core::socketio::packet`): parsing what clients send and
//! encoding events and acks.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use realtime_core::socketio::packet::{encode, header, parse, AckBody, EventBody, One, PacketKind};
use serde_json::{json, Value};

fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("socketio/parse");
    g.throughput(Throughput::Elements(1));
    let cases = [
        (
            "event with ack",
            r#"212["fanout",{"room":"r","t":1712345678901,"s":42,"d":"0123456789abcdef0123456789abcdef"}]"#,
        ),
        (
            "event, namespace, 3 args",
            r#"2/chat,["msg","hello",{"from":"ann","to":["bob","cy"]},7]"#,
        ),
        (
            "binary event header",
            r#"51-["upload",{"_placeholder":true,"num":0},{"name":"a.png"}]"#,
        ),
        ("ack", r#"312[true]"#),
        (
            "connect with auth",
            r#"0{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}"#,
        ),
    ];
    for (name, text) in cases {
        g.bench_function(name, |b| b.iter(|| parse(black_box(text))));
    }
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("socketio/encode");
    g.throughput(Throughput::Elements(1));
    let tick = json!({"room": "r", "t": 1712345678901u64, "s": 42, "d": "0123456789abcdef0123456789abcdef"});
    g.bench_function("event, one serde_json::Value arg", |b| {
        b.iter(|| {
            encode(
                PacketKind::Event,
                0,
                "/",
                None,
                &EventBody {
                    event: "tick",
                    args: &One(black_box(&tick)),
                },
            )
        })
    });
    #[derive(serde::Serialize)]
    struct Tick<'a> {
        room: &'a str,
        t: u64,
        s: u32,
        d: &'a str,
    }
    let typed = Tick {
        room: "r",
        t: 1712345678901,
        s: 42,
        d: "0123456789abcdef0123456789abcdef",
    };
    g.bench_function("event, one typed struct arg", |b| {
        b.iter(|| {
            encode(
                PacketKind::Event,
                0,
                "/",
                None,
                &EventBody {
                    event: "tick",
                    args: &One(black_box(&typed)),
                },
            )
        })
    });
    let args: Vec<Value> = vec![json!("hello"), json!({"from": "ann"}), json!(7)];
    g.bench_function("event, namespace and ack id, 3 args", |b| {
        b.iter(|| {
            encode(
                PacketKind::Event,
                0,
                "/chat",
                Some(12),
                &EventBody {
                    event: "msg",
                    args: black_box(&args[..]),
                },
            )
        })
    });
    g.bench_function("ack, one arg", |b| {
        b.iter(|| {
            encode(
                PacketKind::Ack,
                0,
                "/",
                Some(12),
                &AckBody(&One(black_box(&true))),
            )
        })
    });
    g.bench_function("header only", |b| {
        b.iter(|| header(PacketKind::BinaryEvent, black_box(2), "/chat", Some(12)))
    });
    g.finish();
}

criterion_group!(benches, parsing, encoding);
criterion_main!(benches);
