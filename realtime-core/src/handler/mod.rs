//! Handlers: typed `async fn`s made callable for events and connections.
//!
//! - [`extract`]: extractors, the arguments of handlers and middleware.
//! - [`call`]: [`Handler`](call::Handler) and [`Middleware`](call::Middleware), and the
//!   per-arity argument extraction they share.
//! - [`listeners`]: a socket's own handlers (`socket.on(..)` in a connect handler).
//! - [`middleware`]: how connection middleware runs.
//! - [`reply`]: return values that answer a client's ack.
//! - [`routes`]: [`NamespaceBuilder`](routes::NamespaceBuilder), registering them by hand.

pub mod call;
pub mod extract;
pub mod listeners;
pub mod middleware;
pub mod reply;
pub mod routes;
