//! One event on its way to a handler: its context, and how handlers are stored and started.
//!
//! These are the live layer's side of the handler contract: a namespace stores handlers and
//! connection middleware as boxed functions of an [`EventContext`]; the typed API that turns
//! an `async fn` of extractors into one is the `handler` layer's.

use std::{cell::Cell, future::Future, pin::Pin, sync::Arc};

use super::{namespace::ConnectError, socket::Socket};
use crate::wire::payload::Payload;

/// A boxed, sendable future, as handlers are stored.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A handler with its type erased, as namespaces store them.
pub(crate) type BoxedHandler = Arc<dyn Fn(EventContext) -> BoxFuture<()> + Send + Sync>;

/// A connection middleware with its type erased.
pub(crate) type BoxedMiddleware =
    Arc<dyn Fn(EventContext) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;

/// Where the answer to an event goes, when the client asked for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyTo {
    /// The client's ack id.
    Ack(u64),
    /// A plain client's raw text frame: answered with raw text.
    RawText,
}

/// Everything known about one event while its handler's arguments are extracted.
#[derive(Debug)]
pub struct EventContext {
    pub(crate) socket: Socket,
    pub(crate) event: Arc<str>,
    pub(crate) payload: Payload,
    /// Where the answer goes, until an `AckSender` takes it.
    pub(crate) reply_to: Cell<Option<ReplyTo>>,
    /// The same, as it arrived: an argument rejected after an `AckSender` was extracted
    /// must still be able to answer the client with the error.
    pub(crate) requested_reply: Option<ReplyTo>,
}

impl EventContext {
    pub(crate) fn new(
        socket: Socket,
        event: Arc<str>,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) -> Self {
        EventContext {
            socket,
            event,
            payload,
            reply_to: Cell::new(reply_to),
            requested_reply: reply_to,
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
