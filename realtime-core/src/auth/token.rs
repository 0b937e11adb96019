//! Where a credential travels in a connection request.

use crate::live::socket::Socket;

/// A place to look for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// A query parameter of the handshake URL: `io(url, { query: { token } })`, or
    /// `new WebSocket("wss://host/ws?token=...")`.
    Query(&'static str),
    /// The `Authorization: Bearer <token>` header (`extraHeaders` in Node and native
    /// clients; browsers cannot set it on WebSockets).
    Bearer,
    /// A string field of the Socket.IO auth payload: `io(url, { auth: { token } })`.
    AuthPayload(&'static str),
    /// A cookie of the handshake request (the `cookies` feature, on by default).
    #[cfg(feature = "cookies")]
    Cookie(&'static str),
}

impl TokenSource {
    /// The token this source finds for `socket`, if any.
    pub fn find(self, socket: &Socket) -> Option<String> {
        let handshake = socket.request();
        match self {
            TokenSource::Query(name) => handshake.query(name),
            TokenSource::Bearer => {
                let value = handshake
                    .headers
                    .get(http::header::AUTHORIZATION)?
                    .to_str()
                    .ok()?;
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            }
            TokenSource::AuthPayload(key) => socket.auth().get(key)?.as_str().map(str::to_owned),
            #[cfg(feature = "cookies")]
            TokenSource::Cookie(name) => super::Cookies::from_headers(&handshake.headers)
                .get(name)
                .map(str::to_owned),
        }
        .filter(|t| !t.is_empty())
    }

    /// How the source reads in an error message.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn describe(self) -> String {
        match self {
            TokenSource::Query(name) => format!("query parameter `{name}`"),
            TokenSource::Bearer => "Authorization: Bearer header".to_owned(),
            TokenSource::AuthPayload(key) => format!("auth payload field `{key}`"),
            #[cfg(feature = "cookies")]
            TokenSource::Cookie(name) => format!("cookie `{name}`"),
        }
    }
}
