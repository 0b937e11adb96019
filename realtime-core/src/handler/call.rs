//! Calling an `async fn` of extractors: [`Handler`] for events, [`Middleware`] for
//! connections. Both extract their arguments the same way ([`FromEventArgs`]); each has one
//! small impl per arity, generated over the same list of tuples (`all_the_tuples!`), as in
//! axum.

use std::{future::Future, sync::Arc};

use super::{
    extract::{FromEvent, FromEventParts, Requirement},
    reply::IntoReply,
};
use crate::live::{
    event::{BoxFuture, BoxedHandler, BoxedMiddleware, EventContext, ReplyTo},
    namespace::ConnectError,
    socket::Socket,
};

/// A handler's (or middleware's) arguments, extracted from an event's context: each but the
/// last borrows the context ([`FromEventParts`]), the last may consume the payload
/// ([`FromEvent`]). `M` is the last extractor's marker (see [`FromEvent`]).
///
/// Implemented for tuples of up to 8 extractors. On failure, the message of the first
/// rejection.
pub trait FromEventArgs<M>: Sized {
    /// Extracts every argument, in order.
    fn extract(ctx: &mut EventContext) -> Result<Self, String>;
    /// What the arguments need from the server (see [`FromEventParts::requirements`]).
    fn requirements(out: &mut Vec<Requirement>);
}

impl FromEventArgs<()> for () {
    fn extract(_: &mut EventContext) -> Result<Self, String> {
        Ok(())
    }
    fn requirements(_: &mut Vec<Requirement>) {}
}

/// Calls `$m!` once per arity, with the types before the last and the last.
macro_rules! all_the_tuples {
    ($m:ident) => {
        $m!([], T1);
        $m!([T1], T2);
        $m!([T1, T2], T3);
        $m!([T1, T2, T3], T4);
        $m!([T1, T2, T3, T4], T5);
        $m!([T1, T2, T3, T4, T5], T6);
        $m!([T1, T2, T3, T4, T5, T6], T7);
        $m!([T1, T2, T3, T4, T5, T6, T7], T8);
    };
}

macro_rules! impl_from_event_args {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        impl<M, $($ty,)* $last> FromEventArgs<M> for ($($ty,)* $last,)
        where
            $($ty: FromEventParts,)*
            $last: FromEvent<M>,
        {
            fn extract(ctx: &mut EventContext) -> Result<Self, String> {
                $(let $ty = $ty::from_event_parts(ctx).map_err(|e| e.to_string())?;)*
                let $last = $last::from_event(ctx).map_err(|e| e.to_string())?;
                Ok(($($ty,)* $last,))
            }
            fn requirements(out: &mut Vec<Requirement>) {
                $(<$ty as FromEventParts>::requirements(out);)*
                <$last as FromEvent<M>>::requirements(out);
            }
        }
    };
}
all_the_tuples!(impl_from_event_args);

/// Something the server can call with an event's context: an `async fn` of extractors.
///
/// `T` only exists to tell the impls for each arity apart (it is the tuple of argument types
/// and the last extractor's marker).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event handler",
    note = "a handler is an `async fn` whose arguments are extractors (the payload extractor last) and whose future is `Send`"
)]
pub trait Handler<T>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments and runs the handler.
    fn call(self, ctx: EventContext) -> BoxFuture<()>;
    /// What the handler's arguments need from the server, checked at `build()`.
    fn requirements(_out: &mut Vec<Requirement>) {}
}

/// Sends the handler's return value as the answer, if the client is still waiting for one.
fn answer(socket: &Socket, reply_to: Option<ReplyTo>, reply: impl IntoReply) {
    if let (Some(to), Some(payload)) = (reply_to, reply.into_reply()) {
        let _ = socket.send_reply(to, &payload);
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
            answer(&ctx.socket, ctx.reply_to.get(), r);
        })
    }
}

macro_rules! impl_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, R, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($ty: FromEventParts,)*
            $last: FromEvent<M>,
            ($($ty,)* $last,): FromEventArgs<M>,
        {
            fn requirements(out: &mut Vec<Requirement>) {
                <($($ty,)* $last,)>::requirements(out)
            }
            fn call(self, mut ctx: EventContext) -> BoxFuture<()> {
                match <($($ty,)* $last,)>::extract(&mut ctx) {
                    Ok(($($ty,)* $last,)) => {
                        let socket = ctx.socket;
                        let reply_to = ctx.reply_to.get();
                        Box::pin(async move {
                            let r = self($($ty,)* $last).await;
                            answer(&socket, reply_to, r);
                        })
                    }
                    Err(message) => {
                        super::extract::reject(&ctx, &message);
                        Box::pin(async {})
                    }
                }
            }
        }
    };
}
all_the_tuples!(impl_handler);

/// Erases a handler's type. `std::any::type_name` of the handler is kept by callers for
/// error messages that name the function.
pub(crate) fn boxed<H: Handler<T>, T>(handler: H) -> BoxedHandler {
    Arc::new(move |ctx| handler.clone().call(ctx))
}

/// An `async fn` of extractors returning `Result<(), ConnectError>`: connection middleware
/// (see [`crate::handler::middleware`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection middleware",
    note = "a middleware is an `async fn` whose arguments are extractors (the payload extractor last) and which returns `Result<(), ConnectError>`"
)]
pub trait Middleware<T>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments and runs the middleware.
    fn call(self, ctx: EventContext) -> BoxFuture<Result<(), ConnectError>>;
    /// What the middleware's arguments need from the server, checked at `build()`.
    fn requirements(_out: &mut Vec<Requirement>) {}
}

impl<F, Fut> Middleware<((),)> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
{
    fn call(self, _ctx: EventContext) -> BoxFuture<Result<(), ConnectError>> {
        Box::pin(self())
    }
}

macro_rules! impl_middleware {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, M, $($ty,)* $last> Middleware<(M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
            $($ty: FromEventParts,)*
            $last: FromEvent<M>,
            ($($ty,)* $last,): FromEventArgs<M>,
        {
            fn requirements(out: &mut Vec<Requirement>) {
                <($($ty,)* $last,)>::requirements(out)
            }
            fn call(self, mut ctx: EventContext) -> BoxFuture<Result<(), ConnectError>> {
                match <($($ty,)* $last,)>::extract(&mut ctx) {
                    Ok(($($ty,)* $last,)) => Box::pin(self($($ty,)* $last)),
                    // An argument the middleware cannot have refuses the connection, saying why.
                    Err(message) => Box::pin(async move { Err(ConnectError::new(message)) }),
                }
            }
        }
    };
}
all_the_tuples!(impl_middleware);

/// Erases a middleware's type.
pub(crate) fn boxed_middleware<M: Middleware<T>, T>(middleware: M) -> BoxedMiddleware {
    Arc::new(move |ctx| middleware.clone().call(ctx))
}
