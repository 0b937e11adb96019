//! Extractors over the handshake request and the established identity.

#[cfg(feature = "cookies")]
use std::collections::HashMap;
use std::{marker::PhantomData, sync::Arc};

use serde::de::DeserializeOwned;

use crate::{handler::extract::FromEventParts, live::event::EventContext};

/// The cookies of the handshake request (the `cookies` feature, on by default).
#[cfg(feature = "cookies")]
#[derive(Debug, Clone, Default)]
pub struct Cookies(HashMap<String, String>);

#[cfg(feature = "cookies")]
impl Cookies {
    /// Parses the `Cookie` headers (percent-decoded; malformed pairs are skipped).
    pub fn from_headers(headers: &http::HeaderMap) -> Cookies {
        let mut map = HashMap::new();
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for cookie in cookie::Cookie::split_parse_encoded(header).flatten() {
                map.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        Cookies(map)
    }

    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(feature = "cookies")]
impl FromEventParts for Cookies {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Cookies::from_headers(&ctx.socket().request().headers))
    }
}

/// The handshake request's headers.
#[derive(Debug, Clone)]
pub struct Headers(pub http::HeaderMap);

impl FromEventParts for Headers {
    type Rejection = std::convert::Infallible;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Headers(ctx.socket().request().headers.clone()))
    }
}

/// The handshake URL's query string, deserialized into `T` (`?token=...&room=...`).
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

/// Why [`Query`] could not be extracted.
#[derive(Debug, thiserror::Error)]
#[error("invalid query string: {0}")]
pub struct QueryRejection(#[from] serde_urlencoded::de::Error);

impl<T: DeserializeOwned + Send + 'static> FromEventParts for Query<T> {
    type Rejection = QueryRejection;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        let query = ctx.socket().request().uri.query().unwrap_or("");
        Ok(Query(serde_urlencoded::from_str(query)?))
    }
}

/// The identity a middleware established for this connection (JWT claims, a user record):
/// stored with `socket.insert_extension(User(value))`. Handlers that take it run only for
/// authenticated connections; others get the error `not authenticated`.
#[derive(Debug, Clone, PartialEq)]
pub struct User<T>(pub T);

/// [`User`] on a connection no middleware authenticated.
#[derive(Debug, thiserror::Error)]
#[error("not authenticated")]
pub struct NotAuthenticated;

impl<T: Clone + Send + Sync + 'static> FromEventParts for User<T> {
    type Rejection = NotAuthenticated;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        ctx.socket().extension::<User<T>>().ok_or(NotAuthenticated)
    }
}

/// The roles of a connection, stored by a middleware with `socket.insert_extension(Roles(..))`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roles(pub Arc<[String]>);

impl Roles {
    /// Roles from names.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Roles {
        Roles(names.into_iter().map(Into::into).collect())
    }

    /// Whether `role` is among them.
    pub fn contains(&self, role: &str) -> bool {
        self.0.iter().any(|r| r == role)
    }
}

/// A role, as a type, for [`HasRole`]: `struct Admin; impl Role for Admin { const NAME: &str = "admin"; }`.
pub trait Role: Send + Sync + 'static {
    /// The role's name in [`Roles`].
    const NAME: &'static str;
}

/// A guard: the handler runs only if the connection has role `R`; otherwise the client
/// gets `missing role "<name>"` (as its error ack or `$error` event).
#[derive(Debug)]
pub struct HasRole<R>(PhantomData<R>);

/// [`HasRole`] on a connection without the role.
#[derive(Debug, thiserror::Error)]
#[error("missing role {0:?}")]
pub struct MissingRole(&'static str);

impl<R: Role> FromEventParts for HasRole<R> {
    type Rejection = MissingRole;
    fn from_event_parts(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        match ctx.socket().extension::<Roles>() {
            Some(roles) if roles.contains(R::NAME) => Ok(HasRole(PhantomData)),
            _ => Err(MissingRole(R::NAME)),
        }
    }
}
