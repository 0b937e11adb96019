//! Room bookkeeping under concurrency: broadcasts with exceptions racing joins and leaves
//! (a deadlock once), and room changes racing a disconnect (a leak once).
//!
//! These run on a multi-threaded runtime: the faults only show when two threads meet.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use common::*;
use realtime::{Namespace, Realtime, Socket};

/// How long the concurrency tests may take in all; a deadlock shows as this deadline.
const DEADLINE: Duration = Duration::from_secs(30);

/// How much longer to run: `REALTIME_STRESS=50 cargo test --test hardening_rooms` runs the
/// soak variant (fifty times the rounds, minutes); CI runs the short one.
fn stress() -> usize {
    std::env::var("REALTIME_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The deadline, stretched for the soak variant.
fn deadline() -> Duration {
    DEADLINE * stress() as u32
}

/// Fails the whole test process if `DEADLINE` passes: a deadlock parks the runtime's
/// workers, and then no tokio timer fires to fail the test.
fn watchdog(name: &'static str) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while !flag.load(Ordering::Relaxed) {
            if start.elapsed() > deadline() + Duration::from_secs(5) {
                eprintln!("{name}: no progress within {:?}: deadlock", deadline());
                std::process::exit(101);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    done
}

fn root(server: &Server) -> Arc<Namespace> {
    server.rt.of("/").expect("namespace /")
}

async fn connect_many(server: &Server, n: usize) -> Vec<(Ws, Socket)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (ws, sid) = sio_ws(server, "/").await;
        out.push((ws, server.socket("/", &sid)));
    }
    out
}

/// Keeps reading a client so its queue never fills (a slow consumer would be closed, which
/// is not what these tests are about).
fn drain(mut ws: Ws) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = ws.inner.next().await {}
    })
}

/// The fault as it was found through the public API: sockets join and leave a room in a
/// loop on some threads (every disconnect leaves too) while others broadcast
/// `to("a").except("b")`. The broadcast used to take the room index's read lock a second
/// time from inside its own fan-out; with a writer waiting in between, both parked for ever
/// and took the runtime with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_with_except_racing_joins_and_leaves_finishes() {
    let done = watchdog("broadcast_with_except_racing_joins_and_leaves_finishes");
    let server = serve(Realtime::builder().config(config())).await;
    let clients = connect_many(&server, 40).await;
    let ns = root(&server);
    let sockets: Vec<Socket> = clients.iter().map(|(_, s)| s.clone()).collect();
    let readers: Vec<_> = clients.into_iter().map(|(ws, _)| drain(ws)).collect();
    for s in &sockets[..10] {
        s.join("a");
    }
    for s in &sockets[5..10] {
        s.join("b");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let joins = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    // Churn: 30 sockets join and leave "a" and "b" on two OS threads.
    for chunk in sockets[10..].chunks(15) {
        let (chunk, stop, joins) = (chunk.to_vec(), stop.clone(), joins.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &chunk {
                    s.join(["a", "b"]);
                    s.leave("a");
                    s.leave_all();
                    joins.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Broadcasts with an exception on two more threads.
    let rounds = 2000 * stress();
    let mut broadcasters = Vec::new();
    for _ in 0..2 {
        let ns = ns.clone();
        broadcasters.push(std::thread::spawn(move || {
            for _ in 0..rounds {
                ns.to("a").except("b").volatile().emit("tick", &1).unwrap();
                let _ = ns.to("a").except("b").sockets();
            }
        }));
    }
    let finished = tokio::task::spawn_blocking(move || {
        for b in broadcasters {
            b.join().expect("broadcaster thread");
        }
    });
    tokio::time::timeout(deadline(), finished)
        .await
        .expect("broadcasts with except finish while sockets join and leave")
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("churn thread");
    }
    assert!(joins.load(Ordering::Relaxed) > 0);

    // The server still serves: a new client connects and gets an answer.
    let (mut ws, _) = tokio::time::timeout(DEADLINE, sio_ws(&server, "/"))
        .await
        .expect("a new client can connect after the storm");
    ws.send_text(r#"42["nothing"]"#).await;
    for r in readers {
        r.abort();
    }
    done.store(true, Ordering::Relaxed);
}

/// The same race through the wire: 20 clients join and leave a room in a loop (their
/// handlers on the runtime's workers) while two clients make the server broadcast with an
/// exception and wait for each broadcast's ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_broadcasts_with_except_keep_answering() {
    let done = watchdog("end_to_end_broadcasts_with_except_keep_answering");
    async fn churn(socket: Socket) -> bool {
        socket.join(["a", "b"]);
        socket.leave("b");
        socket.leave("a");
        true
    }
    async fn blast(ns: Arc<Namespace>) -> bool {
        for _ in 0..20 {
            ns.to("a").except("b").volatile().emit("tick", &1).unwrap();
        }
        true
    }
    let server = serve(
        Realtime::builder()
            .config(config())
            .without_registered_handlers()
            .namespace("/", |ns| ns.on("churn", churn).on("blast", blast)),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut churners = Vec::new();
    for _ in 0..20 {
        let (mut ws, _) = sio_ws(&server, "/").await;
        let stop = stop.clone();
        churners.push(tokio::spawn(async move {
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                ws.send_text(&format!(r#"42{id}["churn"]"#)).await;
                // Read until our ack (ticks from the blasters arrive in between).
                loop {
                    let t = ws.recv_text_no_ping().await;
                    if t.starts_with(&format!("43{id}[")) {
                        break;
                    }
                }
                id += 1;
            }
        }));
    }
    let mut blasters = Vec::new();
    for _ in 0..2 {
        let (mut ws, _) = sio_ws(&server, "/").await;
        blasters.push(tokio::spawn(async move {
            for id in 0..(300 * stress()) as u64 {
                ws.send_text(&format!(r#"42{id}["blast"]"#)).await;
                loop {
                    let t = ws.recv_text_no_ping().await;
                    if t == format!("43{id}[true]") {
                        break;
                    }
                }
            }
        }));
    }
    tokio::time::timeout(deadline(), async {
        for b in blasters {
            b.await.expect("blaster");
        }
    })
    .await
    .expect("every broadcast is acknowledged while sockets join and leave");
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.await.expect("churner");
    }
    // And a new client still connects.
    tokio::time::timeout(DEADLINE, sio_ws(&server, "/"))
        .await
        .expect("a new client can connect");
    done.store(true, Ordering::Relaxed);
}

/// A handler that outlives its socket: `join`, `set_client_id` (and so a late `$init`
/// success) on a disconnected socket used to put its id back into the room index for ever.
#[tokio::test]
async fn room_changes_after_disconnect_are_no_ops() {
    let _logs = init();
    let server = serve(Realtime::builder().config(config())).await;
    let (ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    socket.join("early");
    drop(ws);
    wait_until("the socket is disconnected", || !socket.connected()).await;
    assert!(root(&server).rooms().is_empty());

    socket.join("late");
    socket.set_client_id("user-1");
    socket.leave("early");
    socket.leave_all();
    assert!(
        root(&server).rooms().is_empty(),
        "rooms after late changes: {:?}",
        root(&server).rooms()
    );
    assert!(socket.rooms().is_empty());
    assert_eq!(root(&server).socket_count(), 0);
    assert_no_panics();
}

/// Racing `join` against the disconnect itself, many times: never a room left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_a_disconnect_leave_nothing_behind() {
    let server = serve(Realtime::builder().config(config())).await;
    for round in 0..50 * stress() {
        let (ws, sid) = sio_ws(&server, "/").await;
        let socket = server.socket("/", &sid);
        let joiner = {
            let socket = socket.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    socket.join(format!("r{}", i % 7));
                    socket.set_client_id(format!("u{}", i % 3));
                }
            })
        };
        drop(ws);
        tokio::task::spawn_blocking(move || joiner.join().unwrap())
            .await
            .unwrap();
        wait_until("the socket is disconnected", || !socket.connected()).await;
        assert!(
            root(&server).rooms().is_empty(),
            "round {round}: rooms left behind: {:?}",
            root(&server).rooms()
        );
    }
}

/// Two concurrent `set_client_id` calls leave the socket in exactly one client room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_client_id_is_atomic() {
    let server = serve(Realtime::builder().config(config())).await;
    let (_ws, sid) = sio_ws(&server, "/").await;
    let socket = server.socket("/", &sid);
    for round in 0..200 * stress() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let socket = socket.clone();
                std::thread::spawn(move || socket.set_client_id(format!("user-{round}-{t}")))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let rooms = socket.rooms();
        assert_eq!(rooms.len(), 1, "round {round}: {rooms:?}");
        assert_eq!(&*rooms[0], format!("$client:{}", socket.client_id()));
    }
}
