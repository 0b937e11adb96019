//! Handlers and extractors: how an `async fn` with typed arguments becomes something the
//! server can call for an event.
//!
//! The model is axum's. An argument is an extractor: most borrow the event's context and may
//! appear anywhere ([`FromEventParts`]); the one that consumes the payload must come last
//! ([`FromEvent`]). [`Handler`] is implemented for every `async fn` whose arguments are
//! extractors and whose output is an [`IntoReply`], for up to 8 arguments, by a small macro
//! over tuples. This is the API that `#[event]` generates calls to, and the one to use by
//! hand: `Namespace::on("hello", hello)`.

use std::{cell::Cell, future::Future, pin::Pin, sync::Arc};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{reply::IntoReply, socket::Socket, socketio::Payload};

/// A boxed, sendable future, as handlers are stored.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Everything known about one event while its handler's arguments are extracted.
#[derive(Debug)]
pub struct EventContext {
    pub(crate) socket: Socket,
    pub(crate) event: Arc<str>,
    pub(crate) payload: Payload,
    /// The client's ack id, until an [`AckSender`] takes it.
    pub(crate) ack_id: Cell<Option<u64>>,
    /// The client's ack id as it arrived: an argument rejected after an `AckSender` was
    /// extracted must still be able to answer the client with the error.
    requested_ack: Option<u64>,
}

impl EventContext {
    pub(crate) fn new(
        socket: Socket,
        event: Arc<str>,
        payload: Payload,
        ack_id: Option<u64>,
    ) -> Self {
        EventContext {
            socket,
            event,
            payload,
            ack_id: Cell::new(ack_id),
            requested_ack: ack_id,
        }
    }

    /// The socket the event came from.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The event name (`connection` and `disconnect` for the lifecycle handlers).
    pub fn event(&self) -> &str {
        &self.event
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
}

/// Something the server can call with an event's context: an `async fn` of extractors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event handler",
    note = "a handler is an `async fn` whose arguments are extractors (the payload extractor last) and whose future is `Send`"
)]
pub trait Handler<T>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments and runs the handler.
    fn call(self, ctx: EventContext) -> BoxFuture<()>;
}

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
    match ctx.socket.0.client.warnings.take(std::time::Instant::now()) {
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
    match ctx.requested_ack {
        Some(id) => {
            let _ = ctx
                .socket
                .send_ack(id, &crate::reply::error_payload(message.into()));
        }
        None => {
            let body = serde_json::json!({ "event": preview(&ctx.event), "error": message });
            let _ = ctx.socket.emit("$error", &body);
        }
    }
}

/// Sends the handler's return value as the ack reply, if the client is still waiting for one.
fn reply(socket: &Socket, ack_id: Option<u64>, reply: impl IntoReply) {
    if let (Some(id), Some(payload)) = (ack_id, reply.into_reply()) {
        let _ = socket.send_ack(id, &payload);
    }
}

impl<F, Fut, R> Handler<((),)> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoReply,
{
    fn call(self, ctx: EventContext) -> BoxFuture<()> {
        Box::pin(async move {
            let r = self().await;
            reply(&ctx.socket, ctx.ack_id.get(), r);
        })
    }
}

macro_rules! impl_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, R, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($ty: FromEventParts,)*
            $last: FromEvent<M>,
        {
            fn call(self, mut ctx: EventContext) -> BoxFuture<()> {
                $(
                    let $ty = match $ty::from_event_parts(&ctx) {
                        Ok(v) => v,
                        Err(e) => { reject(&ctx, &e); return Box::pin(async {}); }
                    };
                )*
                let $last = match $last::from_event(&mut ctx) {
                    Ok(v) => v,
                    Err(e) => { reject(&ctx, &e); return Box::pin(async {}); }
                };
                let socket = ctx.socket;
                let ack_id = ctx.ack_id.get();
                Box::pin(async move {
                    let r = self($($ty,)* $last).await;
                    reply(&socket, ack_id, r);
                })
            }
        }
    };
}

impl_handler!([], T1);
impl_handler!([T1], T2);
impl_handler!([T1, T2], T3);
impl_handler!([T1, T2, T3], T4);
impl_handler!([T1, T2, T3, T4], T5);
impl_handler!([T1, T2, T3, T4, T5], T6);
impl_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_handler!([T1, T2, T3, T4, T5, T6, T7], T8);

/// Starts a handler's future: runs it up to its first pending await right here, then hands
/// the rest to tokio. Called by a connection's dispatcher task (`socketio::inbox`), one
/// handler after the other, never on the connection's I/O task.
///
/// Handlers of one connection thus *start* in the order their events arrived, as in
/// Socket.IO's Node server: a `join` handler has joined its room before the `say` event that
/// followed it is dispatched, and a connect handler's synchronous part runs before the
/// client's first event. A handler that awaits does not hold up the connection, and a slow
/// synchronous part holds up only the handlers queued behind it, never the connection's
/// reads or heartbeat. Polling
/// once with a no-op waker is sound: the spawned task polls again and registers its real
/// waker before anything could be missed. A panic is contained to the handler, as it would
/// be in a spawned task.
pub(crate) fn start(mut future: BoxFuture<()>, tasks: &tokio_util::task::TaskTracker) {
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        future.as_mut().poll(&mut cx)
    })) {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tasks.spawn(future);
        }
        Err(_) => tracing::error!("an event handler panicked"),
    }
}

/// A handler with its type erased, as namespaces store them.
pub(crate) type BoxedHandler = Arc<dyn Fn(EventContext) -> BoxFuture<()> + Send + Sync>;

/// Erases a handler's type. `std::any::type_name` of the handler is kept by callers for
/// error messages that name the function.
pub(crate) fn boxed<H: Handler<T>, T>(handler: H) -> BoxedHandler {
    Arc::new(move |ctx| handler.clone().call(ctx))
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

fn first_arg(ctx: &mut EventContext) -> Value {
    if ctx.payload.args.is_empty() {
        Value::Null
    } else {
        ctx.payload.args.swap_remove(0)
    }
}

impl<T: DeserializeOwned + Send + 'static> FromEvent for Data<T> {
    type Rejection = DataRejection;
    fn from_event(ctx: &mut EventContext) -> Result<Self, Self::Rejection> {
        serde_json::from_value(first_arg(ctx))
            .map(Data)
            .map_err(|source| DataRejection {
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
        Ok(TryData(serde_json::from_value(first_arg(ctx))))
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
        Ok(Bin(ctx.payload.binary.clone()))
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

/// Replies to the client's ack. If the client asked for none, sending does nothing.
/// Taking an `AckSender` means the handler's return value no longer answers the ack.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    ack_id: Option<u64>,
}

impl AckSender {
    /// Whether the client is waiting for a reply.
    pub fn expected(&self) -> bool {
        self.ack_id.is_some()
    }

    /// Replies with one argument.
    pub fn send<T: serde::Serialize + ?Sized>(self, data: &T) -> Result<(), crate::EmitError> {
        match self.ack_id {
            Some(id) => self
                .socket
                .send_ack(id, &Payload::from_value(serde_json::to_value(data)?)),
            None => Ok(()),
        }
    }

    /// Replies with several arguments and/or binary attachments.
    pub fn send_payload(self, payload: &Payload) -> Result<(), crate::EmitError> {
        match self.ack_id {
            Some(id) => self.socket.send_ack(id, payload),
            None => Ok(()),
        }
    }
}

impl FromEventParts for AckSender {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(AckSender {
            socket: ctx.socket.clone(),
            ack_id: ctx.ack_id.take(),
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
impl FromEventParts for crate::BroadcastOperator {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.broadcast())
    }
}

/// The namespace of the event, for emits to everyone (sender included), rooms and lookups.
impl FromEventParts for Arc<crate::Namespace> {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.socket.namespace().clone())
    }
}
