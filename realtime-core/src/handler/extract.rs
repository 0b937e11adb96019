//! Extractors: what a handler's arguments are made from.
//!
//! The model is axum's. An argument is an extractor: most borrow the event's context and may
//! appear anywhere ([`FromEventParts`]); the one that consumes the payload must come last
//! ([`FromEvent`]). A rejected argument is reported to the client and the logs, never
//! skipped silently.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{
    live::{
        broadcast::BroadcastOperator,
        event::{EventContext, ReplyTo},
        namespace::Namespace,
        socket::{EmitError, Socket},
    },
    wire::payload::Payload,
};

/// Reports an extractor failure to the logs and to the client, never silently: as the error
/// ack `[{"error": "<message>"}]` if the client asked for an ack, otherwise as the event
/// `$error` with `{"event": "<event>", "error": "<message>"}`.
///
/// Both quote client data as a bounded preview, and each connection's warnings are budgeted
/// (see [`crate::client_log`]): a client sending bad events in a loop cannot flood the log.
pub(crate) fn reject(ctx: &EventContext, message: &dyn std::fmt::Display) {
    use crate::client_log::{bounded_message, preview, Budget, Preview};
    let message = bounded_message(&message.to_string());
    let event = Preview(&ctx.event);
    match ctx.socket.warnings().take(std::time::Instant::now()) {
        Budget::Log { suppressed: 0 } => {
            tracing::warn!(socket = %ctx.socket.id(), %event, error = %message, "handler argument rejected")
        }
        Budget::Log { suppressed } => {
            tracing::warn!(socket = %ctx.socket.id(), %event, error = %message, suppressed, "handler argument rejected (after {suppressed} more warnings of this connection were left out)")
        }
        Budget::Suppress => {
            tracing::debug!(socket = %ctx.socket.id(), %event, error = %message, "handler argument rejected")
        }
    }
    // The handler will not run, so no AckSender it may have been given can answer.
    match ctx.requested_reply {
        Some(to) => {
            let _ = ctx
                .socket
                .send_reply(to, &crate::wire::payload::error_payload(message.into()));
        }
        None => {
            let event = preview(&ctx.event);
            let body = crate::wire::payload::ErrorEvent {
                event: &event,
                error: &message,
            };
            let _ = ctx.socket.emit("$error", &body);
        }
    }
}

/// An extractor that borrows the context; it may appear in any position.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a handler argument",
    note = "handler arguments are extractors: Socket, Data<T>, TryData<T>, Payload, Bin, AckSender, State<T>, Event"
)]
pub trait FromEventParts: Sized + Send + 'static {
    /// Why extraction failed, in words a user can act on.
    type Rejection: std::fmt::Display + Send;
    /// Extracts the value from the event's context.
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection>;
    /// What this extractor needs from the server, checked by `RealtimeBuilder::build` (a
    /// `State<T>` needs a `T`). Nothing by default.
    fn requirements(_out: &mut Vec<Requirement>) {}
}

/// Something an extractor needs from the server to work: checked once, at `build()`,
/// rather than found missing at the first event.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    /// The type that must be registered, for the error message.
    pub type_name: &'static str,
    present: fn(&http::Extensions) -> bool,
}

impl Requirement {
    /// A `T` registered with `RealtimeBuilder::state` (what `State<T>` reads).
    pub fn state<T: Clone + Send + Sync + 'static>() -> Requirement {
        Requirement {
            type_name: std::any::type_name::<T>(),
            present: |state| state.get::<T>().is_some(),
        }
    }

    /// Whether the server's registered state meets it.
    pub(crate) fn met_by(&self, state: &http::Extensions) -> bool {
        (self.present)(state)
    }
}

/// An extractor that may consume the payload; it must be the last argument.
///
/// `M` only exists so that every [`FromEventParts`] type is also a `FromEvent` without
/// overlapping impls (the same trick as axum's `FromRequest<S, M>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a handler argument",
    note = "handler arguments are extractors: Socket, Data<T>, TryData<T>, Payload, Bin, AckSender, State<T>, Event"
)]
pub trait FromEvent<M = private::ViaEvent>: Sized + Send + 'static {
    /// Why extraction failed, in words a user can act on.
    type Rejection: std::fmt::Display + Send;
    /// Extracts the value, possibly taking the payload out of the context.
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection>;
    /// See [`FromEventParts::requirements`].
    fn requirements(_out: &mut Vec<Requirement>) {}
}

#[doc(hidden)]
pub mod private {
    /// Marker for extractors that consume the payload.
    #[derive(Debug)]
    pub enum ViaEvent {}
    /// Marker for [`super::FromEventParts`] types used in the last position.
    #[derive(Debug)]
    pub enum ViaParts {}
}

impl<T: FromEventParts> FromEvent<private::ViaParts> for T {
    type Rejection = T::Rejection;
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection> {
        T::from_event_parts(ctx)
    }
    fn requirements(out: &mut Vec<Requirement>) {
        <T as FromEventParts>::requirements(out)
    }
}

// ---------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------

impl FromEventParts for Socket {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.clone())
    }
}

/// The event's first argument, deserialized into `T`. A payload of the wrong shape is
/// reported to the client (error ack) and to the logs, and the handler does not run.
///
/// With no argument at all, `T` is deserialized from `null` (so `Data<Option<T>>` accepts it).
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

/// Why [`Data`] could not be extracted. Its message quotes the payload (serde's errors
/// do) only as a bounded preview.
#[derive(Debug, thiserror::Error)]
#[error("invalid payload for event {:?}: {}", crate::client_log::Preview(event), crate::client_log::Preview(&source.to_string()))]
pub struct DataRejection {
    event: Arc<str>,
    #[source]
    source: serde_json::Error,
}

/// Deserializes the event's first argument straight from the JSON text it arrived as (no
/// intermediate `serde_json::Value`); a missing argument deserializes from `null`.
///
/// On failure the error comes from deserializing a `serde_json::Value` of the argument
/// instead: the same message without "at line 1 column 3", a position within one argument
/// that means nothing to the client. Failures are rare; the detour costs only then.
fn first_arg<T: DeserializeOwned>(ctx: &mut EventContext) -> Result<T, serde_json::Error> {
    let raw = ctx.payload.take_first();
    let text = raw.as_deref().map_or("null", |r| r.get());
    serde_json::from_str(text).or_else(|err| {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => serde_json::from_value(value),
            Err(_) => Err(err),
        }
    })
}

impl<T: DeserializeOwned + Send + 'static> FromEvent for Data<T> {
    type Rejection = DataRejection;
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection> {
        first_arg(ctx).map(Data).map_err(|source| DataRejection {
            event: ctx.event.clone(),
            source,
        })
    }
}

/// Like [`Data`], but hands the deserialization error to the handler instead of rejecting.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

impl<T: DeserializeOwned + Send + 'static> FromEvent for TryData<T> {
    type Rejection = std::convert::Infallible;
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection> {
        Ok(TryData(first_arg(ctx)))
    }
}

impl FromEvent for Payload {
    type Rejection = std::convert::Infallible;
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection> {
        Ok(std::mem::take(&mut ctx.payload))
    }
}

/// The binary attachments of the event (`Bytes` clones: no copy).
#[derive(Debug, Clone, PartialEq)]
pub struct Bin(pub Vec<bytes::Bytes>);

impl FromEventParts for Bin {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Bin(ctx.payload.binary().to_vec()))
    }
}

/// The event's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Event(pub Arc<str>);

impl FromEventParts for Event {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Event(ctx.event.clone()))
    }
}

/// Whether the socket came back with connection state recovery (its id, rooms and data
/// restored, the broadcasts it missed delivered): [`Socket::recovered`]. Most useful in a
/// connect handler, to skip what a fresh connection needs (a welcome, a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered(pub bool);

impl FromEventParts for Recovered {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Recovered(ctx.socket.recovered()))
    }
}

/// Replies to the client's ack. If the client asked for none, sending does nothing.
/// Taking an `AckSender` means the handler's return value no longer answers the ack.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    reply_to: Option<ReplyTo>,
}

impl AckSender {
    /// Whether the client is waiting for a reply.
    pub fn expected(&self) -> bool {
        self.reply_to.is_some()
    }

    /// Replies with one argument.
    pub fn send<T: serde::Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        match self.reply_to {
            Some(to) => self.socket.send_reply(to, &Payload::new().arg(data)?),
            None => Ok(()),
        }
    }

    /// Replies with several arguments and/or binary attachments.
    pub fn send_payload(self, payload: &Payload) -> Result<(), EmitError> {
        match self.reply_to {
            Some(to) => self.socket.send_reply(to, payload),
            None => Ok(()),
        }
    }
}

impl FromEventParts for AckSender {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(AckSender {
            socket: ctx.socket.clone(),
            reply_to: ctx.reply_to.take(),
        })
    }
}

/// Shared application state registered with `RealtimeBuilder::state`.
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

/// [`State`] of a type that was never registered.
#[derive(Debug, thiserror::Error)]
#[error("no state of type {0} was registered with RealtimeBuilder::state")]
pub struct MissingState(&'static str);

impl<T: Clone + Send + Sync + 'static> FromEventParts for State<T> {
    type Rejection = MissingState;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        ctx.socket
            .state::<T>()
            .map(State)
            .ok_or(MissingState(std::any::type_name::<T>()))
    }
    fn requirements(out: &mut Vec<Requirement>) {
        out.push(Requirement::state::<T>());
    }
}

/// A value stored on the socket (by middleware, a login handler...) with
/// [`Socket::insert_extension`]. Missing values are rejected with an error the client sees.
#[derive(Debug, Clone)]
pub struct Extension<T>(pub T);

/// [`Extension`] of a type the socket does not carry.
#[derive(Debug, thiserror::Error)]
#[error("this connection has no {0} (set it with Socket::insert_extension first)")]
pub struct MissingExtension(&'static str);

impl<T: Clone + Send + Sync + 'static> FromEventParts for Extension<T> {
    type Rejection = MissingExtension;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        ctx.socket
            .extension::<T>()
            .map(Extension)
            .ok_or(MissingExtension(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromEventParts for Option<Extension<T>> {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.extension::<T>().map(Extension))
    }
}

/// The broadcast context of the event: every socket of the namespace except the sender.
/// Narrow it with `.to(room)`, `.except(room)`, `.volatile()`.
impl FromEventParts for BroadcastOperator {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.broadcast())
    }
}

/// The namespace of the event, for emits to everyone (sender included), rooms and lookups.
impl FromEventParts for Arc<Namespace> {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.namespace().clone())
    }
}
