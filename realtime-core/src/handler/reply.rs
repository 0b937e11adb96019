//! Handler return values as ack replies.
//!
//! Whatever a handler returns answers the client's ack, if the client asked for one and the
//! handler did not take an [`AckSender`](crate::AckSender):
//!
//! | return type | ack reply (the arguments of the client's callback) |
//! |---|---|
//! | `()` | no arguments: `callback()` |
//! | any `T: Serialize` | `callback(value)` |
//! | `Result<T, E>` with `T, E: Serialize` | `Ok(v)` → `callback(v)` (`Ok(())` → `callback()`); `Err(e)` → `callback({"error": e})` |
//! | [`Payload`] | its arguments and binary attachments, as they are |
//! | [`Reply`] | whatever it was built as |
//!
//! The error form `{"error": ...}` is the same one the framework uses when an argument cannot
//! be extracted or no handler exists for the event, so a client needs one check for all.

use serde::{ser, Serialize};
use serde_json::Value;

use crate::wire::{
    payload::{error_payload, error_payload_raw, Payload},
    socketio::RawArg,
};

/// What a handler's return value does with the client's ack.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an event handler",
    note = "return `()`, any `Serialize` value, `Result<T, E>` with serializable `T` and `E`, a `Payload` or a `Reply`"
)]
pub trait IntoReply: Send + 'static {
    /// The ack reply, if any.
    fn into_reply(self) -> Option<Payload>;
}

/// An explicit ack reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(Option<Payload>);

impl Reply {
    /// No reply: the client's ack stays unanswered (it times out, if it set a timeout).
    pub fn none() -> Reply {
        Reply(None)
    }

    /// A reply with one argument.
    pub fn ok(value: impl Serialize) -> Reply {
        Reply(Some(Payload::from_raw(vec![to_raw(&value)], Vec::new())))
    }

    /// The documented error reply: `{"error": message}`.
    pub fn error(message: impl std::fmt::Display) -> Reply {
        Reply(Some(error_payload(Value::from(message.to_string()))))
    }

    /// A reply with several arguments or binary attachments.
    pub fn payload(payload: Payload) -> Reply {
        Reply(Some(payload))
    }
}

impl IntoReply for Reply {
    fn into_reply(self) -> Option<Payload> {
        self.0
    }
}

impl IntoReply for Payload {
    fn into_reply(self) -> Option<Payload> {
        Some(self)
    }
}

impl<T: Serialize + Send + 'static> IntoReply for T {
    fn into_reply(self) -> Option<Payload> {
        Some(match self.serialize(ResultProbe) {
            Ok(Probed::Unit) => Payload::new(),
            Ok(Probed::Ok(value)) => Payload::from_raw(vec![value], Vec::new()),
            Ok(Probed::Err(error)) => error_payload_raw(error),
            Err(NotAResult) => Payload::from_raw(vec![to_raw(&self)], Vec::new()),
        })
    }
}

/// Serializes a reply argument straight to JSON text (a struct keeps its field order).
fn to_raw<T: Serialize + ?Sized>(value: &T) -> RawArg {
    serde_json::value::to_raw_value(value).unwrap_or_else(|err| {
        tracing::error!(%err, "handler reply could not be serialized");
        let error = serde_json::json!({ "error": format!("reply could not be serialized: {err}") });
        serde_json::value::to_raw_value(&error).expect("a Value always serializes")
    })
}

/// Recognises `()` and `Result` among serializable return values.
///
/// A blanket `IntoReply` for `Serialize` types leaves no room for a separate impl for
/// `Result` (a `Result` of serializable types is itself `Serialize`), so the reply looks at
/// how the value serializes instead: serde writes a `Result` as the newtype variant `Ok` or
/// `Err` of an enum named `Result`. Anything else fails this probe at its first call.
struct ResultProbe;

enum Probed {
    Unit,
    Ok(RawArg),
    Err(RawArg),
}

#[derive(Debug)]
struct NotAResult;

impl std::fmt::Display for NotAResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a Result")
    }
}

impl std::error::Error for NotAResult {}

impl ser::Error for NotAResult {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAResult
    }
}

macro_rules! not_a_result {
    ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, NotAResult> { Err(NotAResult) })*
    };
}

impl ser::Serializer for ResultProbe {
    type Ok = Probed;
    type Error = NotAResult;
    type SerializeSeq = ser::Impossible<Probed, NotAResult>;
    type SerializeTuple = ser::Impossible<Probed, NotAResult>;
    type SerializeTupleStruct = ser::Impossible<Probed, NotAResult>;
    type SerializeTupleVariant = ser::Impossible<Probed, NotAResult>;
    type SerializeMap = ser::Impossible<Probed, NotAResult>;
    type SerializeStruct = ser::Impossible<Probed, NotAResult>;
    type SerializeStructVariant = ser::Impossible<Probed, NotAResult>;

    fn serialize_unit(self) -> Result<Probed, NotAResult> {
        Ok(Probed::Unit)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Probed, NotAResult> {
        match (name, variant) {
            // `Ok(())` answers like `()`: no arguments.
            ("Result", "Ok") => match value.serialize(ResultProbe) {
                Ok(Probed::Unit) => Ok(Probed::Unit),
                _ => Ok(Probed::Ok(to_raw(value))),
            },
            ("Result", "Err") => Ok(Probed::Err(to_raw(value))),
            _ => Err(NotAResult),
        }
    }

    not_a_result! {
        serialize_bool(bool) -> Probed;
        serialize_i8(i8) -> Probed;
        serialize_i16(i16) -> Probed;
        serialize_i32(i32) -> Probed;
        serialize_i64(i64) -> Probed;
        serialize_u8(u8) -> Probed;
        serialize_u16(u16) -> Probed;
        serialize_u32(u32) -> Probed;
        serialize_u64(u64) -> Probed;
        serialize_f32(f32) -> Probed;
        serialize_f64(f64) -> Probed;
        serialize_char(char) -> Probed;
        serialize_str(&str) -> Probed;
        serialize_bytes(&[u8]) -> Probed;
        serialize_none() -> Probed;
        serialize_unit_struct(&'static str) -> Probed;
        serialize_unit_variant(&'static str, u32, &'static str) -> Probed;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Probed, NotAResult> {
        Err(NotAResult)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Probed, NotAResult> {
        Err(NotAResult)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn return_values_become_replies() {
        assert_eq!(().into_reply(), Some(Payload::new()));
        assert_eq!(5u32.into_reply(), Some(Payload::from_value(json!(5))));
        assert_eq!(
            "hi".to_string().into_reply(),
            Some(Payload::from_value(json!("hi")))
        );
        let ok: Result<u32, String> = Ok(1);
        assert_eq!(ok.into_reply(), Some(Payload::from_value(json!(1))));
        // Ok(()) answers as () does: no arguments (not `[null]`).
        let unit: Result<(), String> = Ok(());
        assert_eq!(unit.into_reply(), Some(Payload::new()));
        let none: Result<Option<u8>, String> = Ok(None);
        assert_eq!(none.into_reply(), Some(Payload::from_value(json!(null))));
        let err: Result<u32, String> = Err("nope".into());
        assert_eq!(
            err.into_reply(),
            Some(Payload::from_value(json!({"error": "nope"})))
        );
        assert_eq!(Some(3).into_reply(), Some(Payload::from_value(json!(3))));
        assert_eq!(
            None::<u8>.into_reply(),
            Some(Payload::from_value(json!(null)))
        );
        assert_eq!(Reply::none().into_reply(), None);
        assert_eq!(
            Reply::error("bad").into_reply(),
            Some(Payload::from_value(json!({"error": "bad"})))
        );
        #[derive(Serialize)]
        struct Score {
            points: u32,
        }
        assert_eq!(
            Score { points: 3 }.into_reply(),
            Some(Payload::from_value(json!({"points": 3})))
        );
    }
}
