//! The socket.io browser client for an example's pages: served by the example itself when
//! the bundle is on disk, otherwise loaded from the official CDN.
//!
//! The bundle is `tests/interop/node/node_modules/socket.io-client/dist/socket.io.min.js`
//! (there after `npm ci` in `tests/interop/node`), or the file (or `dist/` directory) named
//! by `SOCKET_IO_CLIENT_DIST`. A page writes `{{socket.io client}}` where the script's URL
//! goes; [`SocketIoClient::page`] fills it in.
//!
//! Shared by the examples that have pages (`#[path]`-included, as examples cannot share a
//! library module otherwise).

use std::path::PathBuf;

use bytes::Bytes;
use realtime::axum::{
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

/// Where the page loads the client from when this server does not have it.
pub const CDN_URL: &str = "https://cdn.socket.io/4.8.1/socket.io.min.js";
/// Where this server serves the bundle when it has it.
pub const ROUTE: &str = "/socket.io.min.js";
const PLACEHOLDER: &str = "{{socket.io client}}";

/// The client bundle, read once at start-up, or `None` when the page uses the CDN.
#[derive(Debug, Clone)]
pub struct SocketIoClient {
    bundle: Option<Bytes>,
}

impl SocketIoClient {
    /// Looks for the bundle (see the module docs) and says in the log where pages get it.
    pub fn locate() -> SocketIoClient {
        let path = match std::env::var_os("SOCKET_IO_CLIENT_DIST") {
            Some(p) if PathBuf::from(&p).is_dir() => PathBuf::from(p).join("socket.io.min.js"),
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/interop/node/node_modules/socket.io-client/dist/socket.io.min.js"),
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                tracing::info!(path = %path.display(), "serving the socket.io client at {ROUTE}");
                SocketIoClient {
                    bundle: Some(bytes.into()),
                }
            }
            Err(err) => {
                tracing::info!(path = %path.display(), %err, "pages load the socket.io client from {CDN_URL}");
                SocketIoClient { bundle: None }
            }
        }
    }

    /// The URL a page's `<script src>` uses.
    pub fn script_src(&self) -> &'static str {
        if self.bundle.is_some() {
            ROUTE
        } else {
            CDN_URL
        }
    }

    /// `html` with the client's URL in place of `{{socket.io client}}`.
    pub fn page(&self, html: &str) -> String {
        html.replace(PLACEHOLDER, self.script_src())
    }

    /// `router` plus `GET /socket.io.min.js` when this server has the bundle.
    pub fn serve<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        match &self.bundle {
            Some(bundle) => {
                let bundle = bundle.clone();
                router.route(ROUTE, get(move || async move { javascript(bundle) }))
            }
            None => router,
        }
    }
}

fn javascript(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
