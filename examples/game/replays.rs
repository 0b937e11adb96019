//! Binary data: replays uploaded as attachments, and bare binary frames from plain
//! WebSocket clients.

use realtime::{event, Bin, Payload, Socket};

/// Saves a replay sent as any number of arguments, JSON and binary in any order
/// (`socket.emit("replay", "final", 7, chunk1, chunk2, callback)`). `Payload` takes every
/// argument as sent; `Bin` the binary attachments among them. The reply is a `Payload` too:
/// a summary, then the chunks joined into one binary argument (a `Buffer` for a Socket.IO
/// client, `{"base64": ...}` for a plain one).
#[event("replay")]
async fn replay(Bin(chunks): Bin, payload: Payload) -> Payload {
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let summary = serde_json::json!({
        "args": payload.len(),
        "chunks": chunks.len(),
        "bytes": joined.len(),
    });
    Payload::from_value(summary).binary_arg(joined)
}

/// A plain WebSocket client may send a replay as one bare binary frame instead of a JSON
/// array: it arrives as the event `message` with the bytes in `Bin` (Socket.IO clients reach
/// the same handler with `socket.send(bytes)`). A bare frame carries no ack id, so the
/// handler also announces the upload as the event `stored`. A bare text frame lands here
/// too, and its answer goes back as a bare text frame.
#[event("message")]
async fn bare_frame(socket: Socket, Bin(blobs): Bin) -> Result<usize, &'static str> {
    let Some(replay) = blobs.first() else {
        return Err("send a replay as a binary frame");
    };
    let _ = socket.emit("stored", &serde_json::json!({ "bytes": replay.len() }));
    Ok(replay.len())
}
