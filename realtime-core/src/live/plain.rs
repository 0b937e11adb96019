//! The plain WebSocket endpoint: JSON text frames for clients that cannot run Socket.IO
//! (WeChat mini-programs, IoT devices, a quick `new WebSocket(...)`). The frame format is
//! documented in [`crate::docs::plain_websocket`].
//!
//! A plain connection is a [`Socket`](crate::Socket) like any other: same handlers, same
//! rooms, same broadcasts; only its encoding differs.

use std::sync::Arc;

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};

use super::{connection::Connection, core::Core, event::ReplyTo, request::RequestHead};
use crate::{
    engine::{session::new_sid, CloseReason, EngineSession, TransportKind},
    websocket::{Upgraded, WebSocketUpgrade},
    wire::{
        codec::Codec,
        payload::Payload,
        plain::{self, PlainFrame},
        websocket::{
            decoder::Incoming,
            frame::{close_code, CloseFrame},
        },
    },
};

/// Serves one request to the plain WebSocket path.
pub(crate) async fn handle(core: Arc<Core>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let config = core.shared.config.clone();
    if let Some(allow) = &config.allow_request {
        if let Err(message) = allow(&parts) {
            return (http::StatusCode::FORBIDDEN, message).into_response();
        }
    }
    let ws = match WebSocketUpgrade::from_request(&mut parts, config.max_payload) {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let request = RequestHead::from_request(&parts);
    let nsp = request.query("ns").unwrap_or_else(|| "/".into());
    ws.respond(
        |err| tracing::debug!(%err, "plain websocket upgrade failed"),
        move |socket| run(core, request, nsp, Box::new(socket)),
    )
}

/// Closes every plain connection (server shutdown).
pub(crate) fn close_all(core: &Core) {
    for s in core.plain_sessions.iter() {
        s.close(CloseReason::ServerShutdown);
    }
}

async fn run(core: Arc<Core>, request: RequestHead, nsp: String, mut ws: Box<Upgraded>) {
    let config = core.shared.config.clone();
    let session = Arc::new(EngineSession::new(
        new_sid(),
        TransportKind::WebSocket,
        crate::engine::session::QueueBound::from_config(&config),
    ));
    let client = Connection::new(session.clone(), request, Codec::Plain, &core.shared);
    core.plain_sessions
        .insert(session.sid().clone(), session.clone());

    // Middleware runs before the first frame is read, so nothing the client sends early is
    // lost or dispatched unauthenticated.
    // Connection state recovery's plain form: a client coming back names its private id
    // and last offset in the query (`?pid=...&offset=...`; `?recover=1` asks for the form
    // on a first connection, see `Connection::plain_recovery`).
    let auth = match (client.request.query("pid"), client.request.query("offset")) {
        (Some(pid), Some(offset)) => Some(serde_json::Map::from_iter([
            ("pid".to_owned(), serde_json::Value::from(pid)),
            ("offset".to_owned(), serde_json::Value::from(offset)),
        ])),
        _ => None,
    };
    core.connect_and_wait(&client, &nsp, auth).await;
    let socket = client.socket(&nsp);

    let mut batch = Vec::new();
    let mut close_frame = None;
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + config.ping_interval,
        config.ping_interval,
    );
    let mut awaiting_pong: Option<tokio::time::Instant> = None;
    while let Some(socket) = socket.as_ref().filter(|_| !session.is_closed()) {
        let pong_deadline = async {
            match awaiting_pong {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = session.closed() => break,
            _ = session.outbox.ready() => {
                session.outbox.drain_into(&mut batch);
                if ws.write_batch(&mut batch).await.is_err() {
                    session.close(CloseReason::TransportError);
                }
            }
            _ = pong_deadline => {
                tracing::debug!(socket = %socket.id(), "plain websocket: no pong within ping timeout");
                session.close(CloseReason::PingTimeout);
            }
            _ = ping.tick() => {
                if ws.send_ping().await.is_err() {
                    session.close(CloseReason::TransportError);
                }
                awaiting_pong.get_or_insert(tokio::time::Instant::now() + config.ping_timeout);
            }
            message = async {
                // Backpressure: read the next frame only once the handlers keep up.
                client.inbox.ready().await;
                ws.recv().await
            } => match message {
                Some(Ok(Incoming::Text(text))) => {
                    if let Err(reason) = on_text(socket, text.as_str()) {
                        tracing::warn!(socket = %socket.id(), %reason, "plain websocket: bad frame, closing");
                        close_frame = Some(CloseFrame { code: close_code::INVALID, reason: reason.into() });
                        session.close(CloseReason::ParseError);
                    }
                }
                Some(Ok(Incoming::Binary(bytes))) => {
                    let payload = Payload::new().binary_arg(bytes);
                    socket.dispatch_event("message".into(), payload, None);
                }
                Some(Ok(Incoming::Pong)) => awaiting_pong = None,
                Some(Ok(Incoming::Ping(payload))) => {
                    if ws.send_pong(&payload).await.is_err() {
                        session.close(CloseReason::TransportError);
                    }
                }
                Some(Ok(Incoming::Close(_))) | None => session.close(CloseReason::TransportClose),
                Some(Err(err)) => close_frame = session.close_for_read_error(&err),
            },
        }
    }
    if socket.is_none() {
        // Refused (or unknown namespace): the `$error` frame is queued; close as a policy
        // violation so the reason is visible even to clients that ignore text frames.
        close_frame.get_or_insert(CloseFrame {
            code: close_code::POLICY,
            reason: "connection refused".into(),
        });
    }
    // Why the server closed, in the close frame: clients without Socket.IO have no other way
    // to learn it.
    let why = match session.close_reason() {
        // Refused after connecting (a failed `$init`), with the reason.
        Some(CloseReason::PolicyViolation) => Some((
            close_code::POLICY,
            session.close_detail().unwrap_or("policy violation"),
        )),
        Some(CloseReason::SlowConsumer) => Some((close_code::POLICY, "slow consumer")),
        Some(CloseReason::ServerShutdown) => Some((close_code::AWAY, "server shutting down")),
        _ => None,
    };
    if let Some((code, reason)) = why {
        close_frame.get_or_insert(CloseFrame {
            code,
            reason: reason.into(),
        });
    }
    session.close(CloseReason::TransportClose);
    session.outbox.drain_into(&mut batch);
    ws.close_gracefully(&mut batch, close_frame).await;
    core.plain_sessions.remove(session.sid());
    client.close_all(
        session
            .close_reason()
            .unwrap_or(CloseReason::TransportClose),
    );
}

/// Dispatches one text frame (see [`crate::wire::plain`]).
fn on_text(socket: &super::socket::Socket, text: &str) -> Result<(), &'static str> {
    match plain::decode(text)? {
        PlainFrame::Event {
            event,
            args,
            ack_id,
        } => socket.dispatch_event(
            event,
            Payload::from_raw(args, Vec::new()),
            ack_id.map(ReplyTo::Ack),
        ),
        PlainFrame::Ack { id, args } => socket.on_ack(id, Payload::from_raw(args, Vec::new())),
        // A bare message, answered in raw text.
        PlainFrame::Raw(text) => socket.dispatch_event(
            "message".into(),
            Payload::from_value(serde_json::Value::from(text)),
            Some(ReplyTo::RawText),
        ),
    }
    Ok(())
}
