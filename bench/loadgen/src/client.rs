//! One client connection speaking Socket.IO v5 over Engine.IO v4 on a WebSocket (no HTTP
//! long-polling, no upgrade), or realtime's plain WebSocket JSON frames.
//!
//! Socket.IO: `GET /socket.io/?EIO=4&transport=websocket`, the server's open packet
//! `0{"sid":..,"pingInterval":..}`, then the client's CONNECT `40` answered by
//! `40{"sid":..}`. Server pings `2` are answered `3`. Events are `42["ev",..]`, events asking
//! for an ack `42<id>["ev",..]`, acks `43<id>[..]`.
//!
//! Connection state recovery (socket.io 4.6+), as socket.io-client does it: a server with
//! recovery on answers CONNECT `40{"sid":..,"pid":..}` and appends an offset string as the
//! last argument of every broadcast; a client coming back sends `40{"pid":..,"offset":..}`
//! (see [`Conn::connect_with_auth`]), and the server replays what it missed *before* its
//! CONNECT reply. Those early events are kept and handed out by [`Conn::next`] first.
//!
//! Plain WebSocket (realtime's `/ws`): events `["ev", data]`, with an ack request
//! `["ev", data, id]`, answered `["$ack", id, ..]`; heartbeats are WebSocket ping frames,
//! which tungstenite answers by itself while reading.

use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    os::fd::AsRawFd,
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};

use crate::stream::Stream;
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message, Utf8Bytes},
    WebSocketStream,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Socket.IO v5 / Engine.IO v4 over WebSocket.
    Sio,
    /// realtime's plain WebSocket JSON frames at `/ws`.
    Plain,
}

/// Something the server sent that the caller cares about (pings are answered inside).
#[derive(Debug)]
pub enum Incoming {
    /// An event: its name and its arguments as JSON text (`[arg1, ...]` for Socket.IO,
    /// the frame's remaining elements for plain).
    Event { name: String, args: Vec<Value> },
    /// An ack to one of our requests.
    Ack { id: u64, args: Vec<Value> },
    /// A `tick` event read on the fast path (see [`Conn::fast_ticks`]): only the `t`
    /// timestamp of its payload, found without parsing the JSON, and, when enabled, the
    /// kernel's receive time of the bytes that completed it (see [`Conn::enable_rx_timestamps`]).
    Tick {
        t: Option<u64>,
        kernel_us: Option<u64>,
    },
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Conn {
    ws: WebSocketStream<Stream>,
    proto: Proto,
    /// The Engine.IO session id until the CONNECT reply, then the Socket.IO socket id it
    /// carries (`40{"sid":..}`).
    pub sid: String,
    /// The private id of connection state recovery, when the server's CONNECT reply had one
    /// (`40{"sid":..,"pid":..}`: recovery is on).
    pub pid: Option<String>,
    /// Socket.IO packets that came before the CONNECT reply: the events a server with
    /// connection state recovery replays to a client that came back. [`Conn::next`] hands
    /// them out before reading anything new.
    pending: VecDeque<Utf8Bytes>,
    /// How many events came before the CONNECT reply (replayed by recovery).
    pub replayed: usize,
    /// An Engine.IO pong owed to the server. Set before the pong is sent and cleared once it
    /// is, so that a `next()` cancelled by a `select!` mid-send retries it instead of losing it.
    pong_due: bool,
    /// Return `tick` events as [`Incoming::Tick`] without parsing their JSON: a receiver
    /// of a fan-out only needs to count them and read `t`, and a full parse of every
    /// delivery is most of the load generator's per-receipt work after the read itself.
    pub fast_ticks: bool,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: tens of thousands of these live in one process. Write buffer 0 writes
    // each message as soon as it is sent.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Opens a TCP connection to `server` from `source` (port chosen at connect time, so the
/// whole 4-tuple decides uniqueness: with several source addresses the ephemeral range is
/// available once per address).
pub async fn tcp_connect(server: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid fd and a c_int option value.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    sock.bind(SocketAddr::new(source, 0))?;
    let stream = sock.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Conn {
    /// Connects and completes the protocol handshake: for Socket.IO until `40{"sid":..}`,
    /// for plain WebSocket until the server answered one `echo` (proof that the socket
    /// reached the namespace and its handlers).
    pub async fn connect(
        server: SocketAddr,
        source: IpAddr,
        proto: Proto,
        timeout: Duration,
    ) -> Result<Conn, Error> {
        Self::connect_with_auth(server, source, proto, timeout, None).await
    }

    /// [`Conn::connect`] with an auth object (JSON text) in the Socket.IO CONNECT packet:
    /// `{"pid":..,"offset":..}` asks a server with connection state recovery for the
    /// session `pid` and what it missed after `offset`.
    pub async fn connect_with_auth(
        server: SocketAddr,
        source: IpAddr,
        proto: Proto,
        timeout: Duration,
        auth: Option<&str>,
    ) -> Result<Conn, Error> {
        tokio::time::timeout(timeout, Self::connect_inner(server, source, proto, auth))
            .await
            .map_err(|_| Error::from("connect timed out"))?
    }

    async fn connect_inner(
        server: SocketAddr,
        source: IpAddr,
        proto: Proto,
        auth: Option<&str>,
    ) -> Result<Conn, Error> {
        let stream = tcp_connect(server, source).await?;
        let url = match proto {
            Proto::Sio => format!("ws://{server}/socket.io/?EIO=4&transport=websocket"),
            Proto::Plain => format!("ws://{server}/ws"),
        };
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            url,
            Stream::new(stream),
            Some(ws_config()),
        )
        .await?;
        let mut conn = Conn {
            ws,
            proto,
            sid: String::new(),
            pid: None,
            pending: VecDeque::new(),
            replayed: 0,
            pong_due: false,
            fast_ticks: false,
        };
        match proto {
            Proto::Sio => {
                let open = conn.next_text().await?;
                let open: &str = &open;
                let Some(open) = open.strip_prefix('0') else {
                    return Err(format!("expected an Engine.IO open packet, got {open:?}").into());
                };
                let open: Value = serde_json::from_str(open)?;
                conn.sid = open["sid"].as_str().unwrap_or_default().to_owned();
                conn.send_text(format!("40{}", auth.unwrap_or_default()))
                    .await?;
                loop {
                    let frame = conn.next_text().await?;
                    let text: &str = &frame;
                    if let Some(ok) = text.strip_prefix("40") {
                        let v: Value = serde_json::from_str(ok)?;
                        let Some(sid) = v.get("sid").and_then(Value::as_str) else {
                            return Err(format!("CONNECT answer without sid: {text}").into());
                        };
                        conn.sid = sid.to_owned();
                        conn.pid = v.get("pid").and_then(Value::as_str).map(str::to_owned);
                        break;
                    } else if text.starts_with("44") {
                        return Err(format!("connect refused: {text}").into());
                    } else if text == "2" {
                        conn.pong_due = true;
                        conn.flush_pong().await?;
                    } else if text.starts_with('4') {
                        // Replayed by connection state recovery before the reply.
                        if text.starts_with("42") {
                            conn.replayed += 1;
                        }
                        conn.pending.push_back(frame);
                    }
                }
            }
            Proto::Plain => {
                conn.emit("echo", "1", Some(0)).await?;
                loop {
                    if let Incoming::Ack { id: 0, .. } = conn.next().await? {
                        break;
                    }
                }
            }
        }
        Ok(conn)
    }

    async fn send_text(&mut self, text: String) -> Result<(), Error> {
        self.flush_pong().await?;
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    async fn flush_pong(&mut self) -> Result<(), Error> {
        if self.pong_due {
            self.ws.send(Message::text("3")).await?;
            self.pong_due = false;
        }
        Ok(())
    }

    /// The next text frame (binary frames are skipped, WebSocket pings answered by
    /// tungstenite). A close or end of stream is an error.
    async fn next_text(&mut self) -> Result<Utf8Bytes, Error> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t),
                Some(Ok(Message::Close(c))) => {
                    return Err(format!("closed by server: {c:?}").into())
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err("connection ended".into()),
            }
        }
    }

    /// Emits `event` with one argument given as JSON text, asking for an ack if `ack` is set.
    pub async fn emit(
        &mut self,
        event: &str,
        arg_json: &str,
        ack: Option<u64>,
    ) -> Result<(), Error> {
        let text = match (self.proto, ack) {
            (Proto::Sio, Some(id)) => format!("42{id}[\"{event}\",{arg_json}]"),
            (Proto::Sio, None) => format!("42[\"{event}\",{arg_json}]"),
            (Proto::Plain, Some(id)) => format!("[\"{event}\",{arg_json},{id}]"),
            (Proto::Plain, None) => format!("[\"{event}\",{arg_json}]"),
        };
        self.send_text(text).await
    }

    /// The next event or ack. Engine.IO pings are answered here; anything else the caller
    /// has no use for (noop, pong, server ack requests) is skipped.
    pub async fn next(&mut self) -> Result<Incoming, Error> {
        loop {
            self.flush_pong().await?;
            let text = match self.pending.pop_front() {
                Some(early) => early,
                None => self.next_text().await?,
            };
            let text: &str = &text;
            if self.fast_ticks {
                let prefix = match self.proto {
                    Proto::Sio => "42[\"tick\",",
                    Proto::Plain => "[\"tick\",",
                };
                if let Some(rest) = text.strip_prefix(prefix) {
                    return Ok(Incoming::Tick {
                        t: field_t(rest),
                        kernel_us: self.ws.get_ref().last_rx_us(),
                    });
                }
            }
            match self.proto {
                Proto::Sio => {
                    let mut chars = text.chars();
                    match chars.next() {
                        Some('2') => {
                            self.pong_due = true;
                            self.flush_pong().await?;
                        }
                        Some('1') => return Err("Engine.IO close".into()),
                        Some('4') => {
                            if let Some(inc) = parse_sio(&text[1..])? {
                                return Ok(inc);
                            }
                        }
                        _ => {}
                    }
                }
                Proto::Plain => {
                    if let Some(inc) = parse_plain(text)? {
                        return Ok(inc);
                    }
                }
            }
        }
    }

    /// From now on, ticks carry the kernel's receive time of their bytes: when the server's
    /// write reached this socket, before the load generator got round to reading it.
    pub fn enable_rx_timestamps(&mut self) -> Result<(), Error> {
        Ok(self.ws.get_mut().enable_rx_timestamps()?)
    }

    /// Whether packets that came before the CONNECT reply are still to be handed out by
    /// [`Conn::next`] (which returns them without waiting).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Drops the connection as a network cut would: a TCP reset, no WebSocket close frame,
    /// no Socket.IO DISCONNECT; what was in flight either way is lost.
    pub fn cut(self) {
        let _ = self.ws.get_ref().reset_on_close();
        drop(self);
    }

    /// Sends a WebSocket close frame and waits briefly for the server's answer: its close
    /// frame, or the end of the connection. The close handshake is complete once the
    /// server's close frame is in, and dropping the connection then ends it from our side:
    /// waiting for the server to end the TCP connection first (as tungstenite would) costs
    /// up to the whole timeout on a server that waits for the client to do it.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(message)) = self.ws.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
}

/// The unsigned integer value of the first `"t":` key in `json` (the fan-out payload
/// `{"room":..,"t":<µs>,"s":..}` in whatever key order the server re-serialized it).
fn field_t(json: &str) -> Option<u64> {
    let at = json.find("\"t\":")? + 4;
    let digits = json[at..].bytes().take_while(u8::is_ascii_digit).count();
    json[at..at + digits].parse().ok()
}

/// Parses a Socket.IO packet (after the Engine.IO `4`). Namespace `/` only.
fn parse_sio(p: &str) -> Result<Option<Incoming>, Error> {
    let bytes = p.as_bytes();
    let Some(&kind) = bytes.first() else {
        return Ok(None);
    };
    let rest = &p[1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id: Option<u64> = (digits > 0).then(|| rest[..digits].parse().ok()).flatten();
    let json = &rest[digits..];
    match kind {
        b'2' => {
            let mut arr: Vec<Value> = serde_json::from_str(json)?;
            if arr.is_empty() {
                return Err("empty event".into());
            }
            let name = match arr.remove(0) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            Ok(Some(Incoming::Event { name, args: arr }))
        }
        b'3' => {
            let args: Vec<Value> = serde_json::from_str(json)?;
            Ok(Some(Incoming::Ack {
                id: id.ok_or("ack without id")?,
                args,
            }))
        }
        b'1' => Err("Socket.IO disconnect".into()),
        b'4' => Err(format!("Socket.IO connect error: {p}").into()),
        _ => Ok(None),
    }
}

/// Parses a plain WebSocket frame: `["ev", ...args]` or `["$ack", id, ...args]`.
fn parse_plain(text: &str) -> Result<Option<Incoming>, Error> {
    let Ok(mut arr) = serde_json::from_str::<Vec<Value>>(text) else {
        return Ok(None);
    };
    if arr.is_empty() {
        return Ok(None);
    }
    let name = match arr.remove(0) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if name == "$ack" {
        let id = arr
            .first()
            .and_then(Value::as_u64)
            .ok_or("$ack without id")?;
        arr.remove(0);
        return Ok(Some(Incoming::Ack { id, args: arr }));
    }
    if name == "$error" {
        return Err(format!("server error frame: {text}").into());
    }
    Ok(Some(Incoming::Event { name, args: arr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socketio_packets() {
        match parse_sio(r#"2["tick",{"t":5}]"#).unwrap().unwrap() {
            Incoming::Event { name, args } => {
                assert_eq!(name, "tick");
                assert_eq!(args[0]["t"], 5);
            }
            other => panic!("{other:?}"),
        }
        match parse_sio(r#"312[true]"#).unwrap().unwrap() {
            Incoming::Ack { id, args } => {
                assert_eq!(id, 12);
                assert_eq!(args, vec![Value::Bool(true)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_sio("4{\"message\":\"no\"}").is_err());
    }

    #[test]
    fn finds_the_timestamp_without_parsing() {
        assert_eq!(field_t(r#"{"room":"r","t":123,"s":4}]"#), Some(123));
        assert_eq!(
            field_t(r#"{"c":1,"d":"x","room":"r","s":4,"t":98765}]"#),
            Some(98765)
        );
        assert_eq!(field_t(r#"{"room":"r","s":4}]"#), None);
        assert_eq!(field_t(r#"{"t":"x"}]"#), None);
    }

    #[test]
    fn parses_plain_frames() {
        match parse_plain(r#"["$ack",7,1,2]"#).unwrap().unwrap() {
            Incoming::Ack { id, args } => {
                assert_eq!(id, 7);
                assert_eq!(args.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        match parse_plain(r#"["tick",{"t":1}]"#).unwrap().unwrap() {
            Incoming::Event { name, .. } => assert_eq!(name, "tick"),
            other => panic!("{other:?}"),
        }
    }
}
