//! The server: building it from namespaces and handlers, mounting it in axum, serving it.
//!
//! - [`registry`]: handlers registered by the attribute macros, collected at `build()`.
//! - `serve`: the accept loop, its connection bounds, and graceful shutdown.
//! - `client_script`: the socket.io client bundle at `/socket.io/socket.io.js`
//!   (`Config::serve_client`).

mod client_script;
pub mod registry;
pub(crate) mod serve;

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, RwLock},
};

use axum::{extract::Request, routing::any, Router};
use tower_http::cors::CorsLayer;

use crate::{
    config::Config,
    engine::{CloseReason, Engine},
    handler::{
        call::{boxed_middleware, Handler, Middleware},
        extract::Requirement,
        routes::NamespaceBuilder,
    },
    live::{
        cluster::{ClusterAdapter, ClusterError, LocalNode},
        connection::SocketIoLayer,
        core::{Core, NamespacePredicate},
        event::{BoxFuture, BoxedHandler, BoxedMiddleware},
        namespace::{Namespace, Shared, Target},
    },
    server::registry::Invocation,
    shakehand::{Shakehand, ShakehandConfig},
};

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A handler or middleware takes `State<T>` for a `T` never registered with
    /// `RealtimeBuilder::state`.
    #[error("`{function}` takes State<{type_name}>, but no {type_name} was registered with RealtimeBuilder::state")]
    MissingState {
        function: &'static str,
        type_name: &'static str,
    },
    /// The `$init` handshake cannot work as configured.
    #[error("shakehand: {0}")]
    Shakehand(&'static str),
    /// Two functions were registered for the same event (or lifecycle event) of a namespace.
    #[error("two handlers for {target} in namespace {namespace:?}: `{first}` and `{second}`")]
    DuplicateHandler {
        namespace: String,
        /// `event "hello"`, `lifecycle event Connect`, or `the fallback`.
        target: String,
        first: &'static str,
        second: &'static str,
    },
    /// A cluster adapter is configured but `build()` ran outside a Tokio runtime (the
    /// adapter's connections run on it).
    #[error("a cluster adapter needs build() to run inside a Tokio runtime")]
    NoRuntime,
    /// The cluster adapter could not start.
    #[error("cluster adapter: {0}")]
    Cluster(#[from] ClusterError),
    /// `Config::serve_client` names a directory without a readable `socket.io.js`.
    #[error("serve_client: cannot read the socket.io client bundle ({0})")]
    ClientScript(std::io::Error),
}

impl BuildError {
    fn duplicate(namespace: &str, ns: &NamespaceBuilder) -> Option<BuildError> {
        let (target, first, second) = ns.duplicates.first()?;
        let target = match target {
            Target::Event(event) => format!("event {event:?}"),
            Target::Lifecycle(event) => format!("lifecycle event {event:?}"),
            Target::Fallback => "the fallback".to_owned(),
        };
        Some(BuildError::DuplicateHandler {
            namespace: namespace.to_owned(),
            target,
            first,
            second,
        })
    }
}

/// A start handler, type-erased.
type StartHandler = Arc<dyn Fn(Realtime) -> BoxFuture<()> + Send + Sync>;

/// Builds a [`Realtime`] server.
#[must_use]
pub struct RealtimeBuilder {
    config: Config,
    namespaces: Vec<(String, NamespaceBuilder)>,
    dynamic: Vec<(NamespacePredicate, NamespaceBuilder)>,
    state: http::Extensions,
    cors: Option<CorsLayer>,
    cluster: Option<Arc<dyn ClusterAdapter>>,
    start: Vec<StartHandler>,
    collect_registered: bool,
    /// What the server-wide middleware's arguments need (checked at `build()`).
    requirements: Vec<(&'static str, Requirement)>,
    /// Module paths whose registered handlers this server takes; empty: every module.
    handler_modules: Vec<&'static str>,
    middleware: Vec<BoxedMiddleware>,
    shakehand: Option<ShakehandConfig>,
}

impl std::fmt::Debug for RealtimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for RealtimeBuilder {
    fn default() -> Self {
        RealtimeBuilder {
            config: Config::default(),
            namespaces: Vec::new(),
            dynamic: Vec::new(),
            state: http::Extensions::new(),
            cors: None,
            cluster: None,
            start: Vec::new(),
            collect_registered: true,
            handler_modules: Vec::new(),
            requirements: Vec::new(),
            middleware: Vec::new(),
            shakehand: None,
        }
    }
}

impl RealtimeBuilder {
    /// Sets the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Lets socket.io-client 2.x (Engine.IO v3) connect: [`Config::allow_eio3`].
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.allow_eio3 = allow;
        self
    }

    /// Turns on connection state recovery: [`Config::connection_state_recovery`].
    pub fn connection_state_recovery(mut self, recovery: crate::config::Recovery) -> Self {
        self.config.connection_state_recovery = Some(recovery);
        self
    }

    /// Serves the socket.io client bundle from `dir` (a `socket.io-client` package's
    /// `dist/`) at `/socket.io/socket.io.js`, `.min.js` and their maps:
    /// [`Config::serve_client`]. `build()` fails if `dir` has no readable `socket.io.js`.
    pub fn serve_client(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.serve_client = Some(dir.into());
        self
    }

    /// Defines (or extends) the namespace `name`: `.namespace("/chat", |ns| ns.on("msg", msg))`.
    pub fn namespace(
        mut self,
        name: &str,
        define: impl FnOnce(NamespaceBuilder) -> NamespaceBuilder,
    ) -> Self {
        let name = normalize_ns(name);
        let i = match self.namespaces.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.namespaces.push((name, NamespaceBuilder::default()));
                self.namespaces.len() - 1
            }
        };
        let ns = std::mem::take(&mut self.namespaces[i].1);
        self.namespaces[i].1 = define(ns);
        self
    }

    /// Defines dynamic namespaces: every name `matches` accepts gets its own namespace (own
    /// sockets and rooms) with these handlers, created when the first client connects to it.
    pub fn dynamic_namespace(
        mut self,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
        define: impl FnOnce(NamespaceBuilder) -> NamespaceBuilder,
    ) -> Self {
        self.dynamic
            .push((Box::new(matches), define(NamespaceBuilder::default())));
        self
    }

    /// Handles `event` in the main namespace `/`.
    pub fn on<H: Handler<T>, T>(self, event: &str, handler: H) -> Self {
        self.namespace("/", |ns| ns.on(event, handler))
    }

    /// Runs `handler` when a socket connects to the main namespace `/`.
    pub fn on_connect<H: Handler<T>, T>(self, handler: H) -> Self {
        self.namespace("/", |ns| ns.on_connect(handler))
    }

    /// Runs `handler` when a socket leaves the main namespace `/`.
    pub fn on_disconnect<H: Handler<T>, T>(self, handler: H) -> Self {
        self.namespace("/", |ns| ns.on_disconnect(handler))
    }

    /// Adds server-wide connection middleware: it runs for every namespace (fixed and
    /// dynamic) and every plain WebSocket connection, before the namespace's own middleware.
    /// See [`crate::handler::middleware`].
    pub fn middleware<M: Middleware<T>, T>(mut self, middleware: M) -> Self {
        let mut requirements = Vec::new();
        M::requirements(&mut requirements);
        let function = std::any::type_name::<M>();
        self.requirements
            .extend(requirements.into_iter().map(|r| (function, r)));
        self.middleware.push(boxed_middleware(middleware));
        self
    }

    /// Turns on weroll's `$init` session handshake, its "shakehand" (see
    /// [`crate::shakehand`]), for every namespace (fixed and dynamic) that has no
    /// configuration of its own ([`NamespaceBuilder::shakehand`],
    /// [`NamespaceBuilder::without_shakehand`]).
    pub fn shakehand(mut self, config: ShakehandConfig) -> Self {
        self.shakehand = Some(config);
        self
    }

    /// Registers shared state for the `State<T>` extractor.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Answers cross-origin requests to the realtime endpoints with this CORS policy
    /// (off by default, like the reference server).
    pub fn cors(mut self, cors: CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Makes this server a node of a cluster: broadcasts, room changes, `fetch_sockets`,
    /// server-side events and broadcast acks then reach every node. Handler code stays the
    /// same. See [`crate::cluster`]:
    /// `.adapter(RedisAdapter::new("redis://127.0.0.1:6379")?)`.
    pub fn adapter(mut self, adapter: impl ClusterAdapter) -> Self {
        self.cluster = Some(Arc::new(adapter));
        self
    }

    /// Joins the cluster on the Redis that the `REDIS_URL` environment variable names;
    /// without it, stays a single node. `REDIS_ADAPTER` picks the adapter: `pubsub` (the
    /// default, [`RedisAdapter`](crate::RedisAdapter), Node's `@socket.io/redis-adapter`)
    /// or `streams` ([`RedisStreamsAdapter`](crate::RedisStreamsAdapter), Node's
    /// `@socket.io/redis-streams-adapter`, which also keeps connection state recovery's
    /// history and sessions in Redis), each with Node's defaults. How the examples become a
    /// cluster with no other change: start two copies on two ports with the same
    /// `REDIS_URL`.
    #[cfg(feature = "redis")]
    pub fn adapter_from_env(self) -> Result<Self, ClusterError> {
        let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
            return Ok(self);
        };
        match std::env::var("REDIS_ADAPTER").as_deref() {
            Ok("streams") => Ok(self.adapter(crate::cluster::RedisStreamsAdapter::new(&url)?)),
            Ok("pubsub") | Ok("") | Err(_) => {
                Ok(self.adapter(crate::cluster::RedisAdapter::new(&url)?))
            }
            Ok(other) => Err(ClusterError::Unavailable(
                format!("REDIS_ADAPTER={other:?}: expected \"pubsub\" or \"streams\"").into(),
            )),
        }
    }

    /// [`adapter`](Self::adapter) with an adapter already shared.
    pub fn adapter_arc(mut self, adapter: Arc<dyn ClusterAdapter>) -> Self {
        self.cluster = Some(adapter);
        self
    }

    /// Builds the server. Fails if an event has two handlers in one namespace.
    pub fn build(mut self) -> Result<Realtime, BuildError> {
        if self.collect_registered {
            self = self.with_registered_handlers();
        }
        // The server-wide `$init` handshake, for every namespace without one of its own.
        let default_gate = match self.shakehand {
            Some(config) => {
                config.check().map_err(BuildError::Shakehand)?;
                Some(Arc::new(Shakehand::new(config)) as Arc<dyn crate::live::gate::EventGate>)
            }
            None => None,
        };
        if !self.namespaces.iter().any(|(n, _)| n == "/") {
            self.namespaces
                .push(("/".into(), NamespaceBuilder::default()));
        }
        for ns in self
            .namespaces
            .iter_mut()
            .map(|(_, ns)| ns)
            .chain(self.dynamic.iter_mut().map(|(_, ns)| ns))
        {
            ns.def.gate = match ns.gate.take() {
                None => default_gate.clone(),
                Some(own) => own,
            };
            if let Some(gate) = &ns.def.gate {
                gate.check().map_err(BuildError::Shakehand)?;
            }
        }
        let needed = self
            .requirements
            .iter()
            .chain(self.namespaces.iter().flat_map(|(_, ns)| &ns.requirements))
            .chain(self.dynamic.iter().flat_map(|(_, ns)| &ns.requirements));
        for (function, requirement) in needed {
            if !requirement.met_by(&self.state) {
                return Err(BuildError::MissingState {
                    function,
                    type_name: requirement.type_name,
                });
            }
        }
        let client_script = match &self.config.serve_client {
            Some(dir) => Some(Arc::new(
                client_script::ClientScript::load(dir).map_err(BuildError::ClientScript)?,
            )),
            None => None,
        };
        let shared = Arc::new(Shared {
            config: Arc::new(self.config),
            state: self.state,
            middleware: self.middleware,
            tasks: tokio_util::task::TaskTracker::new(),
            cluster: self.cluster,
        });
        if shared.cluster.is_some() && tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let mut namespaces = HashMap::new();
        for (name, ns) in self.namespaces {
            if let Some(err) = BuildError::duplicate(&name, &ns) {
                return Err(err);
            }
            namespaces.insert(
                Arc::from(name.as_str()),
                Namespace::new(&name, Arc::new(ns.def), shared.clone(), None),
            );
        }
        let mut dynamic = Vec::new();
        for (matches, ns) in self.dynamic {
            if let Some(err) = BuildError::duplicate("<dynamic>", &ns) {
                return Err(err);
            }
            dynamic.push((matches, Arc::new(ns.def)));
        }
        let core = Arc::new_cyclic(|me| Core {
            me: me.clone(),
            shared: shared.clone(),
            namespaces: RwLock::new(namespaces),
            dynamic,
            plain_sessions: dashmap::DashMap::new(),
        });
        if let Some(cluster) = &shared.cluster {
            cluster.start(LocalNode::new(&core))?;
        }
        let engine = Engine::new(shared.config.clone(), SocketIoLayer(core.clone()));
        Ok(Realtime {
            core,
            engine,
            client_script,
            cors: self.cors,
            start: Arc::new(self.start),
        })
    }

    /// Builds without the handlers registered by `#[event]` and its siblings: only what was
    /// registered on this builder counts. For tests that assemble a server by hand in a
    /// binary whose other modules use the macros.
    pub fn without_registered_handlers(mut self) -> Self {
        self.collect_registered = false;
        self
    }

    /// Takes only the handlers registered by `#[event]` and its siblings in module `path`
    /// (and the modules below it); call it again to add more modules. For two servers in one
    /// program, each with its own handlers:
    ///
    /// ```no_run
    /// mod chat {
    ///     pub const MODULE: &str = module_path!();
    ///     // #[event("say")] async fn say(..) { .. }
    /// }
    /// # fn f() -> Result<(), realtime_core::BuildError> {
    /// let chat = realtime_core::Realtime::builder().handlers_from_module(chat::MODULE).build()?;
    /// # Ok(()) }
    /// ```
    pub fn handlers_from_module(mut self, path: &'static str) -> Self {
        self.handler_modules.push(path);
        self
    }

    /// Whether a registered function (`module::path::name`) belongs to this server.
    fn takes(&self, function: &str) -> bool {
        self.handler_modules.is_empty()
            || self.handler_modules.iter().any(|m| {
                function
                    .strip_prefix(m)
                    .is_some_and(|rest| rest.starts_with("::"))
            })
    }

    /// Runs `handler` once when the server starts serving (weroll's `start` event).
    pub fn on_start<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Realtime) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.start.push(Arc::new(move |rt| Box::pin(handler(rt))));
        self
    }

    /// Adds every handler the macros registered (done by `build` unless turned off).
    fn with_registered_handlers(mut self) -> Self {
        for r in crate::server::registry::registrations() {
            if !self.takes(r.function) {
                continue;
            }
            let run = r.handler;
            let handler: BoxedHandler = Arc::new(move |ctx| run(Invocation::Event(ctx)));
            let mut requirements = Vec::new();
            drop(run(Invocation::Requirements(&mut requirements)));
            self = self.namespace(r.namespace, |ns| {
                ns.register(r.target.clone(), r.function, handler, requirements)
            });
        }
        for r in crate::server::registry::start_registrations() {
            if !self.takes(r.function) {
                continue;
            }
            tracing::trace!(function = r.function, "registered start handler");
            self.start.push(Arc::new(r.handler));
        }
        self.collect_registered = false;
        self
    }
}

fn normalize_ns(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}

/// The listen backlog of [`Realtime::bind`] (and so of [`Realtime::serve`]): how many
/// connections the kernel queues before the server accepts them (capped by the system's
/// `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;

/// A built server. Cheap to clone; use it to mount routes, serve, and emit from outside
/// handlers (`rt.of("/").unwrap().to("room").emit(...)`).
#[derive(Clone)]
pub struct Realtime {
    core: Arc<Core>,
    engine: Arc<Engine<SocketIoLayer>>,
    /// The client bundle, when `Config::serve_client` is set.
    client_script: Option<Arc<client_script::ClientScript>>,
    cors: Option<CorsLayer>,
    /// Start handlers, run when serving begins.
    start: Arc<Vec<StartHandler>>,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realtime")
            .field("sessions", &self.engine.session_count())
            .finish()
    }
}

impl Realtime {
    /// Starts building a server.
    pub fn builder() -> RealtimeBuilder {
        RealtimeBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.core.shared.config
    }

    /// A namespace by name (fixed, or dynamic once created).
    pub fn of(&self, name: &str) -> Option<Arc<Namespace>> {
        self.core.get(&normalize_ns(name))
    }

    /// Waits until the cluster adapter receives other nodes' messages (at once without a
    /// cluster). [`serve_app`](Self::serve_app) waits for it before accepting clients;
    /// applications that serve the router themselves can await it first.
    pub async fn cluster_ready(&self) -> Result<(), ClusterError> {
        match &self.core.shared.cluster {
            Some(cluster) => cluster.ready().await,
            None => Ok(()),
        }
    }

    /// Open Engine.IO sessions (Socket.IO connections, not counting plain WebSocket ones).
    pub fn session_count(&self) -> usize {
        self.engine.session_count()
    }

    /// The routes of the realtime endpoints (Socket.IO path, plain WebSocket path), to merge
    /// into an application's router so that HTTP and realtime share one port:
    ///
    /// ```no_run
    /// # async fn f() {
    /// use axum::{routing::get, Router};
    /// let rt = realtime_core::Realtime::builder().build().unwrap();
    /// let app = Router::new().route("/", get(|| async { "hello" })).merge(rt.router());
    /// let listener = realtime_core::Realtime::bind("127.0.0.1:3000").await.unwrap();
    /// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    /// # }
    /// ```
    pub fn router(&self) -> Router {
        let path = self.config().normalized_path();
        let engine = self.engine.clone();
        let handle = any(move |req: Request| engine.clone().handle(req));
        let mut router = Router::new()
            .route(&path, handle.clone())
            .route(path.trim_end_matches('/'), handle);
        if let Some(script) = &self.client_script {
            router = router.merge(script.routes(&path));
        }
        if let Some(ws_path) = &self.config().plain_ws_path {
            let core = self.core.clone();
            router = router.route(
                ws_path,
                any(move |req: Request| crate::live::plain::handle(core.clone(), req)),
            );
        }
        match &self.cors {
            Some(cors) => router.layer(cors.clone()),
            None => router,
        }
    }

    /// Sends WebSocket upgrade requests for the plain endpoint's path to it, whatever else
    /// `app` serves at that path. Without this, an axum `get` route at the same path (a page
    /// at `/` with the plain endpoint also at `/`, as the seeds' mini-program clients
    /// connect) takes the upgrade requests too, and the endpoint is silently never reached:
    /// axum merges the two, and its `get` wins over the endpoint's `any`. [`serve_app`]
    /// (Self::serve_app) applies this itself; call it on your merged app if you run
    /// `axum::serve` yourself. A non-upgrade request is untouched.
    pub fn route_plain_upgrades(&self, app: Router) -> Router {
        let Some(path) = self.config().plain_ws_path.clone() else {
            return app;
        };
        let path: Arc<str> = path.into();
        let core = self.core.clone();
        app.layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                let (core, path) = (core.clone(), path.clone());
                async move {
                    if request.uri().path() == &*path
                        && crate::websocket::upgrade::asks_for_websocket(request.headers())
                    {
                        crate::live::plain::handle(core, request).await
                    } else {
                        next.run(request).await
                    }
                }
            },
        ))
    }

    /// Serves the realtime endpoints alone on `addr` until Ctrl-C or SIGTERM (listening as
    /// [`Realtime::bind`] does).
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        let listener = Realtime::bind(addr).await?;
        let app = self.router();
        self.serve_app(listener, app, shutdown_signal()).await
    }

    /// A listener on `addr` (the first of its addresses that binds) with a listen backlog
    /// of [`LISTEN_BACKLOG`]: `TcpListener::bind` uses the standard library's 128, and when
    /// thousands of clients reconnect at once (a server restart, a network coming back) the
    /// kernel drops the SYNs past it, each costing its client a 1 s retransmit. Node's
    /// default is 511. Use it for [`serve_app`](Self::serve_app) too.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
    ) -> std::io::Result<tokio::net::TcpListener> {
        let mut last = None;
        for addr in tokio::net::lookup_host(addr).await? {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            #[cfg(not(windows))]
            socket.set_reuseaddr(true)?;
            match socket
                .bind(addr)
                .and_then(|()| socket.listen(LISTEN_BACKLOG))
            {
                Ok(listener) => return Ok(listener),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
        }))
    }

    /// Serves `app` (which should include [`Realtime::router`]) on `listener` until
    /// `shutdown` resolves, then shuts down gracefully: stops accepting, lets running
    /// handlers finish, closes every realtime connection (each gets what was queued for it,
    /// then a close) and returns once every connection has closed, all within
    /// [`Config::shutdown_timeout`](crate::Config::shutdown_timeout).
    ///
    /// Serving bounds what untrusted clients can hold (see `Config::max_connections`,
    /// `Config::header_read_timeout` and `docs::slow_consumers`). Applications that run
    /// `axum::serve` themselves get none of these bounds: prefer this method, or set
    /// `TCP_NODELAY` (`ListenerExt::tap_io`) and timeouts yourself.
    pub async fn serve_app(
        &self,
        listener: tokio::net::TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Err(err) = self.cluster_ready().await {
            // Serve anyway: this node works alone, and the adapter keeps trying.
            tracing::error!(%err, "serving before the cluster adapter is ready");
        }
        for handler in self.start.iter() {
            crate::live::event::start(handler(self.clone()), &self.core.shared.tasks);
        }
        let app = self.route_plain_upgrades(app);
        let config = self.config();
        let options = crate::server::serve::ServeOptions {
            max_connections: config
                .max_connections
                .unwrap_or_else(crate::server::serve::default_max_connections),
            header_read_timeout: config.header_read_timeout,
            shutdown_timeout: config.shutdown_timeout,
        };
        let served =
            crate::server::serve::serve(listener, app, options, Arc::new(self.clone()), shutdown)
                .await;
        if let Some(cluster) = &self.core.shared.cluster {
            cluster.close().await;
        }
        served
    }

    /// Closes every connection (reason `server shutting down`).
    pub fn close_all(&self) {
        self.engine.close_all(CloseReason::ServerShutdown);
        crate::live::plain::close_all(&self.core);
    }
}

impl crate::server::serve::Drain for Realtime {
    fn handlers_finished(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let tasks = &self.core.shared.tasks;
        tasks.close();
        Box::pin(tasks.wait())
    }

    fn close_connections(&self) {
        self.close_all();
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (what process managers and
/// container runtimes send): the shutdown signal `serve` waits for, to pass to `serve_app`.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
