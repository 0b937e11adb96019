//! The WebSocket transport: sessions that start on WebSocket, and polling sessions upgrading
//! to it (probe → noop → upgrade).

use std::sync::{atomic::Ordering, Arc};

use axum::response::Response;

use super::{
    CloseReason, Engine, EngineHandler, EngineSession, Entry, Frame, Handshake, Protocol,
    TransportKind,
};
use crate::{
    websocket::{Upgraded, WebSocketUpgrade},
    wire::{
        eio3, engineio as packet,
        websocket::{
            decoder::Incoming,
            frame::{close_code, CloseFrame},
        },
    },
};

/// A session that starts on WebSocket: the open packet is the first frame.
pub(super) fn handshake<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    request: http::request::Parts,
    ws: WebSocketUpgrade,
    handshake: Handshake,
) -> Response {
    // The session opens before the upgrade so that the connection's task captures only the
    // entry, not the request head: whatever the task captures stays allocated for the whole
    // life of the connection.
    let entry = engine.open(TransportKind::WebSocket, &request, handshake);
    drop(request);
    let failed = (Arc::clone(&engine), Arc::clone(&entry));
    ws.respond(
        move |err| {
            tracing::debug!(%err, "websocket upgrade failed");
            let (engine, entry) = failed;
            entry.session.close(CloseReason::TransportError);
            tokio::spawn(engine.drive(entry));
        },
        // Boxed: the connection would otherwise be laid out inline in each of the nested
        // futures that hold it in turn, and the task keeps its largest layout for life.
        move |socket| run(engine, entry, Box::new(socket)),
    )
}

/// A WebSocket-native session's task: open packet, then I/O and heartbeat side by side.
async fn run<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::Conn>>,
    mut socket: Box<Upgraded>,
) {
    let open = engine.open_packet(entry.session.sid(), TransportKind::WebSocket);
    if socket.send_text(&open).await.is_err() {
        entry.session.close(CloseReason::TransportError);
    }
    // The heartbeat runs in this same task: one task per WebSocket connection.
    tokio::join!(
        io_loop(&engine, &entry, socket),
        Arc::clone(&engine).drive(Arc::clone(&entry))
    );
}

/// A polling session asking to move to WebSocket.
pub(super) fn upgrade<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::Conn>>,
    ws: WebSocketUpgrade,
) -> Response {
    let session = &entry.session;
    if session.transport() != TransportKind::Polling
        || session.upgrading.swap(true, Ordering::AcqRel)
    {
        // Like the reference server: complete the WebSocket handshake, then close at once.
        // (Clients treat an HTTP error here as a fatal error rather than a closed transport.)
        tracing::debug!(sid = %session.sid(), "closing a second upgrade attempt");
        return ws.respond(drop, |mut socket| async move {
            socket.close_gracefully(&mut Vec::new(), None).await;
        });
    }
    let upgrade_timeout = engine.config.upgrade_timeout;
    let failed = Arc::clone(&entry);
    ws.respond(
        move |err| {
            tracing::debug!(%err, "websocket upgrade failed; session stays on polling");
            failed.session.upgrading.store(false, Ordering::Release);
        },
        move |mut socket| async move {
            let session = &entry.session;
            let probed = tokio::select! {
                r = tokio::time::timeout(upgrade_timeout, probe(&mut socket, session)) => matches!(r, Ok(Ok(()))),
                _ = session.closed() => false,
            };
            if !probed {
                tracing::debug!(sid = %session.sid(), "upgrade abandoned; session stays on polling");
                session.probed.store(false, Ordering::Release);
                session.upgrading.store(false, Ordering::Release);
                socket.close_gracefully(&mut Vec::new(), None).await;
                return;
            }
            session.set_transport(TransportKind::WebSocket);
            session.upgrading.store(false, Ordering::Release);
            session.upgraded.notify_waiters();
            tracing::debug!(sid = %session.sid(), "upgraded to websocket");
            io_loop(&engine, &entry, Box::new(socket)).await;
        },
    )
}

/// The upgrade dance on the new WebSocket: `2probe` → `3probe` (and a noop to release the
/// pending poll), then `5`.
async fn probe(socket: &mut Upgraded, session: &EngineSession) -> Result<(), ()> {
    loop {
        match socket.recv().await {
            Some(Ok(Incoming::Text(text))) => match text.as_str() {
                "2probe" => {
                    socket.send_text("3probe").await.map_err(drop)?;
                    // The client pauses polling until its pending GET returns: release it
                    // (and answer any GET that arrives before the upgrade completes) with a
                    // noop.
                    session.probed.store(true, Ordering::Release);
                    session.release_poll.notify_one();
                }
                "5" => return Ok(()),
                _ => return Err(()),
            },
            Some(Ok(Incoming::Ping(payload))) => {
                socket.send_pong(&payload).await.map_err(drop)?;
            }
            Some(Ok(Incoming::Pong)) => {}
            _ => return Err(()),
        }
    }
}

/// Moves frames both ways until the session closes, then flushes and closes the WebSocket.
async fn io_loop<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::Conn>,
    mut socket: Box<Upgraded>,
) {
    let session = &entry.session;
    let mut batch = Vec::new();
    let mut close_frame = None;
    loop {
        tokio::select! {
            biased;
            _ = session.closed() => break,
            _ = session.outbox.ready() => {
                session.outbox.drain_into(&mut batch);
                if session.protocol() == Protocol::V3 {
                    frame_for_v3(&mut batch, session.base64_only());
                }
                let written = tokio::select! {
                    r = socket.write_batch(&mut batch) => r,
                    _ = session.closed() => Ok(()),
                };
                if written.is_err() {
                    session.close(CloseReason::TransportError);
                }
            }
            message = async {
                // Backpressure: read the next frame only once the layer above takes it.
                engine.handler.ready(&entry.conn).await;
                socket.recv().await
            } => match message {
                Some(Ok(Incoming::Ping(payload))) => {
                    if socket.send_pong(&payload).await.is_err() {
                        session.close(CloseReason::TransportError);
                    }
                }
                Some(Ok(message)) => {
                    if let Err(reason) = on_message(engine, entry, message) {
                        engine.protocol_error(session, &reason);
                        close_frame = Some(CloseFrame { code: close_code::PROTOCOL, reason: "parse error".into() });
                    }
                }
                Some(Err(err)) => close_frame = session.close_for_read_error(&err),
                None => session.close(CloseReason::TransportClose),
            },
        }
    }
    // Whatever was queued before the close (a DISCONNECT, a CONNECT_ERROR) still goes out.
    session.outbox.drain_into(&mut batch);
    if session.protocol() == Protocol::V3 {
        frame_for_v3(&mut batch, session.base64_only());
    }
    socket.close_gracefully(&mut batch, close_frame).await;
}

/// Engine.IO v3 frames its binary messages with the type byte `4` (or, for a client that
/// asked for `b64=1`, as `b4<base64>` text); v4 sends the bare bytes that are queued.
fn frame_for_v3(batch: &mut [Frame], base64_only: bool) {
    for frame in batch.iter_mut() {
        if let Frame::Binary(data) = frame {
            *frame = if base64_only {
                Frame::Text(eio3::encode_base64_packet(data).into())
            } else {
                Frame::Binary(eio3::binary_frame(data))
            };
        }
    }
}

/// Decodes one WebSocket message and hands it to the engine.
fn on_message<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::Conn>,
    message: Incoming,
) -> Result<(), String> {
    match message {
        Incoming::Text(text) => {
            let packet = match entry.session.protocol() {
                Protocol::V4 => packet::decode_text(text.as_str()),
                Protocol::V3 => eio3::decode_packet(text.as_str()),
            }
            .map_err(|e| format!("undecodable packet: {e}"))?;
            engine.on_packet(entry, packet)
        }
        Incoming::Binary(bytes) => match entry.session.protocol() {
            Protocol::V4 => engine.on_packet(entry, packet::Packet::Binary(bytes)),
            Protocol::V3 => {
                let packet =
                    eio3::decode_binary(bytes).map_err(|e| format!("undecodable packet: {e}"))?;
                engine.on_packet(entry, packet)
            }
        },
        Incoming::Ping(_) | Incoming::Pong => Ok(()),
        Incoming::Close(_) => {
            entry.session.close(CloseReason::TransportClose);
            Ok(())
        }
    }
}
