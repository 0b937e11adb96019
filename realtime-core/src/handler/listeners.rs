//! Per-socket listeners: `socket.on(event, handler)` in a connect handler, the way socket.io
//! apps write `io.on("connection", socket => socket.on("x", ...))`.
//!
//! A namespace's handlers (`#[event]`, `NamespaceBuilder::on`) are the default: declared
//! once, checked at `build()`, shared by every socket. A socket's own listener is for what
//! only that socket does, or what depends on its connection (a closure over what the
//! connect handler learned): it takes precedence over the namespace's handler for that
//! event, for that socket alone, until [`Socket::off`] removes it or the socket goes.
//! Extractors and ack replies work the same in both.

use super::{
    call::{boxed, Handler},
    extract::Requirement,
};
use crate::live::socket::Socket;

/// Why [`Socket::on`] refused a listener.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// An argument reads state the server was not given (`State<T>` of an unregistered
    /// `T`): the listener could never run.
    #[error("the listener needs state of type {type_name}, which the server was not given (RealtimeBuilder::state)")]
    MissingState {
        /// The missing type.
        type_name: &'static str,
    },
}

impl Socket {
    /// Handles `event` for this socket only, ahead of the namespace's handler for it: any
    /// `async fn` of extractors or closure, as for
    /// [`NamespaceBuilder::on`](crate::NamespaceBuilder::on); an ack is answered the same way. Adding a listener
    /// for an event again replaces it. Fails when an argument needs state the server lacks
    /// (checked now, since no `build()` will).
    ///
    /// ```no_run
    /// # use realtime_core::{Socket, Data};
    /// async fn connected(socket: Socket) {
    ///     let greeting = format!("hello from {}", socket.id());
    ///     let _ = socket.on("greet", move |socket: Socket| {
    ///         let greeting = greeting.clone();
    ///         async move { let _ = socket.emit("greeting", &greeting); }
    ///     });
    /// }
    /// ```
    pub fn on<H: Handler<T>, T>(&self, event: &str, handler: H) -> Result<(), ListenerError> {
        let mut requirements: Vec<Requirement> = Vec::new();
        H::requirements(&mut requirements);
        let state = &self.0.ns.shared.state;
        if let Some(missing) = requirements.iter().find(|r| !r.met_by(state)) {
            return Err(ListenerError::MissingState {
                type_name: missing.type_name,
            });
        }
        self.add_listener(event, boxed(handler));
        Ok(())
    }
}
