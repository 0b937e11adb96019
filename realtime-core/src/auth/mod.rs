//! Authentication: ready-made connection middleware and the identity extractors that read
//! what it established.
//!
//! - [`TokenSource`]: where a credential travels — the query string (`?token=...`), an
//!   `Authorization: Bearer` header, the Socket.IO auth payload, or a cookie.
//! - [`Jwt`]: verifies a JSON Web Token from any of those (HS256 or RS256, expiry and
//!   not-before checked, the algorithm pinned, optionally the audience) and stores its
//!   claims on the socket as the connection's [`User`].
//! - [`Cookies`], [`Query`], [`Headers`]: extractors over the handshake request, for writing
//!   your own middleware as an `async fn`.
//! - [`User<T>`] reads the identity a middleware established; [`HasRole<R>`] guards an
//!   event by role; [`Session`](crate::session::Session) is the weroll session from `$init`.
//!
//! With the `jwt` feature (on by default):
//!
//! ```
//! # #[cfg(feature = "jwt")] {
//! use realtime_core::{auth::{Jwt, TokenSource, User}, Realtime};
//! use serde::Deserialize;
//!
//! #[derive(Clone, Deserialize)]
//! struct Claims { sub: String, exp: u64 }
//!
//! let rt = Realtime::builder()
//!     .middleware(Jwt::hs256(b"secret").from(TokenSource::Query("token")).middleware::<Claims>())
//!     .on("whoami", |User(claims): User<Claims>| async move { claims.sub })
//!     .build()
//!     .unwrap();
//! # }
//! ```

mod extract;
#[cfg(feature = "jwt")]
mod jwt;
mod token;

#[cfg(feature = "cookies")]
pub use extract::Cookies;
pub use extract::{
    HasRole, Headers, MissingRole, NotAuthenticated, Query, QueryRejection, Role, Roles, User,
};
#[cfg(feature = "jwt")]
pub use jwt::{Jwt, JwtError};
pub use token::TokenSource;
