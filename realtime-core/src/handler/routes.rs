//! [`NamespaceBuilder`]: registering handlers and middleware for a namespace, the explicit
//! way (`#[event]` and its siblings register through the same path).

use std::{borrow::Cow, sync::Arc};

use super::{
    call::{boxed, boxed_middleware, Handler, Middleware},
    extract::Requirement,
};
use crate::live::{
    cluster::{BoxedServerHandler, ServerEvent},
    event::BoxedHandler,
    gate::EventGate,
    namespace::{Lifecycle, NamespaceDef, Target},
};

/// Registers handlers and middleware for a namespace.
///
/// This is the explicit registration API; the `#[event]` macros register through the same
/// path, found by `RealtimeBuilder::build`.
#[derive(Default)]
pub struct NamespaceBuilder {
    pub(crate) def: NamespaceDef,
    /// The function registered for each target, to name both when one is registered twice.
    names: Vec<(Target, &'static str)>,
    pub(crate) duplicates: Vec<(Target, &'static str, &'static str)>,
    /// What each registered function's arguments need from the server (checked at
    /// `build()`), with the function's name.
    pub(crate) requirements: Vec<(&'static str, Requirement)>,
    /// This namespace's gate (weroll's `$init`, set by `NamespaceBuilder::shakehand`):
    /// `None` takes the server's, `Some(None)` has none.
    pub(crate) gate: Option<Option<Arc<dyn EventGate>>>,
}

impl std::fmt::Debug for NamespaceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceBuilder")
            .field("handlers", &self.names)
            .finish()
    }
}

impl NamespaceBuilder {
    /// Registers a type-erased handler for `target`; `function` names it in errors.
    pub(crate) fn register(
        mut self,
        target: Target,
        function: &'static str,
        handler: BoxedHandler,
        requirements: Vec<Requirement>,
    ) -> Self {
        self.requirements
            .extend(requirements.into_iter().map(|r| (function, r)));
        if let Some((_, previous)) = self.names.iter().find(|(t, _)| *t == target) {
            self.duplicates.push((target.clone(), previous, function));
        }
        self.names.push((target.clone(), function));
        match target {
            Target::Event(event) => {
                self.def.handlers.insert(Arc::from(&*event), handler);
            }
            Target::Lifecycle(event) => self.def.lifecycle[event.index()] = Some(handler),
            Target::Fallback => self.def.fallback = Some(handler),
        }
        self
    }

    /// Handles `event` with `handler`: an `async fn` of extractors.
    ///
    /// Registering a second handler for the same event is reported by `RealtimeBuilder::build`
    /// with both functions' names.
    pub fn on<H: Handler<T>, T>(self, event: &str, handler: H) -> Self {
        let event = Cow::Owned(event.to_owned());
        self.register(
            Target::Event(event),
            std::any::type_name::<H>(),
            boxed(handler),
            requirements_of::<H, T>(),
        )
    }

    /// Handles a lifecycle event.
    pub fn on_lifecycle<H: Handler<T>, T>(self, event: Lifecycle, handler: H) -> Self {
        self.register(
            Target::Lifecycle(event),
            std::any::type_name::<H>(),
            boxed(handler),
            requirements_of::<H, T>(),
        )
    }

    /// Runs `handler` when a socket connects (after middleware accepted it and the client got
    /// its CONNECT reply). `Data<T>` extracts the client's auth object.
    pub fn on_connect<H: Handler<T>, T>(self, handler: H) -> Self {
        self.on_lifecycle(Lifecycle::Connect, handler)
    }

    /// Runs `handler` when a socket disconnects. `Data<String>` extracts the reason
    /// (`client namespace disconnect`, `transport close`, `ping timeout`, ...).
    pub fn on_disconnect<H: Handler<T>, T>(self, handler: H) -> Self {
        self.on_lifecycle(Lifecycle::Disconnect, handler)
    }

    /// Runs `handler` for events no other handler takes. `Event` extracts the name.
    pub fn fallback<H: Handler<T>, T>(self, handler: H) -> Self {
        self.register(
            Target::Fallback,
            std::any::type_name::<H>(),
            boxed(handler),
            requirements_of::<H, T>(),
        )
    }

    /// Handles the server-side event `event` that other nodes of the cluster emit with
    /// [`Namespace::server_side_emit`](crate::Namespace::server_side_emit) (socket.io's
    /// `serverSideEmit`; Node nodes and `@socket.io/redis-emitter` too). When the sender
    /// waits for answers, [`ServerEvent::reply`] sends this node's.
    pub fn on_server_event<F, Fut>(mut self, event: &str, handler: F) -> Self
    where
        F: Fn(ServerEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let handler: BoxedServerHandler = Arc::new(move |ev| Box::pin(handler(ev)));
        self.def.server_events.insert(Arc::from(event), handler);
        self
    }

    /// Adds connection middleware for this namespace: an `async fn` of extractors returning
    /// `Result<(), ConnectError>` (see [`crate::handler::middleware`]). Middleware runs in order,
    /// after the server-wide middleware, before the socket joins the namespace; the first
    /// `Err` refuses the connection with that error.
    pub fn middleware<M: Middleware<T>, T>(mut self, middleware: M) -> Self {
        let mut requirements = Vec::new();
        M::requirements(&mut requirements);
        let function = std::any::type_name::<M>();
        self.requirements
            .extend(requirements.into_iter().map(|r| (function, r)));
        self.def.middleware.push(boxed_middleware(middleware));
        self
    }
}

/// What a handler's arguments need from the server.
fn requirements_of<H: Handler<T>, T>() -> Vec<Requirement> {
    let mut out = Vec::new();
    H::requirements(&mut out);
    out
}
