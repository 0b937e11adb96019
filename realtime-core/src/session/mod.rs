//! weroll's sessions: the record a client proves it holds with the `$init` handshake, and
//! the stores that keep them (in memory, or in Redis for a cluster).

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
pub use self::redis::RedisSessionStore;

/// A boxed future borrowing from its store.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A user's session, as weroll's `Session` model keeps it: who the user is, and the token
/// (with its timestamp) the client must present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub userid: String,
    pub token: String,
    pub tokentimestamp: u64,
    /// Anything else the application keeps with the session.
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
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `session` for `ttl`; it expires afterwards.
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()>;
    /// The live session of `userid`, if any.
    fn load<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, Option<Session>>;
    /// Ends the session of `userid` (log out).
    fn remove<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()>;
}

/// Checks credentials against a store: the session of `userid` must be live and carry
/// exactly this token and timestamp. The token comparison takes constant time.
pub async fn verify(
    store: &dyn SessionStore,
    userid: &str,
    token: &str,
    tokentimestamp: u64,
) -> Result<Option<Session>, StoreError> {
    use subtle::ConstantTimeEq;
    let Some(session) = store.load(userid).await? else {
        return Ok(None);
    };
    let token_ok: bool = session.token.as_bytes().ct_eq(token.as_bytes()).into();
    Ok((token_ok && session.tokentimestamp == tokentimestamp).then_some(session))
}

/// Sessions in this process's memory: the embedded default, for a single server.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    sessions: Mutex<HashMap<String, (Session, Instant)>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> MemorySessionStore {
        MemorySessionStore::default()
    }
}

impl SessionStore for MemorySessionStore {
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()> {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, expires)| *expires > now);
        map.insert(session.userid.clone(), (session.clone(), now + ttl));
        Box::pin(std::future::ready(Ok(())))
    }

    fn load<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, Option<Session>> {
        let map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let found = map
            .get(userid)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(s, _)| s.clone());
        Box::pin(std::future::ready(Ok(found)))
    }

    fn remove<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(userid);
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
