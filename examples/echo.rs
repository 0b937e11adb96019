//! The seed's echo server: whatever text comes in goes back upper-cased with `!!!`
//! (`hello` → `HELLO!!!`), for a Socket.IO client and for a bare WebSocket alike.
//!
//! ```sh
//! cargo run --example echo
//! ```
//!
//! Then open one of its two pages (the seeds' "Send Message" page), type `hello` and press
//! the button:
//!
//! - <http://localhost:3000/>: the socket.io client, `socket.send("hello")`, the answer
//!   arriving as a `message` event (a client that asks for an ack gets it as the ack reply
//!   instead).
//! - <http://localhost:3000/plain>: a bare `new WebSocket("ws://localhost:3000/ws")` sending
//!   raw text frames and receiving raw text frames, as a WeChat mini-program does: no
//!   library, no JSON.
//!
//! `PORT` changes the port; with `REDIS_URL` set, copies of this server on other ports form
//! one cluster. The socket.io page loads the client from this server when
//! `tests/interop/node/node_modules` has it (or `SOCKET_IO_CLIENT_DIST` names it), otherwise
//! from the official CDN.

#[path = "shared/socket_io_client.rs"]
mod socket_io_client;

use realtime::{
    axum::{response::Html, routing::get, Router},
    AckSender, Data, Realtime, Socket,
};
use socket_io_client::SocketIoClient;

/// Socket.IO's `socket.send(text)` is the event `message`; a plain WebSocket client's raw
/// text frame arrives as that event too, asking for an ack, and the ack reply goes back as a
/// raw text frame.
async fn shout(socket: Socket, ack: AckSender, Data(text): Data<String>) {
    let reply = format!("{}!!!", text.to_uppercase());
    tracing::info!(%text, %reply, "echo");
    if ack.expected() {
        let _ = ack.send(&reply);
    } else {
        let _ = socket.emit("message", &reply);
    }
}

/// The seed's page with the socket.io client (`io.connect('/')`, `socket.send`,
/// `socket.on('message')`).
const SOCKET_IO_PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Send Message (socket.io)</title>
<h1>Send Message</h1>
<p>socket.io client · <a href="/plain">plain WebSocket page</a></p>
<input id="sendTxt" type="text" value="hello">
<button id="sendBtn">Send</button>
<div id="recv"></div>
<script src="{{socket.io client}}"></script>
<script>
  var socket = io.connect('/');
  socket.on('connect', function () {
    console.log('socket.io connected');
    document.getElementById('recv').innerHTML = 'connected';
  });
  socket.on('disconnect', function (reason) {
    console.log('socket.io disconnected: ' + reason);
  });
  socket.on('message', function (data) {
    console.log(data);
    document.getElementById('recv').textContent = data;
  });
  document.getElementById('sendBtn').onclick = function () {
    socket.send(document.getElementById('sendTxt').value);
  };
</script>
</html>
"#;

/// The seed's page with a bare WebSocket: raw text out, raw text in.
const PLAIN_PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Send Message (WebSocket)</title>
<h1>Send Message</h1>
<p>plain WebSocket · <a href="/">socket.io page</a></p>
<input id="sendTxt" type="text" value="hello">
<button id="sendBtn">Send</button>
<div id="recv"></div>
<script>
  var websocket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  websocket.onopen = function () {
    console.log('websocket open');
    document.getElementById('recv').innerHTML = 'connected';
  };
  websocket.onclose = function () {
    console.log('websocket close');
  };
  websocket.onmessage = function (e) {
    console.log(e.data);
    document.getElementById('recv').textContent = e.data;
  };
  document.getElementById('sendBtn').onclick = function () {
    websocket.send(document.getElementById('sendTxt').value);
  };
</script>
</html>
"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let rt = Realtime::builder()
        .allow_eio3(true) // socket.io-client 2.x pages connect too
        // A page that drops and comes back within 2 minutes misses nothing.
        .connection_state_recovery(realtime::config::Recovery::default())
        .on("message", shout)
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("valid server");

    // The pages and the realtime endpoints share the port.
    let client = SocketIoClient::locate();
    let socket_io_page = client.page(SOCKET_IO_PAGE);
    let app = client
        .serve(
            Router::new()
                .route("/", get(move || async move { Html(socket_io_page) }))
                .route("/plain", get(|| async { Html(PLAIN_PAGE) })),
        )
        .merge(rt.router());

    let listener = realtime::Realtime::bind(format!("0.0.0.0:{port}")).await?;
    println!(
        "echo server on http://localhost:{port}/ (socket.io page) and http://localhost:{port}/plain \
         (plain WebSocket page); endpoints /socket.io/ and /ws"
    );
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
