//! weroll's `$init` handshake, its "shakehand": a client proves who it is with its session
//! before it may send events. (Named so to tell it from the HTTP request that opens a
//! connection, [`RequestHead`](crate::RequestHead), and from Engine.IO's open packet.)
//!
//! A [`ShakehandConfig`] on the builder applies to every namespace (and every plain
//! WebSocket connection); one on a namespace, [`NamespaceBuilder::shakehand`], applies to
//! that namespace instead, so one server can have a guest namespace and a members-only one.
//! A dynamic namespace takes the configuration of the builder that defines it;
//! [`NamespaceBuilder::without_shakehand`] turns the handshake off for a namespace.
//!
//! - not `required` (weroll's `shakehand: false`): the socket is accepted as it connects;
//!   `shakeHandSuccess` fires and the server pushes `$init`, as weroll does.
//! - `required`: the client must emit `$init` with
//!   `{"_sess": {"userid", "token", "tokentimestamp"}}` within `timeout` (weroll's
//!   `shakehandTimeout`, default 15 s). `userid` may be a string or a number (a number
//!   stands for its decimal string: `42` is the user `"42"`); `tokentimestamp` a number or
//!   a numeric string. The session is verified against the [`SessionStore`]. Then, in this
//!   order: `shakeHandStart` (data: the `$init` payload), `shakeHandComplete` (data: `true`
//!   or `false`), and `shakeHandSuccess` or `shakeHandFail` (data: the reason).
//!   - Success: the client id becomes the user id (so `send_to(userid)` reaches all of the
//!     user's connections), the [`Session`] is stored on the socket for the `Session`
//!     extractor, and the server answers `$init` (and the ack, if one was asked for).
//!   - Guests (`allow_guest`, weroll's `allowGuest`): as in weroll, a client whose `$init`
//!     fails for any reason (no `_sess`, `_sess: null`, a partial or malformed one, a
//!     session that does not verify, even a session store that is down) becomes a guest:
//!     its client id is its socket id, and `shakeHandComplete` says `true`. With
//!     [`ShakehandConfig::strict_sessions`], only a `$init` without a session (no `_sess`,
//!     or `null`) makes a guest: a client that presents a session that does not verify is
//!     refused and disconnected, as without guests. (weroll has no such mode.)
//!   - Failure (no guests; or strict sessions and a bad one): the client gets `$error` with
//!     `{"event": "$init", "error": <why>}` (or the error ack) and is disconnected. No
//!     handshake within the timeout: the same, with `handshake timed out`.
//!   - Any other event before `$init` is refused with `handshake required: emit $init
//!     first` and never reaches a handler.
//!   - Events that arrive after `$init` while it is being verified (a client emits `$init`
//!     and its first events in one go) wait, up to [`ShakehandConfig::max_queued_events`]
//!     (default 64), and are handled in order once the handshake succeeds; past that bound
//!     they are refused with `too many events before the $init handshake completed`. If the
//!     handshake fails they are refused with `$init handshake failed`.
//!
//! The `$init` the server sends is weroll's: `{"clientID": <user id, or the socket id>,
//! "socketID": <the socket id>, "time": <milliseconds since the Unix epoch>}`. The ack of
//! a `$init` that asked for one carries the same object.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use serde_json::Value;

use crate::{
    handler::routes::NamespaceBuilder,
    live::{
        event::ReplyTo,
        gate::{Admission, EventGate},
        namespace::Lifecycle,
        socket::Socket,
    },
    session::{self, Session, SessionStore},
    wire::payload::Payload,
};

/// weroll's handshake settings, in Rust names.
#[derive(Clone)]
pub struct ShakehandConfig {
    /// Accept clients without a session (guests), weroll's `allowGuest`: a client whose
    /// `$init` fails becomes a guest (but see [`ShakehandConfig::strict_sessions`]). Default
    /// false.
    pub allow_guest: bool,
    /// With `allow_guest`: only a `$init` without a session makes a guest; one with a
    /// session that does not verify (or a partial one, or a store that is down) is refused
    /// and disconnected. Default false: weroll's behaviour, where any failure makes a guest.
    /// Without `allow_guest` it changes nothing.
    pub strict_sessions: bool,
    /// Require the `$init` handshake before any event. Default false.
    pub required: bool,
    /// How long a client has to complete the handshake. Default 15 s.
    pub timeout: Duration,
    /// Events a client may send after `$init` while it is being verified; they run once it
    /// succeeds. Default 64.
    pub max_queued_events: usize,
    /// Where sessions are verified. None is needed when the handshake is not required (the
    /// server only pushes `$init` with the client id) or admits guests only; a required
    /// handshake for sessions without a store is refused by `RealtimeBuilder::build`.
    pub store: Option<Arc<dyn SessionStore>>,
}

impl Default for ShakehandConfig {
    /// No guests, no required handshake, 15 s, no session store.
    fn default() -> ShakehandConfig {
        ShakehandConfig {
            allow_guest: false,
            strict_sessions: false,
            required: false,
            timeout: Duration::from_secs(15),
            max_queued_events: 64,
            store: None,
        }
    }
}

impl std::fmt::Debug for ShakehandConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShakehandConfig")
            .field("allow_guest", &self.allow_guest)
            .field("strict_sessions", &self.strict_sessions)
            .field("required", &self.required)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ShakehandConfig {
    /// The defaults (no guests, no required handshake, 15 s) with sessions from `store`.
    pub fn new(store: impl SessionStore) -> ShakehandConfig {
        ShakehandConfig::with_store(Arc::new(store))
    }

    /// Like [`ShakehandConfig::new`], with a shared store.
    pub fn with_store(store: Arc<dyn SessionStore>) -> ShakehandConfig {
        ShakehandConfig {
            store: Some(store),
            ..ShakehandConfig::default()
        }
    }

    /// Whether this configuration can work: a required handshake that admits sessions
    /// needs a store to verify them in.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.required && !self.allow_guest && self.store.is_none() {
            return Err(
                "a required $init handshake needs a session store: ShakehandConfig::new(store)",
            );
        }
        Ok(())
    }

    /// Sets [`ShakehandConfig::allow_guest`].
    pub fn allow_guest(mut self, allow: bool) -> Self {
        self.allow_guest = allow;
        self
    }

    /// Sets [`ShakehandConfig::strict_sessions`].
    pub fn strict_sessions(mut self, strict: bool) -> Self {
        self.strict_sessions = strict;
        self
    }

    /// Sets [`ShakehandConfig::required`].
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Sets [`ShakehandConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ShakehandConfig::max_queued_events`].
    pub fn max_queued_events(mut self, max: usize) -> Self {
        self.max_queued_events = max;
        self
    }
}

/// Where a socket is in the handshake (kept in the socket as a byte).
pub(crate) mod state {
    /// No handshake configured, or completed: events flow.
    pub(crate) const OPEN: u8 = 0;
    /// Waiting for `$init`.
    pub(crate) const PENDING: u8 = 1;
    /// `$init` received, verification under way: events wait in the gate's queue.
    pub(crate) const VERIFYING: u8 = 2;
    /// The handshake failed: events are refused.
    pub(crate) const FAILED: u8 = 3;
}

/// An event that arrived while `$init` was being verified.
#[derive(Debug)]
struct QueuedEvent {
    event: String,
    payload: Payload,
    reply_to: Option<ReplyTo>,
}

/// A socket's side of the handshake: its state, and the events waiting for verification.
///
/// The state is read without the lock on the hot path (once `OPEN`, it never changes); every
/// change happens under the lock, together with the queue, so no event can slip in between
/// the last queued one and the gate opening.
#[derive(Debug)]
struct Gate {
    state: std::sync::atomic::AtomicU8,
    queued: std::sync::Mutex<Vec<QueuedEvent>>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            state: std::sync::atomic::AtomicU8::new(state::OPEN),
            queued: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<QueuedEvent>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn set(&self, _locked: &[QueuedEvent], to: u8) {
        self.state.store(to, Ordering::Release);
    }
}

/// The event clients send (and receive) for the handshake.
pub const INIT_EVENT: &str = "$init";

/// The credentials of a `$init`: `_sess` as weroll clients send it.
#[derive(Debug)]
struct Credentials {
    userid: String,
    token: String,
    tokentimestamp: u64,
}

/// What a `$init` payload holds: no session (a guest), or credentials; `Err` says what is
/// wrong with it.
fn credentials(data: &Value) -> Result<Option<Credentials>, String> {
    let sess = match data {
        Value::Object(map) => map.get("_sess").unwrap_or(&Value::Null),
        // weroll reads `data._sess` of whatever came: no object, no session.
        Value::Null => &Value::Null,
        other => {
            return Err(format!(
                "invalid $init payload: expected an object with `_sess`, got {}",
                kind(other)
            ))
        }
    };
    let sess = match sess {
        Value::Null => return Ok(None),
        Value::Object(sess) => sess,
        other => {
            return Err(format!(
                "invalid $init payload: `_sess` must be an object, got {}",
                kind(other)
            ))
        }
    };
    let field = |name: &str| match sess.get(name) {
        None | Some(Value::Null) => Err(format!("invalid $init payload: missing field `{name}`")),
        Some(Value::String(s)) if s.is_empty() => {
            Err(format!("invalid $init payload: empty field `{name}`"))
        }
        Some(v) => Ok(v),
    };
    let userid = match field("userid")? {
        Value::String(s) => s.clone(),
        // A number is the user of its decimal string (weroll ids are often numbers).
        Value::Number(n) => n.to_string(),
        other => {
            return Err(format!(
                "invalid $init payload: `userid` must be a string or a number, got {}",
                kind(other)
            ))
        }
    };
    let token = match field("token")? {
        Value::String(s) => s.clone(),
        other => {
            return Err(format!(
                "invalid $init payload: `token` must be a string, got {}",
                kind(other)
            ))
        }
    };
    // weroll clients send the timestamp as a number or as a string.
    let tokentimestamp = match field("tokentimestamp")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        "invalid $init payload: `tokentimestamp` must be a non-negative integer (a number or a \
         numeric string)"
            .to_owned()
    })?;
    Ok(Some(Credentials {
        userid,
        token,
        tokentimestamp,
    }))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn fire(socket: &Socket, event: Lifecycle, data: Value) {
    socket.run_lifecycle(event, data);
}

/// weroll's `$init` message: `{clientID, socketID, time}`.
fn init_reply(socket: &Socket) -> Value {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    serde_json::json!({
        "clientID": &*socket.client_id(),
        "socketID": socket.id().as_str(),
        "time": time,
    })
}

fn push_init(socket: &Socket) {
    let _ = socket.emit(INIT_EVENT, &init_reply(socket));
}

/// The `$init` handshake as the live layer's [`EventGate`]: installed by
/// `RealtimeBuilder::shakehand`.
#[derive(Debug)]
pub(crate) struct Shakehand {
    config: Arc<ShakehandConfig>,
}

impl Shakehand {
    pub(crate) fn new(config: ShakehandConfig) -> Shakehand {
        Shakehand {
            config: Arc::new(config),
        }
    }
}

impl NamespaceBuilder {
    /// Gives this namespace its own `$init` handshake, instead of the server's
    /// ([`RealtimeBuilder::shakehand`](crate::RealtimeBuilder::shakehand)): a guest lobby
    /// beside a members-only namespace, on one server. On a dynamic namespace's builder, it
    /// applies to every namespace made from it. See [`crate::shakehand`].
    ///
    /// ```
    /// use realtime_core::{MemorySessionStore, Realtime, ShakehandConfig};
    ///
    /// let store = std::sync::Arc::new(MemorySessionStore::new());
    /// let server = Realtime::builder()
    ///     // Members only, everywhere but the lobby.
    ///     .shakehand(ShakehandConfig::with_store(store.clone()).required(true))
    ///     .namespace("/lobby", |ns| {
    ///         ns.shakehand(ShakehandConfig::with_store(store).required(true).allow_guest(true))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn shakehand(mut self, config: ShakehandConfig) -> Self {
        self.gate = Some(Some(Arc::new(Shakehand::new(config))));
        self
    }

    /// No `$init` handshake in this namespace, whatever the server's: sockets are accepted as
    /// they connect, and no `$init` is pushed.
    pub fn without_shakehand(mut self) -> Self {
        self.gate = Some(None);
        self
    }
}

/// A socket's progress through the handshake, kept in its gate slot (none: not required).
fn gate_of(socket: &Socket) -> Option<&Gate> {
    socket.0.gate_state.get()?.downcast_ref::<Gate>()
}

impl EventGate for Shakehand {
    fn check(&self) -> Result<(), &'static str> {
        self.config.check()
    }

    fn on_connected(&self, socket: &Socket) {
        let config = Arc::clone(&self.config);
        if !config.required {
            fire(socket, Lifecycle::ShakehandSuccess, Value::Null);
            let s = socket.clone();
            socket.in_order(move || push_init(&s));
            return;
        }
        let gate = Gate::new();
        gate.state.store(state::PENDING, Ordering::Release);
        if socket.0.gate_state.set(Arc::new(gate)).is_err() {
            return;
        }
        let socket = socket.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(config.timeout) => {}
                // A socket that leaves just its namespace is caught by the `connected` check.
                _ = socket.session().closed() => return,
            }
            let pending = gate_of(&socket)
                .is_some_and(|g| matches!(g.state(), state::PENDING | state::VERIFYING));
            if pending && socket.connected() {
                tracing::info!(socket = %socket.id(), "no $init handshake in time: disconnecting");
                fail(&socket, None, "handshake timed out");
            }
        });
    }

    /// Decides what happens to an event: dispatched now (the handshake is done or not
    /// required), the start of verification (`$init` while pending), queued (verification
    /// under way), or refused.
    fn admit(
        &self,
        socket: &Socket,
        event: String,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) -> Admission {
        let Some(gate) = gate_of(socket) else {
            return Admission::Dispatch(event, payload, reply_to);
        };
        if gate.state() == state::OPEN {
            return Admission::Dispatch(event, payload, reply_to);
        }
        let mut queued = gate.lock();
        let refusal = match gate.state() {
            state::OPEN => return Admission::Dispatch(event, payload, reply_to),
            state::PENDING if event == INIT_EVENT => {
                gate.set(&queued, state::VERIFYING);
                drop(queued);
                let data = payload.get::<Value>(0).unwrap_or(Value::Null);
                tokio::spawn(verify(
                    Arc::clone(&self.config),
                    socket.clone(),
                    data,
                    reply_to,
                ));
                return Admission::Handled;
            }
            state::PENDING => "handshake required: emit $init first",
            state::VERIFYING => {
                if queued.len() < self.config.max_queued_events {
                    queued.push(QueuedEvent {
                        event,
                        payload,
                        reply_to,
                    });
                    return Admission::Handled;
                }
                "too many events before the $init handshake completed"
            }
            _ => FAILED_MESSAGE,
        };
        drop(queued);
        tracing::debug!(socket = %socket.id(), event = %crate::client_log::Preview(&event), refusal, "event refused by the $init gate");
        let s = socket.clone();
        socket.in_order(move || s.refuse_event(&event, reply_to, refusal));
        Admission::Handled
    }
}

const FAILED_MESSAGE: &str = "$init handshake failed";

/// Checks a `$init`: `Ok(Some(session))` for a user, `Ok(None)` for a guest, `Err` with the
/// reason it cannot be either, before the guest policy applies.
async fn check(config: &ShakehandConfig, data: &Value) -> Result<Option<Session>, Refusal> {
    let Some(c) = credentials(data).map_err(Refusal::Invalid)? else {
        return Err(Refusal::NoSession);
    };
    let Some(store) = &config.store else {
        return Err(Refusal::Invalid("no session store configured".to_owned()));
    };
    match session::verify(&**store, &c.userid, &c.token, c.tokentimestamp).await {
        Ok(Some(session)) => Ok(Some(session)),
        Ok(None) => Err(Refusal::Invalid("invalid or expired session".to_owned())),
        Err(err) => {
            tracing::error!(%err, "session store failed during $init");
            Err(Refusal::Invalid("session store unavailable".to_owned()))
        }
    }
}

/// Why a `$init` made no user.
enum Refusal {
    /// No `_sess` (or `null`).
    NoSession,
    /// A session was presented and did not verify (or could not be checked).
    Invalid(String),
}

async fn verify(
    config: Arc<ShakehandConfig>,
    socket: Socket,
    data: Value,
    reply_to: Option<ReplyTo>,
) {
    fire(&socket, Lifecycle::ShakehandStart, data.clone());
    let outcome = match check(&config, &data).await {
        Ok(session) => Ok(session),
        Err(Refusal::NoSession) if config.allow_guest => Ok(None),
        Err(Refusal::NoSession) => Err("a session is required (guests are not allowed)".to_owned()),
        // weroll: with guests allowed, any failed `$init` makes a guest.
        Err(Refusal::Invalid(reason)) if config.allow_guest && !config.strict_sessions => {
            tracing::debug!(socket = %socket.id(), reason, "$init without a valid session: a guest");
            Ok(None)
        }
        Err(Refusal::Invalid(reason)) => Err(reason),
    };
    fire(
        &socket,
        Lifecycle::ShakehandComplete,
        Value::Bool(outcome.is_ok()),
    );
    match outcome {
        Ok(session) => succeed(&socket, session, reply_to),
        Err(reason) => fail(&socket, reply_to, &reason),
    }
}

/// The handshake succeeded. Each step runs in the connection's order: the session is the
/// socket's before the `shakeHandSuccess` handler starts, and the client gets its reply
/// after that handler's synchronous part and before any event that waited for the gate.
fn succeed(socket: &Socket, session: Option<Session>, reply_to: Option<ReplyTo>) {
    let s = socket.clone();
    socket.in_order(move || {
        if let Some(session) = session {
            s.set_client_id(session.userid.as_str());
            s.insert_extension(session);
        }
        tracing::debug!(socket = %s.id(), client_id = %s.client_id(), "$init handshake succeeded");
    });
    fire(socket, Lifecycle::ShakehandSuccess, Value::Null);
    let socket = socket.clone();
    socket.clone().in_order(move || {
        let reply = init_reply(&socket);
        if let Some(to) = reply_to {
            let _ = socket.send_reply(to, &Payload::from_value(reply.clone()));
        }
        let _ = socket.emit(INIT_EVENT, &reply);
        open_gate(&socket);
    });
}

/// Dispatches the events that waited for the handshake, in order, then lets events through.
/// The gate opens only once the queue is empty under its lock, so an event arriving
/// meanwhile is queued behind them rather than overtaking them.
fn open_gate(socket: &Socket) {
    let Some(gate) = gate_of(socket) else {
        return;
    };
    loop {
        let batch = {
            let mut queued = gate.lock();
            if queued.is_empty() {
                gate.set(&queued, state::OPEN);
                *queued = Vec::new();
                return;
            }
            std::mem::take(&mut *queued)
        };
        for q in batch {
            socket.route_event(q.event, q.payload, q.reply_to);
        }
    }
}

/// The handshake failed (or timed out): events are refused from now on; after the
/// `shakeHandFail` handler's synchronous part, the client hears why and is disconnected.
fn fail(socket: &Socket, reply_to: Option<ReplyTo>, reason: &str) {
    tracing::info!(socket = %socket.id(), reason, "$init handshake failed: disconnecting");
    fire(socket, Lifecycle::ShakehandFail, Value::from(reason));
    let (socket, reason) = (socket.clone(), reason.to_owned());
    socket.clone().in_order(move || {
        socket.refuse_event(INIT_EVENT, reply_to, &reason);
        // Events that arrived until now waited in the gate: refused after the `$init` reply.
        let queued = match gate_of(&socket) {
            Some(gate) => {
                let mut queued = gate.lock();
                gate.set(&queued, state::FAILED);
                std::mem::take(&mut *queued)
            }
            None => Vec::new(),
        };
        for q in queued {
            socket.refuse_event(&q.event, q.reply_to, FAILED_MESSAGE);
        }
        // A plain WebSocket client has no namespace to leave: its connection closes, with
        // the reason in the close frame (1008, policy violation) as well as in `$error`.
        socket.refuse_connection(&reason);
        socket.disconnect();
    });
}
