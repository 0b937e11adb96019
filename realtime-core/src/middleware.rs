//! Connection middleware: async functions that decide whether a socket may join a
//! namespace, with the same extractors as event handlers.
//!
//! A middleware runs after the client asked to join (Socket.IO CONNECT, or a plain
//! WebSocket opening) and before anything else: the socket is not yet visible to broadcasts
//! and no handler sees it. Its arguments are extractors (`Socket`, `Data<T>` for the auth
//! payload, cookies, headers, query...); it returns `Result<(), ConnectError>`. The first
//! `Err` refuses the connection: a Socket.IO client receives `connect_error` with the
//! error's `message` and `data`, a plain WebSocket client `["$error", {...}]` and a close.
//! To hand the identity it established to later handlers, a middleware stores it on the
//! socket (`socket.insert_extension(user)`), where `Extension<T>` or `User<T>` find it.
//!
//! Server-wide middleware (`RealtimeBuilder::middleware`) runs first, in the order added,
//! then the namespace's own (`NamespaceBuilder::middleware`).

use std::{future::Future, sync::Arc};

use crate::{
    handler::{BoxFuture, EventContext, FromEvent, FromEventParts},
    namespace::ConnectError,
    socket::Socket,
    socketio::Payload,
};

/// An `async fn` of extractors returning `Result<(), ConnectError>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection middleware",
    note = "a middleware is an `async fn` whose arguments are extractors (the payload extractor last) and which returns `Result<(), ConnectError>`"
)]
pub trait Middleware<T>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments and runs the middleware.
    fn call(self, ctx: EventContext) -> BoxFuture<Result<(), ConnectError>>;
}

/// A middleware with its type erased, as namespaces store them.
pub(crate) type BoxedMiddleware =
    Arc<dyn Fn(EventContext) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;

pub(crate) fn boxed<M: Middleware<T>, T>(middleware: M) -> BoxedMiddleware {
    Arc::new(move |ctx| middleware.clone().call(ctx))
}

/// Runs the middleware for a socket joining its namespace, server-wide first; the first
/// refusal wins.
pub(crate) async fn run_chain(socket: &Socket) -> Result<(), ConnectError> {
    let ns = socket.namespace();
    let chain: Vec<BoxedMiddleware> = ns
        .shared
        .middleware
        .iter()
        .chain(&ns.def.middleware)
        .cloned()
        .collect();
    for middleware in chain {
        let auth = serde_json::Value::Object(socket.auth().clone());
        let ctx = EventContext::new(
            socket.clone(),
            Arc::from("connect"),
            Payload::from_value(auth),
            None,
        );
        middleware(ctx).await?;
    }
    Ok(())
}

fn refused(err: &dyn std::fmt::Display) -> BoxFuture<Result<(), ConnectError>> {
    let err = ConnectError::new(err.to_string());
    Box::pin(async move { Err(err) })
}

macro_rules! impl_middleware {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, M, $($ty,)* $last> Middleware<(M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
            $($ty: FromEventParts,)*
            $last: FromEvent<M>,
        {
            fn call(self, mut ctx: EventContext) -> BoxFuture<Result<(), ConnectError>> {
                $(
                    let $ty = match $ty::from_event_parts(&ctx) {
                        Ok(v) => v,
                        Err(e) => return refused(&e),
                    };
                )*
                let $last = match $last::from_event(&mut ctx) {
                    Ok(v) => v,
                    Err(e) => return refused(&e),
                };
                Box::pin(self($($ty,)* $last))
            }
        }
    };
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

impl_middleware!([], T1);
impl_middleware!([T1], T2);
impl_middleware!([T1, T2], T3);
impl_middleware!([T1, T2, T3], T4);
impl_middleware!([T1, T2, T3, T4], T5);
impl_middleware!([T1, T2, T3, T4, T5], T6);
