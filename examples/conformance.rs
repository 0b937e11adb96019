//! The reference test server that the socket.io project's protocol test suites expect
//! (docs/engine.io-protocol/v4-test-suite and docs/socket.io-protocol/v5-test-suite):
//!
//! - port 3000, pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1 s,
//!   CORS for any origin;
//! - Socket.IO on `/socket.io/`: namespace `/` emits `auth` with the handshake auth on
//!   connection, answers `message` with `message-back` (same arguments) and acks
//!   `message-with-ack` with the same arguments; namespace `/custom` emits `auth` too;
//! - a bare Engine.IO echo server on `/engine.io/` with the same timings.
//!
//! ```sh
//! cargo run --release --example conformance
//! ```

use std::{sync::Arc, time::Duration};

use realtime::{
    engine::{CloseReason, Engine, EngineHandler, EngineSession, Frame, Message, PacketType},
    AckSender, Config, CorsLayer, Payload, Realtime, Socket,
};

/// Echoes every Engine.IO message back on the same session.
struct Echo;

impl EngineHandler for Echo {
    type Conn = Arc<EngineSession>;

    fn on_open(
        &self,
        session: Arc<EngineSession>,
        _request: &http::request::Parts,
    ) -> Arc<EngineSession> {
        session
    }

    fn on_message(&self, session: &Arc<EngineSession>, message: Message<'_>) -> Result<(), String> {
        let frame = match message {
            Message::Text(text) => Frame::text(PacketType::Message, text),
            Message::Binary(bytes) => Frame::Binary(bytes),
        };
        let _ = session.send(frame);
        Ok(())
    }

    fn on_close(&self, _session: &Arc<EngineSession>, _reason: CloseReason) {}
}

fn config(path: &str) -> Config {
    Config::default()
        .with_path(path)
        .with_ping_interval(Duration::from_millis(300))
        .with_ping_timeout(Duration::from_millis(200))
        .with_max_payload(1_000_000)
        .with_connect_timeout(Duration::from_millis(1000))
}

async fn emit_auth(socket: Socket) {
    let _ = socket.emit("auth", socket.auth());
}

async fn message_back(socket: Socket, payload: Payload) {
    let _ = socket.emit_payload("message-back", &payload);
}

async fn message_with_ack(ack: AckSender, payload: Payload) {
    let _ = ack.send_payload(&payload);
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init_with("warn");

    let rt = Realtime::builder()
        .config(config("/socket.io/"))
        .cors(CorsLayer::very_permissive())
        .namespace("/", |ns| {
            ns.on_connect(emit_auth)
                .on("message", message_back)
                .on("message-with-ack", message_with_ack)
        })
        .namespace("/custom", |ns| ns.on_connect(emit_auth))
        // With REDIS_URL set, copies of this server on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("valid server");

    let echo = Engine::new(Arc::new(config("/engine.io/")), Echo);
    let app = rt
        .router()
        .merge(echo.router().layer(CorsLayer::very_permissive()));

    // The published test suites expect port 3000.
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = realtime::Realtime::bind(format!("0.0.0.0:{port}")).await?;
    println!("conformance server listening on http://localhost:{port}");
    rt.serve_app(listener, app, realtime::shutdown_signal())
        .await
}
