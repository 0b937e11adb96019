//! The WebSocket transport: sessions that start on WebSocket, and polling sessions upgrading
//! to it (probe → noop → upgrade).

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use axum::{
    extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade},
    response::Response,
};
use futures_util::SinkExt;

use super::{
    packet::{self, Frame},
    CloseReason, Engine, EngineHandler, Entry, Session, TransportKind,
};

/// How long a closing connection gets to flush its last packets (a DISCONNECT, say).
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Initial read buffer of each WebSocket connection, in bytes. tungstenite zero-fills its
/// whole read buffer, so every byte here is resident memory for every idle connection; the
/// default (128 KiB) would dwarf everything else a connection costs. Typical Socket.IO
/// frames fit in 1 KiB; a larger frame grows the buffer to its own size.
pub(crate) const READ_BUFFER_SIZE: usize = 1024;

/// Sizes tungstenite's buffers for many mostly idle connections (see [`READ_BUFFER_SIZE`]);
/// writes go straight to the socket since the transport batches and flushes itself.
pub(crate) fn configure(ws: WebSocketUpgrade, max_payload: usize) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(0)
        .max_message_size(max_payload)
        .max_frame_size(max_payload)
}

/// A session that starts on WebSocket: the open packet is the first frame.
pub(super) fn handshake<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    request: http::request::Parts,
    ws: WebSocketUpgrade,
) -> Response {
    // The session opens before the upgrade so that the connection's task captures only the
    // entry, not the request head: whatever the task captures stays allocated for the whole
    // life of the connection.
    let entry = engine.open(TransportKind::WebSocket, &request);
    drop(request);
    let failed = (Arc::clone(&engine), Arc::clone(&entry));
    configure(ws, engine.config.max_payload)
        .on_failed_upgrade(move |err| {
            tracing::debug!(%err, "websocket upgrade failed");
            let (engine, entry) = failed;
            entry.session.close(CloseReason::TransportError);
            tokio::spawn(engine.drive(entry));
        })
        // Boxed: the WebSocket would otherwise be laid out inline in each of the nested
        // futures that hold it in turn, and the task keeps its largest layout for life.
        .on_upgrade(move |socket| run(engine, entry, Box::new(socket)))
}

/// A WebSocket-native session's task: open packet, then I/O and heartbeat side by side.
async fn run<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::Conn>>,
    mut socket: Box<WebSocket>,
) {
    let open = engine.open_packet(entry.session.sid(), TransportKind::WebSocket);
    if socket.send(Message::Text(open.into())).await.is_err() {
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
        return ws.on_upgrade(|mut socket| async move {
            let _ = socket.close().await;
        });
    }
    let max_payload = engine.config.max_payload;
    let upgrade_timeout = engine.config.upgrade_timeout;
    configure(ws, max_payload).on_upgrade(move |mut socket| async move {
        let session = &entry.session;
        let probed = tokio::select! {
            r = tokio::time::timeout(upgrade_timeout, probe(&mut socket, session)) => matches!(r, Ok(Ok(()))),
            _ = session.closed() => false,
        };
        if !probed {
            tracing::debug!(sid = %session.sid(), "upgrade abandoned; session stays on polling");
            session.probed.store(false, Ordering::Release);
            session.upgrading.store(false, Ordering::Release);
            let _ = socket.close().await;
            return;
        }
        session.set_transport(TransportKind::WebSocket);
        session.upgrading.store(false, Ordering::Release);
        session.upgraded.notify_waiters();
        tracing::debug!(sid = %session.sid(), "upgraded to websocket");
        io_loop(&engine, &entry, Box::new(socket)).await;
    })
}

/// The upgrade dance on the new WebSocket: `2probe` → `3probe` (and a noop to release the
/// pending poll), then `5`.
async fn probe(socket: &mut WebSocket, session: &Session) -> Result<(), ()> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => match text.as_str() {
                "2probe" => {
                    socket
                        .send(Message::Text("3probe".into()))
                        .await
                        .map_err(drop)?;
                    // The client pauses polling until its pending GET returns: release it
                    // (and answer any GET that arrives before the upgrade completes) with a
                    // noop.
                    session.probed.store(true, Ordering::Release);
                    session.release_poll.notify_one();
                }
                "5" => return Ok(()),
                _ => return Err(()),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            _ => return Err(()),
        }
    }
}

/// Moves frames both ways until the session closes, then flushes and closes the WebSocket.
async fn io_loop<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::Conn>,
    mut socket: Box<WebSocket>,
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
                let written = tokio::select! {
                    r = write_batch(&mut socket, &mut batch) => r,
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
                Some(Ok(message)) => {
                    if let Err(reason) = on_frame(engine, entry, message) {
                        engine.protocol_error(session, &reason);
                        close_frame = Some(CloseFrame { code: close_code::PROTOCOL, reason: "parse error".into() });
                    }
                }
                Some(Err(err)) => {
                    let too_big = matches!(
                        err.into_inner().downcast_ref::<tungstenite::Error>(),
                        Some(tungstenite::Error::Capacity(_))
                    );
                    if too_big {
                        tracing::warn!(sid = %session.sid(), "websocket message over max_payload: closing with 1009");
                        close_frame = Some(CloseFrame { code: close_code::SIZE, reason: "Max payload size exceeded".into() });
                        session.close(CloseReason::ParseError);
                    } else {
                        session.close(CloseReason::TransportError);
                    }
                }
                None => session.close(CloseReason::TransportClose),
            },
        }
    }
    // Whatever was queued before the close (a DISCONNECT, a CONNECT_ERROR) still goes out.
    session.outbox.drain_into(&mut batch);
    close_gracefully(&mut socket, &mut batch, close_frame).await;
}

/// Ends a WebSocket connection without losing what was queued for it: writes the last
/// frames, sends the close frame, then reads (and drops) whatever the client still sends
/// until it answers the close. Closing the TCP connection with unread input would make the
/// kernel reset it and discard the frames just written (a flooding client cut off would
/// never learn why). Bounded by [`CLOSE_FLUSH_TIMEOUT`] for each half.
pub(crate) async fn close_gracefully(
    socket: &mut WebSocket,
    batch: &mut Vec<Frame>,
    close_frame: Option<CloseFrame>,
) {
    let sent = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
        write_batch(socket, batch).await?;
        socket.send(Message::Close(close_frame)).await
    })
    .await;
    if matches!(sent, Ok(Ok(()))) {
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Writes a batch of frames and flushes once.
pub(crate) async fn write_batch(
    socket: &mut WebSocket,
    batch: &mut Vec<Frame>,
) -> Result<(), axum::Error> {
    for frame in batch.drain(..) {
        let message = match frame {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary(bytes) => Message::Binary(bytes),
        };
        socket.feed(message).await?;
    }
    if batch.capacity() > 64 {
        *batch = Vec::new();
    }
    socket.flush().await
}

/// Decodes one WebSocket frame and hands it to the engine.
fn on_frame<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::Conn>,
    message: Message,
) -> Result<(), String> {
    match message {
        Message::Text(text) => {
            let packet = packet::decode_text(text.as_str())
                .map_err(|e| format!("undecodable packet: {e}"))?;
            engine.on_packet(entry, packet)
        }
        Message::Binary(bytes) => engine.on_packet(entry, packet::Packet::Binary(bytes)),
        Message::Ping(_) | Message::Pong(_) => Ok(()),
        Message::Close(_) => {
            entry.session.close(CloseReason::TransportClose);
            Ok(())
        }
    }
}
