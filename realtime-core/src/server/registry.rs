//! Handlers registered by the `#[event]` family of attribute macros.
//!
//! Each annotated function submits one [`Registration`] to an `inventory` collection at
//! link time; [`RealtimeBuilder::build`](crate::RealtimeBuilder::build) walks the collection
//! and registers every entry through the same path as `NamespaceBuilder::on`. Nothing here
//! is meant to be written by hand: the macros reach it through `realtime::__private`.

use std::borrow::Cow;

use crate::{
    handler::extract::Requirement,
    live::{
        event::{BoxFuture, EventContext},
        namespace::{Lifecycle, Target},
    },
    server::Realtime,
};

/// What a registered handler's function is asked to do: run for an event, or say what its
/// arguments need from the server (for `build()` to check).
#[derive(Debug)]
pub enum Invocation<'a> {
    /// Runs the handler for an event.
    Event(EventContext),
    /// Adds the requirements of the handler's arguments.
    Requirements(&'a mut Vec<Requirement>),
}

/// How a registration runs its handler.
pub type RegisteredFn = for<'a> fn(Invocation<'a>) -> BoxFuture<()>;

/// One handler found by a macro: where it goes, its name, and a function pointer that runs
/// it (generated as a non-capturing closure, so this can be built in a `const`).
#[derive(Debug)]
pub struct Registration {
    pub(crate) namespace: &'static str,
    pub(crate) target: Target,
    pub(crate) function: &'static str,
    pub(crate) handler: RegisteredFn,
}

impl Registration {
    /// A handler for the client event `event` in `namespace`.
    pub const fn event(
        namespace: &'static str,
        event: &'static str,
        function: &'static str,
        handler: RegisteredFn,
    ) -> Registration {
        Registration {
            namespace,
            target: Target::Event(Cow::Borrowed(event)),
            function,
            handler,
        }
    }

    /// A handler for a lifecycle event in `namespace`.
    pub const fn lifecycle(
        namespace: &'static str,
        event: Lifecycle,
        function: &'static str,
        handler: RegisteredFn,
    ) -> Registration {
        Registration {
            namespace,
            target: Target::Lifecycle(event),
            function,
            handler,
        }
    }

    /// The fallback handler of `namespace`.
    pub const fn fallback(
        namespace: &'static str,
        function: &'static str,
        handler: RegisteredFn,
    ) -> Registration {
        Registration {
            namespace,
            target: Target::Fallback,
            function,
            handler,
        }
    }
}

inventory::collect!(Registration);

/// A handler for weroll's `start` event: runs once when the server starts serving.
#[derive(Debug)]
pub struct StartRegistration {
    pub(crate) function: &'static str,
    pub(crate) handler: fn(Realtime) -> BoxFuture<()>,
}

impl StartRegistration {
    /// A start handler.
    pub const fn new(function: &'static str, handler: fn(Realtime) -> BoxFuture<()>) -> Self {
        StartRegistration { function, handler }
    }
}

inventory::collect!(StartRegistration);

/// Every handler registered by the macros in the whole program.
pub(crate) fn registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// Every start handler registered by the macros in the whole program.
pub(crate) fn start_registrations() -> impl Iterator<Item = &'static StartRegistration> {
    inventory::iter::<StartRegistration>.into_iter()
}
