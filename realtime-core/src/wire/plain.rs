//! The plain WebSocket JSON frames (see [`crate::docs::plain_websocket`]): what a client's
//! text frame means. Encoding is in [`super::codec`].

use serde_json::Value;

use super::socketio::{check_placeholders, event_name, is_reserved};

/// What a plain client's text frame asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum PlainFrame {
    /// `[event, data?, ackId?]` (and the compact `["m", [event, data], ackId?]`, which is
    /// the event `m` here, unwrapped by the socket like any client's).
    Event {
        event: String,
        args: Vec<Value>,
        ack_id: Option<u64>,
    },
    /// `["$ack", id, ...args]`: the client answers the server's ack request `id`.
    Ack { id: u64, args: Vec<Value> },
    /// Any text that is not a JSON array: a bare message, as plain WebSocket servers receive
    /// them (the event `message`, answered in raw text).
    Raw(String),
}

/// Decodes a text frame. An error is a frame that is a JSON array but not of the forms
/// above; the message says why, for the close frame.
pub fn decode(text: &str) -> Result<PlainFrame, &'static str> {
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        _ => return Ok(PlainFrame::Raw(text.to_owned())),
    };
    let mut items = items.into_iter();
    let event = items
        .next()
        .and_then(event_name)
        .ok_or("the first element of a frame must be the event name")?;
    if event == "$ack" {
        let id = items
            .next()
            .and_then(|v| v.as_u64())
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
        Some(v) => Some(
            v.as_u64()
                .ok_or("the ack id must be a non-negative integer")?,
        ),
    };
    if items.next().is_some() {
        return Err("a frame has at most three elements: [event, data, ackId]");
    }
    let args: Vec<Value> = data.into_iter().collect();
    check_placeholders(&args, 0).map_err(|_| "placeholders are not allowed in plain frames")?;
    Ok(PlainFrame::Event {
        event,
        args,
        ack_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_forms_of_a_frame() {
        assert_eq!(
            decode(r#"["hi",{"a":1},7]"#),
            Ok(PlainFrame::Event {
                event: "hi".into(),
                args: vec![json!({"a":1})],
                ack_id: Some(7)
            })
        );
        assert_eq!(
            decode(r#"[3]"#),
            Ok(PlainFrame::Event {
                event: "3".into(),
                args: vec![],
                ack_id: None
            })
        );
        assert_eq!(
            decode(r#"["$ack",2,"x","y"]"#),
            Ok(PlainFrame::Ack {
                id: 2,
                args: vec![json!("x"), json!("y")]
            })
        );
        assert_eq!(decode("hello"), Ok(PlainFrame::Raw("hello".into())));
        assert_eq!(
            decode(r#"{"a":1}"#),
            Ok(PlainFrame::Raw(r#"{"a":1}"#.into()))
        );
        assert!(decode("[{}]").is_err());
        assert!(decode(r#"["connect"]"#).is_err());
        assert!(decode(r#"["a",1,2,3]"#).is_err());
        assert!(decode(r#"["a",1,-2]"#).is_err());
        assert!(decode(r#"["a",{"_placeholder":true,"num":0}]"#).is_err());
    }
}
