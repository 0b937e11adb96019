//! What `serve` does against clients that hold connections without using them, past the
//! connection cap, when the process runs out of file descriptors, and when it shuts down.
//!
//! The fault as found: 1124 TCP connections that sent nothing (or half a request head)
//! exhausted a server with 1024 file descriptors, after which new clients and plain HTTP
//! requests hung.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use realtime::{Realtime, Socket};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn silent_and_half_sent_heads_are_closed_after_the_header_timeout() {
    let _logs = init();
    let server = serve(echo_server(config().with_header_read_timeout(ms(300)))).await;
    let started = tokio::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..30 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut half = Vec::new();
    for _ in 0..30 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        half.push(tcp);
    }
    // Meanwhile real clients are served.
    let (mut ws, _) = sio_ws(&server, "/").await;
    assert_sio_echo(&mut ws, "served").await;
    // Every idle connection is closed by the server, soon after the timeout.
    for tcp in silent.iter_mut().chain(half.iter_mut()) {
        within("the server closes an idle connection", read_to_close(tcp)).await;
    }
    let took = started.elapsed();
    assert!(took >= ms(250) && took < ms(2500), "closed after {took:?}");
    // The upgraded WebSocket is not subject to the header timeout.
    tokio::time::sleep(ms(400)).await;
    assert_sio_echo(&mut ws, "still-served").await;
}

#[tokio::test]
async fn past_the_connection_cap_clients_get_503_and_one_log_line() {
    let logs = init();
    let server = serve(echo_server(
        config()
            .with_max_connections(10)
            .with_header_read_timeout(Duration::from_secs(30)),
    ))
    .await;
    // Ten connections fill the cap (a WebSocket counts, for its whole life).
    let (mut ws, _) = sio_ws(&server, "/").await;
    let mut held = Vec::new();
    for _ in 0..9 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(ms(50)).await;
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let answer = within("a refused connection is answered", read_to_close(&mut tcp)).await;
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(answer.contains("connection limit"), "{answer:?}");
    }
    let lines = logs
        .text()
        .lines()
        .filter(|l| l.contains("connection refused: the server is at its connection cap"))
        .count();
    assert_eq!(lines, 1, "one line for the burst:\n{}", logs.text());
    // The WebSocket inside the cap still works; freeing places lets new clients in.
    assert_sio_echo(&mut ws, "inside").await;
    held.clear();
    tokio::time::sleep(ms(100)).await;
    let (mut other, _) = sio_ws(&server, "/").await;
    assert_sio_echo(&mut other, "let-in").await;
    assert_no_panics();
}

/// Run as a child process with a small open-file limit (see the test below): a server that
/// prints its port and serves until killed. Does nothing in a normal test run.
#[tokio::test]
async fn emfile_child_server() {
    if std::env::var("REALTIME_EMFILE_CHILD").is_err() {
        return;
    }
    let server = serve(echo_server(
        config()
            .with_max_connections(10_000)
            .with_header_read_timeout(Duration::from_secs(60)),
    ))
    .await;
    println!("PORT={}", server.addr.port());
    std::future::pending::<()>().await;
}

/// With its file descriptors exhausted, the server neither spins on `accept` nor stops for
/// good: it waits, and serves again once connections close.
#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_waits_and_recovers() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            r#"ulimit -n 64 && exec "$0" --exact emfile_child_server --nocapture --test-threads=1"#,
        )
        .arg(&exe)
        .env("REALTIME_EMFILE_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let port: u16 = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the child exited");
            // libtest prints `test emfile_child_server ... ` first, on the same line.
            if let Some((_, port)) = line.trim().split_once("PORT=") {
                return port.parse().unwrap();
            }
        }
    })
    .await
    .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // Far more connections than the child has descriptors: the kernel completes them into
    // the backlog, and accept fails with EMFILE.
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(Ok(tcp)) = tokio::time::timeout(ms(200), TcpStream::connect(addr)).await {
            held.push(tcp);
        }
    }
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_seconds(pid) - cpu_before;
    assert!(
        spent < 0.5,
        "the server spent {spent:.2} s of CPU in 2 s with no descriptors left"
    );

    // Once the connections close, it serves again.
    held.clear();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let mut recovered = false;
    for _ in 0..50 {
        if let Ok(Ok((inner, _))) =
            tokio::time::timeout(ms(500), tokio_tungstenite::connect_async(&url)).await
        {
            let mut ws = Ws { inner };
            ws.recv_text().await;
            sio_connect_on(&mut ws, "/").await;
            assert_sio_echo(&mut ws, "recovered").await;
            recovered = true;
            break;
        }
        tokio::time::sleep(ms(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        recovered,
        "the server did not serve again after descriptors were freed"
    );
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Graceful shutdown: a handler still running gets to finish and its reply reaches the
/// client; every connection gets what was queued and then a close; `serve_app` returns
/// only then, within the shutdown timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_handlers_and_connections() {
    async fn slow(socket: Socket) -> &'static str {
        tokio::time::sleep(ms(400)).await;
        let _ = socket.emit("before-close", &1);
        "finished"
    }
    let rt = Realtime::builder()
        .without_registered_handlers()
        .config(config().with_shutdown_timeout(Duration::from_secs(5)))
        .namespace("/", |ns| common::echo_ns(ns).on("slow", slow))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = rt.router();
    let serving = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.serve_app(listener, app, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let server_like = |path: &str| format!("ws://{addr}{path}");
    let (inner, _) =
        tokio_tungstenite::connect_async(server_like("/socket.io/?EIO=4&transport=websocket"))
            .await
            .unwrap();
    let mut ws = Ws { inner };
    ws.recv_text().await;
    sio_connect_on(&mut ws, "/").await;
    let mut plain = ws_connect(&server_like("/ws")).await;
    assert_plain_echo(&mut plain, "hi").await;

    ws.send_text(r#"421["slow"]"#).await;
    tokio::time::sleep(ms(50)).await;
    let started = tokio::time::Instant::now();
    stop.send(()).unwrap();

    // The handler finishes, its emit and its reply arrive, then the close.
    let closed = ws.expect_close().await;
    assert_eq!(
        closed.texts(),
        [r#"42["before-close",1]"#, r#"431["finished"]"#],
        "{closed:?}"
    );
    let plain_closed = plain.expect_close().await;
    assert_eq!(plain_closed.code(), Some(1001), "{plain_closed:?}");
    within("serve_app returns", serving).await.unwrap().unwrap();
    let took = started.elapsed();
    assert!(
        took >= ms(300),
        "returned before the handler finished: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

/// A handler that never finishes does not hold the shutdown past its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_is_bounded_by_its_timeout() {
    async fn forever() {
        std::future::pending::<()>().await;
    }
    let rt = Realtime::builder()
        .without_registered_handlers()
        .config(config().with_shutdown_timeout(ms(500)))
        .on("forever", forever)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = rt.router();
    let serving = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.serve_app(listener, app, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let (inner, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    let mut ws = Ws { inner };
    ws.recv_text().await;
    sio_connect_on(&mut ws, "/").await;
    ws.send_text(r#"42["forever"]"#).await;
    tokio::time::sleep(ms(50)).await;
    let started = tokio::time::Instant::now();
    stop.send(()).unwrap();
    within("serve_app returns", serving).await.unwrap().unwrap();
    let took = started.elapsed();
    assert!(took >= ms(450) && took < ms(2900), "{took:?}");
    ws.expect_close().await;
}
