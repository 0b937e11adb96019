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

pub use super::call::Middleware;
