//! The HTTP side, on the same port as the realtime servers: logging in creates the session
//! that `$init` and the session cookie prove.
//!
//! - `POST /login` with `{"userid": "alice"}` (or a number, `{"userid": 42}`, which is the
//!   user `"42"`) creates a session in the store and answers weroll's `_sess` fields,
//!   `{"userid", "token", "tokentimestamp", "ttlMs"}`, and sets the session cookie
//!   (`session=<userid>:<token>:<tokentimestamp>`, `HttpOnly`). Every login is a device of
//!   its own: the user's sessions from earlier logins stay valid. A real application checks
//!   a password first; this one trusts the user id.
//! - `POST /logout` with the session cookie ends that session (that device): `$init` and the
//!   cookie stop working at once, on every node sharing the store; the user's other devices
//!   stay logged in. `POST /logout/everywhere` ends every session of the user.
//! - `GET /stats`: what every handler saw (see [`crate::stats`]).

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use realtime::{
    auth::Cookies,
    session::{self, Session, SessionStore},
};
use serde::Deserialize;
use serde_json::json;

use crate::{cookie::SessionCookie, stats::Stats};

/// What the routes share.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn SessionStore>,
    /// How long a new session lives (`SESSION_TTL_MS`).
    pub ttl: Duration,
    pub stats: Stats,
}

/// The routes, to merge with the realtime servers' routers.
pub fn routes(app: App) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout/everywhere", post(logout_everywhere))
        .route("/stats", get(stats))
        .with_state(app)
}

#[derive(Deserialize)]
struct Login {
    /// A string, or a number standing for its decimal string (as in `$init`).
    userid: serde_json::Value,
}

/// A user id this example accepts: 1 to 64 of `A-Z a-z 0-9 _ - .`, so that it fits in the
/// cookie and in Redis keys as it is.
fn valid_userid(userid: &str) -> bool {
    (1..=64).contains(&userid.len())
        && userid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

/// `POST /login {"userid"}`: a new session with a fresh token, beside the user's other
/// sessions (one per device, as weroll keeps them by default).
async fn login(State(app): State<App>, body: Bytes) -> Response {
    let userid = match serde_json::from_slice::<Login>(&body).map(|l| l.userid) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Number(n)) => n.to_string(),
        _ => return error(StatusCode::BAD_REQUEST, "expected {\"userid\": \"...\"}"),
    };
    if !valid_userid(&userid) {
        return error(
            StatusCode::BAD_REQUEST,
            "userid: 1 to 64 of A-Z a-z 0-9 _ - .",
        );
    }
    let tokentimestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let session = Session {
        userid,
        token: random_hex(32),
        tokentimestamp,
        data: json!({ "loggedInAt": tokentimestamp }),
    };
    if let Err(err) = app.store.save(&session, app.ttl).await {
        tracing::error!(%err, "could not save a session");
        return error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable");
    }
    let cookie = SessionCookie::from_session(&session).set_cookie_header(app.ttl);
    let body = json!({
        "userid": session.userid,
        "token": session.token,
        "tokentimestamp": session.tokentimestamp,
        "ttlMs": app.ttl.as_millis() as u64,
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `POST /logout` with the session cookie: removes that session from the store (the user's
/// other devices keep theirs).
async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    end_sessions(app, headers, false).await
}

/// `POST /logout/everywhere` with the session cookie: removes every session of the user.
async fn logout_everywhere(State(app): State<App>, headers: HeaderMap) -> Response {
    end_sessions(app, headers, true).await
}

/// Verifies the session cookie, then ends its session, or all of the user's. The
/// framework's `Cookies` parser works on any header map, not only in middleware.
async fn end_sessions(app: App, headers: HeaderMap, everywhere: bool) -> Response {
    let cookies = Cookies::from_headers(&headers);
    let Some(cookie) = cookies
        .get(SessionCookie::NAME)
        .and_then(SessionCookie::parse)
    else {
        return error(StatusCode::UNAUTHORIZED, "no session cookie");
    };
    let session = match session::verify(
        &*app.store,
        &cookie.userid,
        &cookie.token,
        cookie.tokentimestamp,
    )
    .await
    {
        Ok(Some(session)) => session,
        Ok(None) => return error(StatusCode::UNAUTHORIZED, "invalid or expired session"),
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable"),
    };
    let removed = if everywhere {
        app.store.remove_all(&session.userid).await
    } else {
        app.store.remove(&session.userid, &session.token).await
    };
    match removed {
        Ok(()) => (
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, SessionCookie::clear_cookie_header())],
        )
            .into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable"),
    }
}

/// `GET /stats`: every handler's counter.
async fn stats(State(app): State<App>) -> Response {
    json_response(StatusCode::OK, json!(app.stats.snapshot()))
}

/// `n` random bytes as hex, for session tokens and key prefixes.
///
/// Made from std's `RandomState` (SipHash keyed from the OS's randomness) so the example needs
/// no extra crate. A real application uses a CSPRNG crate such as `getrandom` or `rand`.
pub fn random_hex(n: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(n * 2 + 16);
    while out.len() < n * 2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(n * 2);
    out
}
