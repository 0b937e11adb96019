//! [`RequestHead`]: the HTTP request that opened a connection, kept for middleware.

/// The head of the HTTP request that opened the connection (socket.io calls it the
/// handshake): what middleware authenticates from.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request headers (cookies, authorization, user agent, ...).
    pub headers: http::HeaderMap,
    /// The request URI, with its query string (`?token=...`).
    pub uri: http::Uri,
    /// The peer's address, when the server was started with connect info (as `serve` does).
    pub remote_addr: Option<std::net::SocketAddr>,
    /// When the connection was opened.
    pub issued: std::time::SystemTime,
}

impl RequestHead {
    pub(crate) fn from_request(parts: &http::request::Parts) -> RequestHead {
        RequestHead {
            headers: detached_headers(&parts.headers),
            uri: detached_uri(&parts.uri),
            remote_addr: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
            issued: std::time::SystemTime::now(),
        }
    }

    /// A query parameter of the request URI, percent-decoded (`?token=a%2Bb` → `a+b`).
    pub fn query(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.uri.query()?.as_bytes())
            .find_map(|(k, v)| (k == key).then(|| v.into_owned()))
    }
}

/// Headers that only matter for the WebSocket handshake itself; not worth keeping for the
/// life of every connection.
const HANDSHAKE_ONLY_HEADERS: [http::HeaderName; 5] = [
    http::header::SEC_WEBSOCKET_KEY,
    http::header::SEC_WEBSOCKET_VERSION,
    http::header::SEC_WEBSOCKET_EXTENSIONS,
    http::header::UPGRADE,
    http::header::CONNECTION,
];

/// Copies header values into their own allocations.
///
/// hyper parses headers as slices of its connection read buffer (8 KiB or more), so a plain
/// `clone()` would keep that whole buffer alive for as long as the connection lasts; for
/// long-lived realtime connections that buffer would be most of their memory.
fn detached_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let kept = || {
        headers
            .iter()
            .filter(|(name, _)| !HANDSHAKE_ONLY_HEADERS.contains(name))
    };
    // Sized for what is kept: a WebSocket handshake is mostly the headers dropped here.
    let mut out = http::HeaderMap::with_capacity(kept().count());
    for (name, value) in kept() {
        let mut copy =
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    out
}

/// Copies the URI out of the connection read buffer (see [`detached_headers`]).
fn detached_uri(uri: &http::Uri) -> http::Uri {
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}
