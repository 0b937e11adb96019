//! weroll's sessions: the record a client proves it holds with the `$init` handshake, and
//! the stores that keep them (in memory, or in Redis for a cluster).
//!
//! A user may be logged in on several devices at once: every store keeps one session per
//! token, and a new login adds a session beside the user's others instead of replacing them
//! (weroll's default; its `onePointEnter` setting, one session per user, is a mode of the
//! weroll-format Redis store, [`WerollFormat::one_point_enter`]).
//!
//! Stores:
//!
//! - [`MemorySessionStore`]: this process's memory, for a single server.
//! - [`RedisSessionStore`] (the `redis` feature), in one of two formats ([`RedisFormat`]):
//!   - native: one hash per user, `<prefix><userid>`, whose fields are the user's tokens and
//!     whose values are the sessions as JSON (with their expiry). Default prefix
//!     `realtime:session:`.
//!   - weroll's own, read and written as weroll's `Session` model does: one hash per
//!     session, `<prefix>user_sess_<userid>_<token>` (`<prefix>user_sess_<userid>` with
//!     `onePointEnter`), with the fields `userid`, `token`, `tokentimestamp`, `type` and
//!     `extra` (JSON text), expiring with weroll's `tokenExpireTime`. A weroll HTTP app and a
//!     realtime server then share one Redis of sessions. See [`WerollFormat`].

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{handler::extract::FromEventParts, live::event::EventContext};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod weroll;
#[cfg(feature = "redis")]
pub use self::{
    redis::{RedisFormat, RedisSessionStore},
    weroll::WerollFormat,
};

/// A boxed future borrowing from its store.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A user's session, as weroll's `Session` model keeps it: who the user is, and the token
/// (with its timestamp) the client must present. One per device the user logged in on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub userid: String,
    pub token: String,
    pub tokentimestamp: u64,
    /// Anything else the application keeps with the session (weroll's `type` and `extra`,
    /// in the weroll format).
    #[serde(default)]
    pub data: Value,
}

/// Why a session store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt session record: {0}")]
    Corrupt(String),
}

/// Where sessions live. Implemented for [`MemorySessionStore`] and [`RedisSessionStore`].
///
/// A store keeps several sessions per user, one per token (device): saving a session never
/// ends the user's others.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `session` for `ttl`, beside the user's other sessions; it expires afterwards.
    /// Saving the same user and token again replaces that session and restarts its clock.
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()>;
    /// The live session of `userid` with `token`, if any.
    fn load<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, Option<Session>>;
    /// Ends the session of `userid` with `token` (log out this device).
    fn remove<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, ()>;
    /// Ends every session of `userid` (log out everywhere).
    fn remove_all<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()>;
    /// Whether [`verify`] also compares the `tokentimestamp` the client presents. True but
    /// for the weroll format: weroll's `Session.check` compares the user id and token only.
    fn checks_tokentimestamp(&self) -> bool {
        true
    }
}

/// Checks credentials against a store: `userid` must have a live session with exactly this
/// token (and, unless the store says otherwise, this timestamp). The token comparison takes
/// constant time.
pub async fn verify(
    store: &dyn SessionStore,
    userid: &str,
    token: &str,
    tokentimestamp: u64,
) -> Result<Option<Session>, StoreError> {
    use subtle::ConstantTimeEq;
    if userid.is_empty() || token.is_empty() {
        return Ok(None);
    }
    let Some(session) = store.load(userid, token).await? else {
        return Ok(None);
    };
    let token_ok: bool = session.token.as_bytes().ct_eq(token.as_bytes()).into();
    let timestamp_ok = !store.checks_tokentimestamp() || session.tokentimestamp == tokentimestamp;
    Ok((token_ok && timestamp_ok && session.userid == userid).then_some(session))
}

/// The sessions of one user in memory: token → (session, expiry).
type UserSessions = HashMap<String, (Session, Instant)>;

/// Sessions in this process's memory: the embedded default, for a single server.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    /// user id → that user's sessions.
    sessions: Mutex<HashMap<String, UserSessions>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> MemorySessionStore {
        MemorySessionStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserSessions>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionStore for MemorySessionStore {
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()> {
        let mut map = self.lock();
        let now = Instant::now();
        // Expired sessions go as new ones come, so the map stays as small as the live ones.
        map.retain(|_, tokens| {
            tokens.retain(|_, (_, expires)| *expires > now);
            !tokens.is_empty()
        });
        map.entry(session.userid.clone())
            .or_default()
            .insert(session.token.clone(), (session.clone(), now + ttl));
        Box::pin(std::future::ready(Ok(())))
    }

    fn load<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, Option<Session>> {
        let map = self.lock();
        let found = map
            .get(userid)
            .and_then(|tokens| tokens.get(token))
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(s, _)| s.clone());
        Box::pin(std::future::ready(Ok(found)))
    }

    fn remove<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        let mut map = self.lock();
        if let Some(tokens) = map.get_mut(userid) {
            tokens.remove(token);
            if tokens.is_empty() {
                map.remove(userid);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove_all<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()> {
        self.lock().remove(userid);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// [`Session`] as an extractor: the session verified by this connection's `$init`.
/// Handlers that take it run only for connections that shook hands with a session.
#[derive(Debug, thiserror::Error)]
#[error("no session: complete the $init handshake with a valid session first")]
pub struct NoSession;

impl FromEventParts for Session {
    type Rejection = NoSession;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        ctx.socket().extension::<Session>().ok_or(NoSession)
    }
}
