//! The plain WebSocket JSON frames (see [`crate::docs::plain_websocket`]): what a client's
//! text frame means. Encoding is in [`super::codec`].

use super::socketio::{
    check_raw_placeholders, is_reserved, nesting_within, raw_event_name, RawArg, MAX_NESTING,
};

/// What a plain client's text frame asks for.
#[derive(Debug, Clone)]
pub enum PlainFrame {
    /// `[event, data?, ackId?]` (and the compact `["m", [event, data], ackId?]`, which is
    /// the event `m` here, unwrapped by the socket like any client's).
    Event {
        event: String,
        args: Vec<RawArg>,
        ack_id: Option<u64>,
    },
    /// `["$ack", id, ...args]`: the client answers the server's ack request `id`.
    Ack { id: u64, args: Vec<RawArg> },
    /// Any text that is not a JSON array: a bare message, as plain WebSocket servers receive
    /// them (the event `message`, answered in raw text).
    Raw(String),
}

/// Decodes a text frame. An error is a frame that is a JSON array but not of the forms
/// above; the message says why, for the close frame.
pub fn decode(text: &str) -> Result<PlainFrame, &'static str> {
    // Elements stay JSON text: handlers deserialize straight from them.
    if !nesting_within(text, MAX_NESTING) {
        return Err("the frame nests deeper than 128 levels");
    }
    let Ok(items) = serde_json::from_str::<Vec<RawArg>>(text) else {
        return Ok(PlainFrame::Raw(text.to_owned()));
    };
    let mut items = items.into_iter();
    let event = items
        .next()
        .as_deref()
        .and_then(raw_event_name)
        .ok_or("the first element of a frame must be the event name")?;
    let as_u64 = |raw: &RawArg| serde_json::from_str::<u64>(raw.get()).ok();
    if event == "$ack" {
        let id = items
            .next()
            .as_ref()
            .and_then(as_u64)
            .ok_or("$ack needs a numeric ack id")?;
        return Ok(PlainFrame::Ack {
            id,
            args: items.collect(),
        });
    }
    if is_reserved(&event) {
        return Err("reserved event name");
    }
    let data = items.next();
    let ack_id = match items.next() {
        None => None,
        Some(v) => Some(as_u64(&v).ok_or("the ack id must be a non-negative integer")?),
    };
    if items.next().is_some() {
        return Err("a frame has at most three elements: [event, data, ackId]");
    }
    let args: Vec<RawArg> = data.into_iter().collect();
    check_raw_placeholders(&args, 0).map_err(|_| "placeholders are not allowed in plain frames")?;
    Ok(PlainFrame::Event {
        event,
        args,
        ack_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded frame, its arguments as JSON text, for comparing.
    fn show(text: &str) -> Result<String, &'static str> {
        let texts = |args: &[RawArg]| args.iter().map(|a| a.get()).collect::<Vec<_>>().join(",");
        Ok(match decode(text)? {
            PlainFrame::Event {
                event,
                args,
                ack_id,
            } => {
                format!("event {event} [{}] {ack_id:?}", texts(&args))
            }
            PlainFrame::Ack { id, args } => format!("ack {id} [{}]", texts(&args)),
            PlainFrame::Raw(text) => format!("raw {text}"),
        })
    }

    #[test]
    fn the_forms_of_a_frame() {
        assert_eq!(
            show(r#"["hi",{"a":1},7]"#).unwrap(),
            r#"event hi [{"a":1}] Some(7)"#
        );
        assert_eq!(show("[3]").unwrap(), "event 3 [] None");
        assert_eq!(show(r#"["$ack",2,"x","y"]"#).unwrap(), r#"ack 2 ["x","y"]"#);
        assert_eq!(show("hello").unwrap(), "raw hello");
        assert_eq!(show(r#"{"a":1}"#).unwrap(), r#"raw {"a":1}"#);
        assert_eq!(
            show(r#"["a",{"z":0.1,"b":[1]}]"#).unwrap(),
            r#"event a [{"z":0.1,"b":[1]}] None"#,
            "arguments keep their text"
        );
        assert!(decode("[{}]").is_err());
        assert!(decode(r#"["connect"]"#).is_err());
        assert!(decode(r#"["a",1,2,3]"#).is_err());
        assert!(decode(r#"["a",1,-2]"#).is_err());
        assert!(decode(r#"["a",{"_placeholder":true,"num":0}]"#).is_err());
    }
}
