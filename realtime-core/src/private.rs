//! What the macros' expansions reach through `realtime::__private`. Not a public API: names
//! and signatures here change whenever the macros change.
//!
//! A registration calls `callN::<T1, .., TN, M, Fut, R>(handler, ctx)`: `T1..TN` and `R` are
//! the argument and return types as the user wrote them, and the `_`s for `M` (the marker of
//! the last extractor) and `Fut` (the future) carry the spans of the last argument and of the
//! function name. Every requirement of [`Handler`] is a separate bound on one of these
//! parameters, so a misuse is reported once, at the user's token that caused it: an argument
//! that is not an extractor, a payload extractor that is not last, a future that is not
//! `Send`, a return value that cannot answer an ack.

pub use crate::{
    live::namespace::Lifecycle,
    server::registry::{Registration, StartRegistration},
};
pub use inventory;

use std::future::Future;

use crate::{
    handler::{
        call::Handler,
        extract::{FromEvent, FromEventParts, Requirement},
        reply::IntoReply,
    },
    live::event::BoxFuture,
    server::{registry::Invocation, Realtime},
};

/// An argument before the last: an extractor that reads the context without consuming the
/// payload. A trait of its own (rather than a bound on [`FromEventParts`]) so that the error
/// explains the argument order and does not list every extractor of the crate.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a handler argument here",
    label = "not an extractor that may come before the last argument",
    note = "arguments before the last are extractors that read the event's context, such as `Socket`, `State<T>`, `Extension<T>`, `AckSender`, `Bin`, `Event`, `BroadcastOperator` or `Arc<Namespace>` (`State<T>` and `Extension<T>` need `T: Clone + Send + Sync + 'static`)",
    note = "the extractor that consumes the payload (`Data<T>`, `TryData<T>` or `Payload`) must be the last argument"
)]
pub trait Extractor: FromEventParts {}

#[diagnostic::do_not_recommend]
impl<T: FromEventParts> Extractor for T {}

/// The last argument: any extractor, including one that consumes the payload.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a handler argument",
    label = "not an extractor",
    note = "handler arguments are extractors such as `Socket`, `Data<T>`, `TryData<T>`, `Payload`, `State<T>`, `Extension<T>`, `AckSender`, `Bin` or `Event` (`State<T>` and `Extension<T>` need `T: Clone + Send + Sync + 'static`)",
    note = "the event's data is received as `Data<T>` or `TryData<T>`, where `T` implements `serde::Deserialize`: add `#[derive(serde::Deserialize)]` to a type of your own"
)]
pub trait LastExtractor<M>: FromEvent<M> {}

#[diagnostic::do_not_recommend]
impl<M, T: FromEvent<M>> LastExtractor<M> for T {}

/// A handler's return value: it answers the client's ack.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an event handler",
    label = "cannot answer an ack",
    note = "return `()`, a `Serialize` value, a `Result<T, E>` with serializable `T` and `E`, a `Payload` or a `Reply`",
    note = "for a type of your own, add `#[derive(serde::Serialize)]` to it"
)]
pub trait HandlerReturn: IntoReply {}

#[diagnostic::do_not_recommend]
impl<T: IntoReply> HandlerReturn for T {}

/// Runs a handler without arguments; the body of a generated registration closure, like
/// `call1` to `call8` for handlers of 1 to 8 arguments. The bounds are exactly what
/// [`Handler`] needs, one per type parameter.
pub fn call0<Fut, R>(
    handler: impl FnOnce() -> Fut + Clone + Send + Sync + 'static,
    call: Invocation<'_>,
) -> BoxFuture<()>
where
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerReturn,
{
    match call {
        Invocation::Event(ctx) => Handler::<((),)>::call(handler, ctx),
        Invocation::Requirements(_) => Box::pin(std::future::ready(())),
    }
}

/// Adds the requirements of `handler`'s arguments (the type parameters name the handler).
fn requirements<H: Handler<T>, T>(_handler: &H, out: &mut Vec<Requirement>) -> BoxFuture<()> {
    H::requirements(out);
    Box::pin(std::future::ready(()))
}

/// `callN` for a handler of N arguments: the arguments before the last must be
/// [`Extractor`]s, the last a [`LastExtractor`]; one bound per argument, so a misuse is
/// reported once, at that argument.
macro_rules! call_n {
    ($name:ident, [$($ty:ident),*], $last:ident) => {
        #[doc = concat!("Runs a handler of the arguments `", stringify!($($ty,)* $last), "`.")]
        pub fn $name<$($ty,)* $last, M, Fut, R>(
            handler: impl FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            call: Invocation<'_>,
        ) -> BoxFuture<()>
        where
            $($ty: Extractor,)*
            $last: LastExtractor<M>,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerReturn,
        {
            match call {
                Invocation::Event(ctx) => Handler::<(M, $($ty,)* $last)>::call(handler, ctx),
                Invocation::Requirements(out) => {
                    requirements::<_, (M, $($ty,)* $last)>(&handler, out)
                }
            }
        }
    };
}

call_n!(call1, [], T1);
call_n!(call2, [T1], T2);
call_n!(call3, [T1, T2], T3);
call_n!(call4, [T1, T2, T3], T4);
call_n!(call5, [T1, T2, T3, T4], T5);
call_n!(call6, [T1, T2, T3, T4, T5], T6);
call_n!(call7, [T1, T2, T3, T4, T5, T6], T7);
call_n!(call8, [T1, T2, T3, T4, T5, T6, T7], T8);

/// The argument of an `#[on_start]` handler.
#[diagnostic::on_unimplemented(
    message = "an #[on_start] handler takes the server handle `Realtime`, not `{Self}`",
    label = "expected `Realtime`",
    note = "write `async fn started(rt: Realtime)`"
)]
pub trait StartArgument {
    /// The argument, from the server handle.
    fn from_realtime(rt: Realtime) -> Self;
}

#[diagnostic::do_not_recommend]
impl StartArgument for Realtime {
    fn from_realtime(rt: Realtime) -> Self {
        rt
    }
}

/// What an `#[on_start]` handler returns: nothing.
#[diagnostic::on_unimplemented(
    message = "an #[on_start] handler returns nothing, not `{Self}`",
    label = "expected `()`",
    note = "nothing answers a start handler: remove the return type"
)]
pub trait StartReturn {}

#[diagnostic::do_not_recommend]
impl StartReturn for () {}

/// Runs a start handler; spanned like [`call1`]: at its argument type, its name (for the
/// future being `Send`) and its return type.
pub fn call_start<A, Fut, R>(handler: impl FnOnce(A) -> Fut, rt: Realtime) -> BoxFuture<()>
where
    A: StartArgument,
    Fut: Future<Output = R> + Send + 'static,
    R: StartReturn,
{
    let future = handler(A::from_realtime(rt));
    Box::pin(async move {
        future.await;
    })
}
