//! HTTP long-polling: the handshake GET, the waiting GET that carries packets to the client,
//! and the POST that carries packets from it. Engine.IO v3 sessions write and read the v3
//! payload formats (`wire::eio3`); the choice is made per request from the session.

use std::sync::{atomic::Ordering, Arc};

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use http::{header, StatusCode};

use super::{
    text_response, CloseReason, Engine, EngineError, EngineHandler, Entry, Frame, Handshake,
    PacketType, Protocol, TransportKind,
};
use crate::wire::eio3;

/// Opens a session on polling: answers with the open packet and starts its heartbeat.
pub(super) fn handshake<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    request: &http::request::Parts,
    handshake: Handshake,
) -> Response {
    let entry = engine.open(TransportKind::Polling, request, handshake);
    let open = engine.open_packet(entry.session.sid(), TransportKind::Polling);
    let response = match handshake.protocol {
        Protocol::V4 => text_response(StatusCode::OK, open),
        Protocol::V3 => payload_response(&entry.session, &[Frame::Text(open.into())]),
    };
    tokio::spawn(Arc::clone(&engine).drive(entry));
    response
}

/// The body of a poll for a session: v4 records joined by `\x1e`, or a v3 payload (binary
/// when a frame is binary and the client takes binary).
fn payload_response(session: &super::EngineSession, frames: &[Frame]) -> Response {
    if session.protocol() == Protocol::V4 {
        let mut body = String::with_capacity(frames.iter().map(|f| f.len() + 1).sum());
        for frame in frames {
            crate::wire::engineio::encode_record(&mut body, frame);
        }
        return text_response(StatusCode::OK, body);
    }
    if eio3::wants_binary_payload(frames, session.base64_only()) {
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            eio3::encode_binary_payload(frames),
        )
            .into_response()
    } else {
        text_response(StatusCode::OK, eio3::encode_payload(frames))
    }
}

/// Closes the session if the GET is dropped before it answered (the client went away).
struct PendingPoll<'a> {
    session: &'a super::EngineSession,
    answered: bool,
}

impl Drop for PendingPoll<'_> {
    fn drop(&mut self) {
        self.session.poll_active.store(false, Ordering::Release);
        if !self.answered {
            tracing::debug!(sid = %self.session.sid(), "poll cancelled by the client");
            self.session.close(CloseReason::TransportError);
        }
    }
}

/// A GET: waits until packets are queued (or the session ends) and answers with all of them.
pub(super) async fn poll<C>(entry: &Entry<C>) -> Response {
    let session = &entry.session;
    if session.transport() != TransportKind::Polling {
        return EngineError::BadRequest.response();
    }
    if session.upgrading.load(Ordering::Acquire) && !upgrade_settled(session).await {
        // The upgrade is still completing: end this poll so the client can switch.
        return payload_response(session, &[Frame::bare(PacketType::Noop)]);
    }
    if session.transport() != TransportKind::Polling {
        return EngineError::BadRequest.response();
    }
    if session.poll_active.swap(true, Ordering::AcqRel) {
        // The reference server treats an overlapping poll as fatal to the session.
        tracing::warn!(sid = %session.sid(), "overlapping polling GET: closing session");
        session.close(CloseReason::TransportError);
        return EngineError::BadRequest.response();
    }
    let mut pending = PendingPoll {
        session,
        answered: false,
    };

    let mut frames = Vec::new();
    loop {
        session.outbox.drain_into(&mut frames);
        if !frames.is_empty() {
            break;
        }
        if session.is_closed() {
            // A client-initiated close is acknowledged with a noop; a server-side close tells
            // the client with a close packet.
            let kind = match session.close_reason() {
                Some(CloseReason::TransportClose) => PacketType::Noop,
                _ => PacketType::Close,
            };
            frames.push(Frame::bare(kind));
            // Frames queued before the close went out in earlier polls, and the close
            // packet comes alone: clients handle a payload's packets after its close
            // packet otherwise, and would drop them (socket.io-client defers them a tick).
            session.close_delivered.store(true, Ordering::Release);
            break;
        }
        if session.probed.load(Ordering::Acquire) {
            // An upgrade is completing: let the client stop polling.
            frames.push(Frame::bare(PacketType::Noop));
            break;
        }
        tokio::select! {
            _ = session.outbox.ready() => {}
            _ = session.closed() => {}
            _ = session.release_poll.notified() => {}
        }
    }

    pending.answered = true;
    payload_response(session, &frames)
}

/// How long a poll that arrives mid-upgrade waits for the client's upgrade packet, which may
/// be in flight on the WebSocket at the same moment.
const UPGRADE_RACE_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// For a poll arriving while an upgrade is under way: waits briefly for the upgrade to
/// complete. Returns whether the session has moved to WebSocket.
async fn upgrade_settled(session: &super::EngineSession) -> bool {
    let upgraded = session.upgraded.notified();
    tokio::pin!(upgraded);
    upgraded.as_mut().enable();
    if session.transport() == TransportKind::WebSocket {
        return true;
    }
    let _ = tokio::time::timeout(UPGRADE_RACE_GRACE, upgraded).await;
    session.transport() == TransportKind::WebSocket
}

/// Clears the "POST in progress" mark however the request ends.
struct ActivePost<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for ActivePost<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A POST: decodes the payload and hands each packet to the session. `binary`: the body
/// came as `application/octet-stream` (a v3 binary payload).
pub(super) async fn post<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::Conn>,
    body: Body,
    binary: bool,
) -> Response {
    let session = &entry.session;
    if session.transport() != TransportKind::Polling {
        return EngineError::BadRequest.response();
    }
    if session.post_active.swap(true, Ordering::AcqRel) {
        tracing::warn!(sid = %session.sid(), "overlapping polling POST: closing session");
        session.close(CloseReason::TransportError);
        return EngineError::BadRequest.response();
    }
    let _active = ActivePost(&session.post_active);

    let body = match axum::body::to_bytes(body, engine.config.max_payload).await {
        Ok(body) => body,
        Err(_) => {
            tracing::warn!(sid = %session.sid(), max = engine.config.max_payload, "polling payload too large");
            session.close(CloseReason::ParseError);
            return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response();
        }
    };
    // Binary payloads are v3 only; a v4 body is read as text whatever its content type.
    let decoded = if binary && session.protocol() == Protocol::V3 {
        eio3::decode_binary_payload(&body)
    } else {
        let Ok(text) = std::str::from_utf8(&body) else {
            engine.protocol_error(session, "polling payload is not UTF-8");
            return EngineError::BadRequest.response();
        };
        match session.protocol() {
            Protocol::V4 => crate::wire::engineio::decode_payload(text),
            Protocol::V3 => eio3::decode_payload(text),
        }
    };
    let packets = match decoded {
        Ok(packets) => packets,
        Err(err) => {
            engine.protocol_error(session, &format!("undecodable polling payload: {err}"));
            return EngineError::BadRequest.response();
        }
    };
    for packet in packets {
        // Backpressure: a client posting faster than its handlers run waits for its answer.
        engine.handler.ready(&entry.conn).await;
        if let Err(reason) = engine.on_packet(entry, packet) {
            engine.protocol_error(session, &reason);
            return EngineError::BadRequest.response();
        }
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}
