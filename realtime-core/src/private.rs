//! What the macros' expansions reach through `realtime::__private`. Not a public API: names
//! and signatures here change whenever the macros change.

pub use crate::{
    namespace::Lifecycle,
    registry::{Registration, StartRegistration},
};
pub use inventory;

use std::future::Future;

use crate::{
    handler::{BoxFuture, EventContext, FromEvent, FromEventParts, Handler},
    Realtime,
};

/// Runs `handler` for `ctx`; the body of every generated registration closure.
pub fn call<H: Handler<T>, T>(handler: H, ctx: EventContext) -> BoxFuture<()> {
    handler.call(ctx)
}

/// Runs a start handler.
pub fn call_start<F, Fut>(handler: F, rt: Realtime) -> BoxFuture<()>
where
    F: FnOnce(Realtime) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::pin(handler(rt))
}

/// Compile-time check, spanned at an argument that may appear anywhere: it must borrow the
/// context.
pub const fn extractor<T: FromEventParts>() {}

/// Compile-time check, spanned at the last argument: it may consume the payload.
pub const fn last_extractor<M, T: FromEvent<M>>() {}

/// Compile-time check, spanned at the function name: its future must be `Send`, because
/// handlers run on a multi-threaded runtime.
pub fn send_future<F: Future + Send>(_: F) {}
