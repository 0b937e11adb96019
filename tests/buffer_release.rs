//! After one large message a connection's buffers return to their idle size. One 990 KB
//! event used to leave ~943 KB resident for the life of the connection (~1.9 MB when the
//! reply was large too): the WebSocket read and write buffers grew to the largest frame and
//! never shrank.
//!
//! Measured exactly, with a global allocator that counts live heap bytes, against clients
//! that keep no buffers themselves (raw sockets, frames read and dropped as they arrive).

mod common;

use std::{alloc::System, time::Duration};

use cap::Cap;

use common::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Counts live heap bytes (the `cap` crate's allocator, without a limit).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// A WebSocket client on a raw socket: frames are read into a small fixed buffer and
/// dropped, so the client side holds nothing that grows.
struct RawClient {
    tcp: TcpStream,
}

impl RawClient {
    async fn connect(server: &Server, path: &str) -> RawClient {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            server.addr
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        // Read the response head byte by byte (no read-ahead into the first frame).
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        RawClient { tcp }
    }

    /// Sends a masked text frame, the payload written in pieces.
    async fn send(&mut self, text: &str) {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let len = text.len();
        let mut header = vec![0x81];
        if len < 126 {
            header.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            header.push(0x80 | 127);
            header.extend_from_slice(&(len as u64).to_be_bytes());
        }
        header.extend_from_slice(&mask);
        self.tcp.write_all(&header).await.unwrap();
        for (n, chunk) in text.as_bytes().chunks(8192).enumerate() {
            let masked: Vec<u8> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[(n * 8192 + i) % 4])
                .collect();
            self.tcp.write_all(&masked).await.unwrap();
        }
    }

    /// Reads frames until one of at least `min_len` bytes has gone by; returns the payloads
    /// of the small frames seen (up to 200 bytes each), dropping everything else unread.
    async fn read_until_len(&mut self, min_len: u64) -> Vec<String> {
        let mut small = Vec::new();
        loop {
            let b0 = self.tcp.read_u8().await.unwrap();
            let b1 = self.tcp.read_u8().await.unwrap();
            assert_eq!(b1 & 0x80, 0, "server frames are not masked");
            let len = match b1 & 0x7F {
                126 => u64::from(self.tcp.read_u16().await.unwrap()),
                127 => self.tcp.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut left = len;
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            while left > 0 {
                let n = self
                    .tcp
                    .read(&mut buf[..left.min(4096) as usize])
                    .await
                    .unwrap();
                assert!(n > 0, "connection closed");
                if kept.len() < 200 {
                    kept.extend_from_slice(&buf[..n.min(200 - kept.len())]);
                }
                left -= n as u64;
            }
            if b0 & 0x0F == 0x1 && len <= 200 {
                small.push(String::from_utf8(kept).unwrap());
            }
            if len >= min_len {
                return small;
            }
        }
    }
}

const CLIENTS: usize = 20;
const BIG: usize = 990_000;

/// Live heap bytes once the server has settled (tasks that finish, free).
async fn settled_live() -> isize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    ALLOCATOR.allocated() as isize
}

/// Both transports, one after the other: the allocator counts the whole process, so the
/// two must not run at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_leaves_no_buffer_behind() {
    socketio().await;
    plain_websocket().await;
    polling().await;
}

async fn socketio() {
    let server =
        serve(echo_server(config().with_max_payload(2_000_000)).without_registered_handlers())
            .await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = RawClient::connect(&server, "/socket.io/?EIO=4&transport=websocket").await;
        c.send("40").await;
        // open packet, then the CONNECT reply
        loop {
            let got = c.read_until_len(0).await;
            if got.iter().any(|t| t.starts_with("40{")) {
                break;
            }
        }
        clients.push(c);
    }
    let before = settled_live().await;
    let big = format!(r#"42["echo","{}"]"#, "x".repeat(BIG));
    for c in &mut clients {
        c.send(&big).await;
        c.read_until_len(BIG as u64).await; // the echo, as large
    }
    drop(big);
    let after = settled_live().await;
    let per_client = (after - before) / CLIENTS as isize;
    eprintln!("socket.io: {per_client} bytes kept per connection");
    assert!(
        per_client < 16 * 1024,
        "each connection kept {per_client} bytes after one {BIG}-byte message and its echo"
    );
    // The connections still work.
    for c in &mut clients {
        c.send(r#"42["echo","small"]"#).await;
        let got = c.read_until_len(10).await;
        assert!(got.iter().any(|t| t == r#"42["echo","small"]"#), "{got:?}");
    }
}

async fn plain_websocket() {
    let server =
        serve(echo_server(config().with_max_payload(2_000_000)).without_registered_handlers())
            .await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(RawClient::connect(&server, "/ws").await);
    }
    let before = settled_live().await;
    let big = format!(r#"["echo","{}"]"#, "y".repeat(BIG));
    for c in &mut clients {
        c.send(&big).await;
        c.read_until_len(BIG as u64).await;
    }
    drop(big);
    let after = settled_live().await;
    let per_client = (after - before) / CLIENTS as isize;
    eprintln!("plain: {per_client} bytes kept per connection");
    assert!(
        per_client < 16 * 1024,
        "each plain connection kept {per_client} bytes after one {BIG}-byte message and its echo"
    );
}

/// A keep-alive HTTP/1.1 client on a raw socket that keeps only the first bytes of each
/// response body.
struct RawHttp {
    tcp: TcpStream,
    host: String,
}

impl RawHttp {
    async fn connect(server: &Server) -> RawHttp {
        RawHttp {
            tcp: TcpStream::connect(server.addr).await.unwrap(),
            host: server.addr.to_string(),
        }
    }

    /// Sends a request; returns the status, the body's length and its first 200 bytes.
    async fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, usize, String) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        self.tcp.write_all(head.as_bytes()).await.unwrap();
        self.tcp.write_all(body.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(self.tcp.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("a content-length");
        let mut left = len;
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while left > 0 {
            let n = self.tcp.read(&mut buf[..left.min(4096)]).await.unwrap();
            assert!(n > 0);
            if kept.len() < 200 {
                kept.extend_from_slice(&buf[..n.min(200 - kept.len())]);
            }
            left -= n;
        }
        (status, len, String::from_utf8_lossy(&kept).into_owned())
    }
}

/// Long-polling: the POST carrying the large event and the GET carrying its echo go
/// through the keep-alive HTTP connection's buffers.
async fn polling() {
    let server =
        serve(echo_server(config().with_max_payload(2_000_000)).without_registered_handlers())
            .await;
    let mut sessions = Vec::new();
    for _ in 0..CLIENTS {
        let mut http = RawHttp::connect(&server).await;
        let (status, _, open) = http
            .request("GET", "/socket.io/?EIO=4&transport=polling", "")
            .await;
        assert_eq!(status, 200, "{open}");
        let sid = open.split('"').nth(3).unwrap().to_owned();
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(http.request("POST", &path, "40").await.0, 200);
        let (_, _, reply) = http.request("GET", &path, "").await;
        assert!(reply.starts_with("40{"), "{reply}");
        sessions.push((http, path));
    }
    let before = settled_live().await;
    let big = format!(r#"42["echo","{}"]"#, "z".repeat(BIG));
    for (http, path) in &mut sessions {
        assert_eq!(http.request("POST", path, &big).await.0, 200);
        let (status, len, _) = http.request("GET", path, "").await;
        assert_eq!(status, 200);
        assert!(len > BIG);
    }
    drop(big);
    let after = settled_live().await;
    let per_client = (after - before) / CLIENTS as isize;
    eprintln!("polling: {per_client} bytes kept per session");
    assert!(
        per_client < 16 * 1024,
        "each polling session kept {per_client} bytes after one {BIG}-byte message and its echo"
    );
}
