//! The HTTP side, on the same port as the realtime endpoints:
//!
//! - `GET /` the Socket.IO page, `GET /plain.html` the plain WebSocket page, `GET /chat.js`
//!   and `GET /chat.css` what both share (the UI; each page brings its own transport);
//! - `GET /vendor/socket.io.min.js` the Socket.IO client bundle: the file from
//!   `SOCKET_IO_CLIENT_DIST` (a `socket.io.min.js`, or the `dist` directory holding one;
//!   by default the one `npm ci` puts in `tests/interop/node/node_modules`), or, when there
//!   is none, a redirect to the official CDN, so the page works either way;
//! - `POST /login {"name"}` → `{"token", "name"}`: a JWT for the nickname. A real
//!   application checks a password first; this one trusts the name, and only refuses one
//!   that is malformed (400) or that someone is online with (409).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use jsonwebtoken::{EncodingKey, Header};
use realtime::Namespace;
use serde::Deserialize;
use serde_json::json;

use crate::Claims;

/// The HS256 secret when `JWT_SECRET` is not set. Anyone can read it here: never deploy it.
pub const DEV_JWT_SECRET: &str = "chat-example-dev-secret-do-not-deploy";

/// How long a token from `POST /login` opens the chat.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The socket.io-client release the CDN fallback loads (the npm tests use 4.8.x too).
const SOCKET_IO_CDN: &str = "https://cdn.socket.io/4.8.1/socket.io.min.js";

/// What the routes share.
#[derive(Clone)]
pub struct App {
    key: Arc<EncodingKey>,
    /// The chat's namespace, to see who is online.
    ns: Arc<Namespace>,
    /// The client bundle, if there is one on disk.
    socket_io_client: Option<Bytes>,
}

impl App {
    pub fn new(secret: &[u8], ns: Arc<Namespace>) -> App {
        App {
            key: Arc::new(EncodingKey::from_secret(secret)),
            ns,
            socket_io_client: load_socket_io_client(),
        }
    }
}

pub fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .route(
            "/plain.html",
            get(|| async { Html(include_str!("plain.html")) }),
        )
        .route(
            "/chat.js",
            get(|| async { javascript(include_str!("chat.js")) }),
        )
        .route(
            "/chat.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css")],
                    include_str!("chat.css"),
                )
            }),
        )
        .route("/vendor/socket.io.min.js", get(socket_io_client))
        .route("/login", post(login))
        .with_state(app)
}

fn javascript(body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, "application/javascript")], body).into_response()
}

/// Where the Socket.IO client is: what `SOCKET_IO_CLIENT_DIST` names (a bundle, or the
/// `dist` directory holding them), by default the `dist` directory `npm ci` installs in
/// `tests/interop/node`. Both the `/vendor` route and `/socket.io/socket.io.js` read it.
pub fn socket_io_client_dist() -> PathBuf {
    match std::env::var_os("SOCKET_IO_CLIENT_DIST") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/node/node_modules/socket.io-client/dist"),
    }
}

fn load_socket_io_client() -> Option<Bytes> {
    let mut path = socket_io_client_dist();
    if path.is_dir() {
        path.push("socket.io.min.js");
    }
    match std::fs::read(&path) {
        Ok(bytes) => {
            tracing::info!(path = %path.display(), "serving the Socket.IO client");
            Some(bytes.into())
        }
        Err(err) => {
            tracing::info!(path = %path.display(), %err, cdn = SOCKET_IO_CDN, "no Socket.IO client on disk: the page loads it from the CDN");
            None
        }
    }
}

async fn socket_io_client(State(app): State<App>) -> Response {
    match app.socket_io_client {
        Some(bytes) => javascript(bytes),
        None => Redirect::temporary(SOCKET_IO_CDN).into_response(),
    }
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn login(State(app): State<App>, body: Bytes) -> Response {
    let Ok(Login { name }) = serde_json::from_slice::<Login>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({ "error": "expected a JSON body {\"name\": \"...\"}" }),
        );
    };
    let name = name.trim().to_owned();
    if !crate::valid_name(&name) {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({ "error": "a name is 1 to 16 characters, not starting with $" }),
        );
    }
    // Two people picking one name on two nodes at the same instant can both get it: the
    // check is a read of the cluster, not a lock. They then share the name, like one user
    // with two tabs.
    if crate::online_names(&app.ns).await.contains(&name) {
        return reply(
            StatusCode::CONFLICT,
            json!({ "error": format!("{name} is already online") }),
        );
    }
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .saturating_add(TOKEN_LIFETIME)
        .as_secs();
    let claims = Claims {
        sub: name.clone(),
        exp,
    };
    match jsonwebtoken::encode(&Header::default(), &claims, &app.key) {
        Ok(token) => reply(StatusCode::OK, json!({ "token": token, "name": name })),
        Err(err) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": format!("could not sign a token: {err}") }),
        ),
    }
}
