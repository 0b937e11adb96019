//! Namespaces: their definitions (handlers, middleware) and their live sockets.

use std::{collections::HashMap, future::Future, sync::Arc};

use dashmap::DashMap;
use serde::Serialize;
use serde_json::Value;

use crate::{
    adapter::{Adapter, BroadcastOptions, Room},
    broadcast::{BroadcastOperator, IntoRooms},
    config::Config,
    handler::{boxed, BoxFuture, BoxedHandler, Handler},
    socket::Socket,
    socketio::{EmitError, Payload, SocketId},
};

/// A refusal from connection middleware. Socket.IO clients receive it as `connect_error`
/// with `err.message` and `err.data`; plain WebSocket clients as a close with the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    pub message: String,
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Attaches structured data (`err.data` on the client).
    pub fn with_data(mut self, data: impl Serialize) -> ConnectError {
        self.data = serde_json::to_value(data).ok();
        self
    }

    /// The CONNECT_ERROR body: `{"message": ..., "data": ...}`.
    pub(crate) fn to_json(&self) -> Value {
        let mut body = serde_json::json!({ "message": self.message });
        if let Some(data) = &self.data {
            body["data"] = data.clone();
        }
        body
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// Connection middleware, type-erased.
pub(crate) type BoxedMiddleware =
    Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;

/// What a namespace does: its handlers and middleware. Dynamic namespaces share one.
#[derive(Default)]
pub(crate) struct NamespaceDef {
    pub(crate) handlers: HashMap<Arc<str>, BoxedHandler>,
    pub(crate) on_connect: Option<BoxedHandler>,
    pub(crate) on_disconnect: Option<BoxedHandler>,
    pub(crate) fallback: Option<BoxedHandler>,
    pub(crate) middleware: Vec<BoxedMiddleware>,
}

/// Registers handlers and middleware for a namespace.
///
/// This is the explicit registration API; the `#[event]` macros generate calls to it.
#[derive(Default)]
pub struct NamespaceBuilder {
    pub(crate) def: NamespaceDef,
    /// Handler type names per event, to name both functions when one is registered twice.
    pub(crate) names: HashMap<Arc<str>, &'static str>,
    pub(crate) duplicates: Vec<(Arc<str>, &'static str, &'static str)>,
}

impl std::fmt::Debug for NamespaceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceBuilder")
            .field("events", &self.names)
            .finish()
    }
}

impl NamespaceBuilder {
    /// Handles `event` with `handler`: an `async fn` of extractors.
    ///
    /// Registering a second handler for the same event is reported by `RealtimeBuilder::build`
    /// with both functions' names.
    pub fn on<H: Handler<T>, T>(mut self, event: &str, handler: H) -> Self {
        let event: Arc<str> = Arc::from(event);
        let name = std::any::type_name::<H>();
        if let Some(previous) = self.names.insert(event.clone(), name) {
            self.duplicates.push((event.clone(), previous, name));
        }
        self.def.handlers.insert(event, boxed(handler));
        self
    }

    /// Runs `handler` when a socket connects (after middleware accepted it and the client got
    /// its CONNECT reply). `Data<T>` extracts the client's auth object.
    pub fn on_connect<H: Handler<T>, T>(mut self, handler: H) -> Self {
        self.def.on_connect = Some(boxed(handler));
        self
    }

    /// Runs `handler` when a socket disconnects. `Data<String>` extracts the reason
    /// (`client namespace disconnect`, `transport close`, `ping timeout`, ...).
    pub fn on_disconnect<H: Handler<T>, T>(mut self, handler: H) -> Self {
        self.def.on_disconnect = Some(boxed(handler));
        self
    }

    /// Runs `handler` for events no other handler takes. `Event` extracts the name.
    pub fn fallback<H: Handler<T>, T>(mut self, handler: H) -> Self {
        self.def.fallback = Some(boxed(handler));
        self
    }

    /// Adds connection middleware. Middleware runs in order before the socket joins the
    /// namespace; the first `Err` refuses the connection with that error.
    pub fn middleware<F, Fut>(mut self, middleware: F) -> Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.def
            .middleware
            .push(Arc::new(move |s| Box::pin(middleware(s))));
        self
    }
}

/// Server-wide things every namespace can reach.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) state: http::Extensions,
}

/// A live namespace: its sockets and rooms.
pub struct Namespace {
    name: Arc<str>,
    pub(crate) def: Arc<NamespaceDef>,
    sockets: DashMap<SocketId, Socket>,
    pub(crate) adapter: Box<dyn Adapter>,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: &str,
        def: Arc<NamespaceDef>,
        adapter: Box<dyn Adapter>,
        shared: Arc<Shared>,
    ) -> Arc<Namespace> {
        Arc::new(Namespace {
            name: Arc::from(name),
            def,
            sockets: DashMap::new(),
            adapter,
            shared,
        })
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of connected sockets (on this node).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// A connected socket by id.
    pub fn socket(&self, id: SocketId) -> Option<Socket> {
        self.sockets.get(&id).map(|s| s.clone())
    }

    /// Every connected socket (on this node).
    pub fn sockets(&self) -> Vec<Socket> {
        self.sockets.iter().map(|s| s.clone()).collect()
    }

    /// Every room with at least one member.
    pub fn rooms(&self) -> Vec<Room> {
        self.adapter.all_rooms()
    }

    pub(crate) fn insert_socket(&self, socket: Socket) {
        self.sockets.insert(socket.id(), socket);
    }

    pub(crate) fn remove_socket(&self, id: SocketId) {
        self.sockets.remove(&id);
    }

    /// Broadcast to the given rooms.
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).to(rooms)
    }

    /// Broadcast to every socket except those in the given rooms.
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).except(rooms)
    }

    /// Broadcast to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default()).emit(event, data)
    }

    /// Broadcast a payload (several arguments, binary) to every socket of the namespace.
    pub fn emit_payload(self: &Arc<Self>, event: &str, payload: &Payload) -> Result<(), EmitError> {
        BroadcastOperator::new(self.clone(), BroadcastOptions::default())
            .emit_payload(event, payload)
    }

    /// Calls `f` for each local socket selected by `opts`, each once.
    pub(crate) fn for_each_target(&self, opts: &BroadcastOptions, mut f: impl FnMut(&Socket)) {
        let excluded = |id: SocketId| {
            opts.except_socket == Some(id)
                || (!opts.except.is_empty()
                    && (self.adapter.in_any(id, &opts.except)
                        || opts.except.iter().any(|r| &**r == id.as_str())))
        };
        if opts.rooms.is_empty() {
            for socket in self.sockets.iter() {
                if !excluded(socket.id()) {
                    f(&socket);
                }
            }
            return;
        }
        self.adapter.for_each_member(&opts.rooms, &mut |id| {
            if !excluded(id) {
                if let Some(socket) = self.sockets.get(&id) {
                    f(&socket);
                }
            }
        });
        // Each socket is implicitly in the room named by its id (`io.to(socket_id)`).
        for room in &opts.rooms {
            if let Some(id) = SocketId::parse(room) {
                if !excluded(id) && !self.adapter.in_any(id, &opts.rooms) {
                    if let Some(socket) = self.sockets.get(&id) {
                        f(&socket);
                    }
                }
            }
        }
    }
}
