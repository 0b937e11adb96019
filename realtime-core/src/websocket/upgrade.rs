//! The WebSocket opening handshake (RFC 6455 §4.2) over HTTP/1.1: checks the request,
//! answers `101 Switching Protocols`, and hands the upgraded connection to a task.

use std::future::Future;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::conn::WsConn;

/// The connection type handed to the task of an upgraded WebSocket.
pub(crate) type Upgraded = WsConn<TokioIo<hyper::upgrade::Upgraded>>;

/// A request to open a WebSocket, checked and ready to be answered.
pub(crate) struct WebSocketUpgrade {
    on_upgrade: OnUpgrade,
    accept: HeaderValue,
    max_message: usize,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade").finish_non_exhaustive()
    }
}

/// Why a request is not a WebSocket opening handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotAnUpgrade {
    #[error("a WebSocket handshake must be a GET")]
    Method,
    #[error("missing `Connection: upgrade` and `Upgrade: websocket`")]
    Headers,
    #[error("unsupported Sec-WebSocket-Version (13 is supported)")]
    Version,
    #[error("missing Sec-WebSocket-Key")]
    Key,
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
}

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        let status = match self {
            NotAnUpgrade::Method => StatusCode::METHOD_NOT_ALLOWED,
            NotAnUpgrade::Version => {
                let mut r = (StatusCode::BAD_REQUEST, self.to_string()).into_response();
                r.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                return r;
            }
            NotAnUpgrade::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// Whether the comma-separated header `name` lists `token` (case-insensitively).
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether a request asks to become a WebSocket (`Upgrade: websocket`, in any case and
/// among other tokens).
pub(crate) fn asks_for_websocket(headers: &HeaderMap) -> bool {
    lists(headers, header::UPGRADE, "websocket")
}

impl WebSocketUpgrade {
    /// Checks that `parts` is a WebSocket opening handshake and takes its upgrade.
    pub(crate) fn from_request(
        parts: &mut http::request::Parts,
        max_message: usize,
    ) -> Result<WebSocketUpgrade, NotAnUpgrade> {
        if parts.method != Method::GET {
            return Err(NotAnUpgrade::Method);
        }
        let h = &parts.headers;
        if !lists(h, header::CONNECTION, "upgrade") || !asks_for_websocket(h) {
            return Err(NotAnUpgrade::Headers);
        }
        if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err(NotAnUpgrade::Version);
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY).ok_or(NotAnUpgrade::Key)?;
        let accept = accept_key(key.as_bytes());
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotAnUpgrade::NotUpgradable)?;
        Ok(WebSocketUpgrade {
            on_upgrade,
            accept,
            max_message,
        })
    }

    /// Answers `101 Switching Protocols` and runs `task` with the connection once the
    /// upgrade completes; `failed` runs instead if it never does.
    pub(crate) fn respond<T, F>(
        self,
        failed: F,
        task: impl FnOnce(Upgraded) -> T + Send + 'static,
    ) -> Response
    where
        T: Future<Output = ()> + Send + 'static,
        F: FnOnce(hyper::Error) + Send + 'static,
    {
        let WebSocketUpgrade {
            on_upgrade,
            accept,
            max_message,
        } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => task(WsConn::new(TokioIo::new(upgraded), max_message)).await,
                Err(err) => failed(err),
            }
        });
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        response
    }
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + the protocol's GUID)).
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&accept).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
