//! `/cookie`: the session cookie that `POST /login` set, checked by a middleware written by
//! hand as an `async fn` of extractors.
//!
//! A browser sends the cookie by itself (same origin). Node and native clients set the
//! header: `io(url + "/cookie", { path: "/auth/socket.io/", extraHeaders: { cookie } })`,
//! `new WebSocket(url + "/auth/ws?ns=/cookie", { headers: { cookie } })`.

use std::{sync::Arc, time::Duration};

use realtime::{
    auth::Cookies,
    session::{self, Session, SessionStore},
    ConnectError, NamespaceBuilder, Socket, State,
};
use serde_json::json;

use crate::stats::Stats;

/// The session store, as state of the token server (`State<Sessions>`).
#[derive(Clone)]
pub struct Sessions(pub Arc<dyn SessionStore>);

/// The value of the `session` cookie: `<userid>:<token>:<tokentimestamp>`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCookie {
    pub userid: String,
    pub token: String,
    pub tokentimestamp: u64,
}

impl SessionCookie {
    /// The cookie's name.
    pub const NAME: &'static str = "session";

    pub fn from_session(session: &Session) -> SessionCookie {
        SessionCookie {
            userid: session.userid.clone(),
            token: session.token.clone(),
            tokentimestamp: session.tokentimestamp,
        }
    }

    /// Parses a cookie value; `None` if it is not `<userid>:<token>:<tokentimestamp>`.
    pub fn parse(value: &str) -> Option<SessionCookie> {
        let mut parts = value.rsplitn(3, ':');
        let tokentimestamp = parts.next()?.parse().ok()?;
        let token = parts.next()?;
        let userid = parts.next()?;
        (!userid.is_empty() && !token.is_empty()).then(|| SessionCookie {
            userid: userid.to_owned(),
            token: token.to_owned(),
            tokentimestamp,
        })
    }

    /// The `Set-Cookie` header that stores it for `ttl`.
    pub fn set_cookie_header(&self, ttl: Duration) -> String {
        format!(
            "{}={}:{}:{}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            Self::NAME,
            self.userid,
            self.token,
            self.tokentimestamp,
            ttl.as_millis().div_ceil(1000)
        )
    }

    /// The `Set-Cookie` header that deletes it.
    pub fn clear_cookie_header() -> String {
        format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", Self::NAME)
    }
}

fn refusal(message: &str, code: &str) -> ConnectError {
    ConnectError::new(message).with_data(json!({ "code": code }))
}

/// The middleware: finds the cookie (the `Cookies` extractor parses the handshake request's
/// `Cookie` headers), verifies it against the session store, and stores the [`Session`] on
/// the socket, where the `Session` extractor finds it. The user id becomes the client id, so
/// `send_to(userid)` reaches this connection.
///
/// Every refusal says why, with a `data.code` a client can switch on.
pub async fn session_cookie(
    socket: Socket,
    cookies: Cookies,
    State(Sessions(store)): State<Sessions>,
) -> Result<(), ConnectError> {
    let value = cookies.get(SessionCookie::NAME).ok_or_else(|| {
        refusal(
            "no session cookie: log in with POST /login first",
            "missing_cookie",
        )
    })?;
    let cookie = SessionCookie::parse(value).ok_or_else(|| {
        refusal(
            "malformed session cookie: expected <userid>:<token>:<tokentimestamp>",
            "malformed_cookie",
        )
    })?;
    match session::verify(
        &*store,
        &cookie.userid,
        &cookie.token,
        cookie.tokentimestamp,
    )
    .await
    {
        Ok(Some(session)) => {
            socket.set_client_id(session.userid.as_str());
            socket.insert_extension(session);
            Ok(())
        }
        Ok(None) => Err(refusal("invalid or expired session", "invalid_session")),
        Err(err) => {
            tracing::error!(%err, "session store failed while checking a cookie");
            Err(refusal("session store unavailable", "store_unavailable"))
        }
    }
}

/// Who this connection is: the `Session` extractor reads what the middleware stored (the
/// token stays on the server).
async fn whoami(socket: Socket, State(stats): State<Stats>, session: Session) -> serde_json::Value {
    stats.hit("/cookie whoami");
    json!({
        "ns": socket.ns(),
        "userid": session.userid,
        "tokentimestamp": session.tokentimestamp,
        "clientID": &*socket.client_id(),
    })
}

/// `/cookie`'s middleware and handlers.
pub fn namespace(ns: NamespaceBuilder) -> NamespaceBuilder {
    ns.middleware(session_cookie)
        .on_connect(crate::tokens::count_connection)
        .on("whoami", whoami)
}
