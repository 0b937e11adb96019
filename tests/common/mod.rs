//! Shared helpers for the integration tests: a real server on 127.0.0.1:0, raw clients
//! (reqwest for HTTP long-polling, tokio-tungstenite for WebSocket), log capture and panic
//! detection.
//!
//! Every test runs on tokio's default current-thread runtime (`#[tokio::test]`), so the server
//! tasks run on the test's own thread. That is what makes the per-test log capture and panic
//! counter below exact: one global tracing subscriber writes each event into the buffer of the
//! thread that emitted it, and a global panic hook counts panics per thread.
#![allow(dead_code)]

use std::{
    cell::{Cell, RefCell},
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use realtime::{
    AckSender, Config, NamespaceBuilder, Payload, Realtime, RealtimeBuilder, Socket, SocketId,
};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{self, protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};

/// How long any single wait may take before the test fails (generous: tests normally take
/// a few milliseconds per step; this only bounds a hang).
pub const WAIT: Duration = Duration::from_secs(3);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------
// Log capture and panic detection
// ---------------------------------------------------------------------------------------

thread_local! {
    static LOG: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

struct ThreadWriter;

struct ThreadBuf(Option<Arc<Mutex<Vec<u8>>>>);

impl io::Write for ThreadBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(buf) = &self.0 {
            buf.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadWriter {
    type Writer = ThreadBuf;
    fn make_writer(&'a self) -> ThreadBuf {
        ThreadBuf(LOG.with(|l| l.borrow().clone()))
    }
}

/// The log lines (realtime crates, debug and up) emitted on this test's thread.
#[derive(Clone)]
pub struct Logs {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    /// Waits until a log line contains `needle` (fails the test after [`WAIT`]).
    pub async fn wait_for(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.contains(needle) {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "no log line contains {needle:?}; captured logs:\n{}",
                    self.text()
                );
            }
            tokio::time::sleep(ms(5)).await;
        }
    }
}

impl Logs {
    /// Waits for the debug line the engine logs when it refuses a request.
    pub async fn wait_for_refusal(&self, code: u8, message: &str) {
        self.wait_for(&format!("refusing Engine.IO request code={code} {message}"))
            .await;
    }
}

/// Sets up logging and panic counting for the calling test; call first in every test.
pub fn init() -> Logs {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "realtime_core=debug,realtime=debug",
            ))
            .with_ansi(false)
            .with_writer(ThreadWriter)
            .try_init();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
    let buf = Arc::new(Mutex::new(Vec::new()));
    LOG.with(|l| *l.borrow_mut() = Some(buf.clone()));
    PANICS.with(|p| p.set(0));
    Logs { buf }
}

/// Asserts that nothing panicked on this test's thread (server tasks included).
pub fn assert_no_panics() {
    let n = PANICS.with(|p| p.get());
    assert_eq!(
        n, 0,
        "{n} panic(s) happened in the server while this test ran"
    );
}

/// How many panics happened on this test's thread so far.
pub fn panic_count() -> usize {
    PANICS.with(|p| p.get())
}

/// Waits until `cond` holds (fails the test after [`WAIT`]).
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting until {what}");
        }
        tokio::time::sleep(ms(5)).await;
    }
}

/// Lets requests already written by clients reach the server. Only used where the order in
/// which two requests reach the server cannot be observed otherwise (a long-poll being
/// parked before a second request arrives); the official suites rely on the same ordering.
pub async fn settle() {
    tokio::time::sleep(ms(50)).await;
}

/// Awaits `fut`, failing the test after [`WAIT`].
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// A server on an ephemeral port, stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub rt: Realtime,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds and serves `builder` alone (the realtime router only).
pub async fn serve(builder: RealtimeBuilder) -> Server {
    let rt = builder.build().expect("valid server");
    let app = rt.router();
    serve_app(rt, app).await
}

/// Serves `app` (which should include `rt.router()`).
pub async fn serve_app(rt: Realtime, app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server_rt = rt.clone();
    let task = tokio::spawn(async move {
        let _ = server_rt
            .serve_app(listener, app, std::future::pending())
            .await;
    });
    Server { addr, rt, task }
}

impl Server {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// The Socket.IO WebSocket URL for a new session.
    pub fn sio_ws_url(&self) -> String {
        self.ws_url("/socket.io/?EIO=4&transport=websocket")
    }

    /// The server-side socket of namespace `nsp` whose id the client got in its CONNECT reply.
    pub fn socket(&self, nsp: &str, sid: &str) -> Socket {
        let ns = self
            .rt
            .of(nsp)
            .unwrap_or_else(|| panic!("namespace {nsp} exists"));
        ns.socket(SocketId::parse(sid).expect("a socket id"))
            .expect("socket is connected")
    }
}

/// The default config of these tests: the reference defaults (25 s ping interval, so no ping
/// shows up during a test unless the test asks for short intervals).
pub fn config() -> Config {
    Config::default()
}

/// `echo`: emits `echo` back with the same arguments (binary included).
pub async fn echo(socket: Socket, payload: Payload) {
    let _ = socket.emit_payload("echo", &payload);
}

/// `ack`: answers the client's ack with the same arguments.
pub async fn ack_echo(ack: AckSender, payload: Payload) {
    let _ = ack.send_payload(&payload);
}

/// Adds the `echo` and `ack` handlers to a namespace.
pub fn echo_ns(ns: NamespaceBuilder) -> NamespaceBuilder {
    ns.on("echo", echo).on("ack", ack_echo)
}

/// A server whose namespace `/` has the `echo` and `ack` handlers.
pub fn echo_server(config: Config) -> RealtimeBuilder {
    Realtime::builder().config(config).namespace("/", echo_ns)
}

// ---------------------------------------------------------------------------------------
// HTTP (long-polling) client
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// Asserts an Engine.IO error: the status, the JSON content type and the exact body.
    pub fn assert_engine_error(&self, status: u16, code: u8, message: &str) {
        assert_eq!(self.status, status, "status of {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "content type of {self:?}"
        );
        assert_eq!(
            self.body,
            format!(r#"{{"code":{code},"message":"{message}"}}"#)
        );
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}

pub async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    let mut req = client.request(method.clone(), url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body);
    }
    within(&format!("{method} {url}"), async {
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("response body");
        Resp {
            status,
            headers,
            body,
        }
    })
    .await
}

pub async fn http_get(url: &str) -> Resp {
    request(&http_client(), reqwest::Method::GET, url, &[], None).await
}

/// One long-polling session.
#[derive(Clone)]
pub struct Polling {
    pub client: reqwest::Client,
    pub sid: String,
    url: String,
}

impl Polling {
    /// Opens a session with a polling handshake; returns it and the open packet's JSON.
    pub async fn open(server: &Server) -> (Polling, Value) {
        let client = http_client();
        let resp = request(
            &client,
            reqwest::Method::GET,
            &server.url("/socket.io/?EIO=4&transport=polling"),
            &[],
            None,
        )
        .await;
        assert_eq!(resp.status, 200, "handshake: {resp:?}");
        let open: Value = serde_json::from_str(resp.body.strip_prefix('0').expect("open packet"))
            .expect("open JSON");
        let sid = open["sid"].as_str().expect("sid").to_owned();
        let url = server.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
        (Polling { client, sid, url }, open)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn get(&self) -> Resp {
        request(&self.client, reqwest::Method::GET, &self.url, &[], None).await
    }

    pub async fn post(&self, body: &str) -> Resp {
        request(
            &self.client,
            reqwest::Method::POST,
            &self.url,
            &[],
            Some(body.to_owned()),
        )
        .await
    }

    /// POSTs and asserts the reference answer: 200 `ok` as text/html.
    pub async fn post_ok(&self, body: &str) {
        let resp = self.post(body).await;
        assert_eq!(
            (resp.status, resp.body.as_str()),
            (200, "ok"),
            "POST {body:?}: {resp:?}"
        );
        assert_eq!(resp.header("content-type"), Some("text/html"));
    }

    /// GETs and returns the records of a 200 response.
    pub async fn get_records(&self) -> Vec<String> {
        let resp = self.get().await;
        assert_eq!(resp.status, 200, "GET: {resp:?}");
        resp.body.split('\x1e').map(str::to_owned).collect()
    }

    /// GETs until `n` records arrived; returns them.
    pub async fn records(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(self.get_records().await);
        }
        assert_eq!(out.len(), n, "more records than expected: {out:?}");
        out
    }

    /// Joins namespace `nsp` over polling; returns the socket id.
    pub async fn connect(&self, nsp: &str) -> String {
        self.post_ok(&connect_packet(nsp)).await;
        let reply = self.records(1).await.remove(0);
        parse_connect_reply(&reply, nsp)
    }

    /// Asserts the session works: an `echo` round trip.
    pub async fn assert_echo(&self, tag: &str) {
        self.post_ok(&format!(r#"42["echo","{tag}"]"#)).await;
        assert_eq!(
            self.records(1).await,
            vec![format!(r#"42["echo","{tag}"]"#)]
        );
    }

    /// Asserts the session is gone: a GET answers 400 `Session ID unknown`.
    pub async fn assert_gone(&self) {
        self.get()
            .await
            .assert_engine_error(400, 1, "Session ID unknown");
    }
}

// ---------------------------------------------------------------------------------------
// WebSocket client
// ---------------------------------------------------------------------------------------

pub type RawWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw WebSocket client.
pub struct Ws {
    pub inner: RawWs,
}

/// How a WebSocket ended: what arrived before, and the close frame if there was one.
#[derive(Debug)]
pub struct Closed {
    pub before: Vec<Message>,
    pub frame: Option<CloseFrame>,
}

impl Closed {
    pub fn code(&self) -> Option<u16> {
        self.frame.as_ref().map(|f| u16::from(f.code))
    }
    pub fn reason(&self) -> String {
        self.frame
            .as_ref()
            .map(|f| f.reason.to_string())
            .unwrap_or_default()
    }
    /// The text frames that arrived before the close.
    pub fn texts(&self) -> Vec<String> {
        self.before
            .iter()
            .filter_map(|m| match m {
                Message::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }
}

pub async fn ws_try_connect(url: &str) -> Result<Ws, tungstenite::Error> {
    let (inner, _) = within(
        &format!("connect {url}"),
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await?;
    Ok(Ws { inner })
}

pub async fn ws_connect(url: &str) -> Ws {
    ws_try_connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// The HTTP status of a refused WebSocket handshake, and the response body.
pub async fn ws_refused(url: &str) -> (u16, String) {
    match ws_try_connect(url).await {
        Ok(_) => panic!("WebSocket handshake to {url} unexpectedly succeeded"),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (resp.status().as_u16(), body)
        }
        Err(e) => panic!("WebSocket handshake to {url} failed without an HTTP status: {e}"),
    }
}

impl Ws {
    pub async fn send(&mut self, msg: Message) {
        within("ws send", self.inner.send(msg))
            .await
            .expect("ws send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    pub async fn send_bin(&mut self, bytes: &[u8]) {
        self.send(Message::binary(bytes.to_vec())).await;
    }

    /// Sends several messages in one flush (one TCP write in practice).
    pub async fn send_batch(&mut self, msgs: Vec<Message>) {
        within("ws send batch", async {
            for m in msgs {
                self.inner.feed(m).await?;
            }
            self.inner.flush().await
        })
        .await
        .expect("ws send");
    }

    /// The next data or close message (WebSocket ping/pong frames skipped).
    pub async fn recv(&mut self) -> Message {
        within("ws recv", async {
            loop {
                match self.inner.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(m)) => return m,
                    Some(Err(e)) => panic!("ws error while waiting for a message: {e}"),
                    None => panic!("ws ended while waiting for a message"),
                }
            }
        })
        .await
    }

    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(t) => t.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text frame that is not an Engine.IO ping `2`.
    pub async fn recv_text_no_ping(&mut self) -> String {
        loop {
            let t = self.recv_text().await;
            if t != "2" {
                return t;
            }
        }
    }

    pub async fn recv_bin(&mut self) -> Vec<u8> {
        match self.recv().await {
            Message::Binary(b) => b.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Reads until the server closes the connection (close frame, or the stream ends).
    pub async fn expect_close(&mut self) -> Closed {
        within("ws close", async {
            let mut before = Vec::new();
            loop {
                match self.inner.next().await {
                    Some(Ok(Message::Close(frame))) => return Closed { before, frame },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(m)) => before.push(m),
                    Some(Err(_)) | None => {
                        return Closed {
                            before,
                            frame: None,
                        }
                    }
                }
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Socket.IO over WebSocket
// ---------------------------------------------------------------------------------------

/// The CONNECT packet for `nsp`.
pub fn connect_packet(nsp: &str) -> String {
    if nsp == "/" {
        "40".into()
    } else {
        format!("40{nsp},")
    }
}

/// Checks a CONNECT reply (exactly `{"sid": ...}`) and returns the socket id.
pub fn parse_connect_reply(text: &str, nsp: &str) -> String {
    let prefix = if nsp == "/" {
        "40".to_owned()
    } else {
        format!("40{nsp},")
    };
    let json = text
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected a CONNECT reply for {nsp}, got {text:?}"));
    let v: Value = serde_json::from_str(json).expect("CONNECT reply JSON");
    let obj = v.as_object().expect("CONNECT reply is an object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        vec!["sid"],
        "CONNECT reply keys: {text}"
    );
    let sid = obj["sid"].as_str().expect("sid is a string").to_owned();
    assert!(
        SocketId::parse(&sid).is_some(),
        "sid {sid:?} is a socket id"
    );
    sid
}

/// Opens a Socket.IO WebSocket session; returns it and the open packet's JSON.
pub async fn eio_ws(server: &Server) -> (Ws, Value) {
    let mut ws = ws_connect(&server.sio_ws_url()).await;
    let open = ws.recv_text().await;
    let json: Value =
        serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("open JSON");
    (ws, json)
}

/// Sends CONNECT for `nsp` and returns the socket id of the reply.
pub async fn sio_connect_on(ws: &mut Ws, nsp: &str) -> String {
    ws.send_text(&connect_packet(nsp)).await;
    let reply = ws.recv_text().await;
    parse_connect_reply(&reply, nsp)
}

/// A Socket.IO client over WebSocket joined to `nsp`; returns it and its socket id.
pub async fn sio_ws(server: &Server, nsp: &str) -> (Ws, String) {
    let (mut ws, _) = eio_ws(server).await;
    let sid = sio_connect_on(&mut ws, nsp).await;
    (ws, sid)
}

/// Asserts the connection works: an `echo` round trip in namespace `/`.
pub async fn assert_sio_echo(ws: &mut Ws, tag: &str) {
    ws.send_text(&format!(r#"42["echo","{tag}"]"#)).await;
    assert_eq!(ws.recv_text().await, format!(r#"42["echo","{tag}"]"#));
}

/// A plain WebSocket client (`/ws` + `query`, e.g. `?ns=/chat`).
pub async fn plain_ws(server: &Server, query: &str) -> Ws {
    ws_connect(&server.ws_url(&format!("/ws{query}"))).await
}

/// Asserts a plain connection works: an `echo` round trip.
pub async fn assert_plain_echo(ws: &mut Ws, tag: &str) {
    ws.send_text(&format!(r#"["echo","{tag}"]"#)).await;
    assert_eq!(ws.recv_text().await, format!(r#"["echo","{tag}"]"#));
}

/// The JSON of an Engine.IO open packet: exactly the five keys, with these values.
pub fn assert_open_packet(
    open: &Value,
    upgrades: &[&str],
    ping_interval: u64,
    ping_timeout: u64,
    max_payload: u64,
) {
    let obj = open.as_object().expect("open packet is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    let sid = obj["sid"].as_str().expect("sid is a string");
    assert_eq!(sid.len(), 20, "sid {sid:?}");
    assert!(
        sid.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "sid {sid:?}"
    );
    assert_eq!(obj["upgrades"], serde_json::json!(upgrades));
    assert_eq!(obj["pingInterval"], serde_json::json!(ping_interval));
    assert_eq!(obj["pingTimeout"], serde_json::json!(ping_timeout));
    assert_eq!(obj["maxPayload"], serde_json::json!(max_payload));
}

/// One malformed-input case over WebSocket: a healthy client connects first; a second client
/// joins `join` (none: it stays without a namespace), sends `frames`, and must be closed with
/// 1002 "parse error" and nothing else; the reason must be logged; the healthy client must
/// still get an echo afterwards; nothing may panic.
pub async fn assert_protocol_error(
    server: &Server,
    logs: &Logs,
    join: &[&str],
    frames: Vec<Message>,
    log: &str,
) {
    let (mut healthy, _) = sio_ws(server, "/").await;
    let (mut bad, _) = eio_ws(server).await;
    for nsp in join {
        sio_connect_on(&mut bad, nsp).await;
    }
    let what = format!("{frames:?}");
    for frame in frames {
        bad.send(frame).await;
    }
    let closed = bad.expect_close().await;
    assert_eq!(closed.code(), Some(1002), "{what}: {closed:?}");
    assert_eq!(closed.reason(), "parse error", "{what}");
    assert!(
        closed.before.is_empty(),
        "{what}: nothing is sent before the close: {closed:?}"
    );
    logs.wait_for(log).await;
    assert!(
        logs.contains("protocol error: closing session"),
        "{}",
        logs.text()
    );
    assert_sio_echo(&mut healthy, "healthy").await;
    assert_no_panics();
}

/// A WebSocket client whose socket has a small, fixed receive buffer (no autotuning): when
/// it stops reading, the server's writes stall after at most the server's send buffer.
pub async fn ws_connect_small_rcvbuf(url: &str, addr: SocketAddr) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (inner, _) = within(
        "ws handshake",
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)),
    )
    .await
    .expect("ws handshake");
    Ws { inner }
}

/// An upper bound of the bytes a stalled connection can absorb before the server's writes
/// block: the largest send buffer the kernel gives the server socket (plus slack for the
/// client's small receive buffer and the kernel's rounding).
pub fn pipe_bound() -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(64 << 20);
    wmem_max + (1 << 20)
}

/// A handler for numeric event names: emits `got` with the event's name and its arguments.
pub async fn numeric(
    socket: realtime::Socket,
    realtime::Event(name): realtime::Event,
    payload: realtime::Payload,
) {
    let mut args = vec![serde_json::Value::from(&*name)];
    args.extend(payload.values().unwrap_or_default());
    let _ = socket.emit_payload("got", &realtime::Payload::from_values(args));
}

/// The object of weroll's `$init` message as the server sent it: `text` is `<prefix><json>`
/// where the JSON is `["$init", {...}]` (the event), `[{...}]` (the ack, Socket.IO) or
/// `["$ack", n, {...}]` (the ack, plain WebSocket). Checks that it is exactly
/// `{clientID, socketID, time}`, with this client id, a string socket id (this one, when
/// given) and a time within a minute of now; returns the socket id.
pub fn assert_init_reply(
    text: &str,
    prefix: &str,
    client_id: &str,
    socket_id: Option<&str>,
) -> String {
    let json = text
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{text:?} does not start with {prefix:?}"));
    let value: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let reply = match value {
        Value::Array(items) => items.last().cloned().unwrap_or(Value::Null),
        other => other,
    };
    let Value::Object(map) = &reply else {
        panic!("no $init object in {text:?}")
    };
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["clientID", "socketID", "time"], "{text}");
    assert_eq!(map["clientID"], client_id, "{text}");
    let sid = map["socketID"]
        .as_str()
        .unwrap_or_else(|| panic!("socketID is not a string: {text}"))
        .to_owned();
    if let Some(expected) = socket_id {
        assert_eq!(sid, expected, "{text}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let time = map["time"]
        .as_i64()
        .unwrap_or_else(|| panic!("time: {text}"));
    assert!(
        (now - time).abs() < 60_000,
        "time {time} vs now {now}: {text}"
    );
    sid
}

/// A name no other test (or run) uses, for the Redis keys, channels and streams of `test`.
pub fn unique_name(test: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "realtime-test-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}
