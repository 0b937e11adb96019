//! JSON Web Token verification as connection middleware.

use std::{future::Future, sync::Arc, time::Duration};

use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use super::{token::TokenSource, User};
use crate::live::{event::BoxFuture, namespace::ConnectError, socket::Socket};

/// Verifies a JWT carried by a connection request and stores its claims as the
/// connection's [`User`].
///
/// The algorithm is pinned (a token signed with another algorithm is refused, which
/// closes the `alg: none` and HMAC-with-a-public-key holes), `exp` is required and checked,
/// `nbf` is checked when present, and with [`Jwt::audience`] the `aud` claim must match
/// (use it to keep a token for `/admin` out of `/chat`). Refusals tell the client why:
/// `token expired`, `invalid token signature`, ...
#[derive(Clone)]
pub struct Jwt {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    sources: Vec<TokenSource>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.validation.algorithms)
            .field("sources", &self.sources)
            .finish()
    }
}

/// Why a JWT was refused; the message is what the client's `connect_error` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    #[error("no token: expected one in the {0}")]
    Missing(String),
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token algorithm not allowed")]
    WrongAlgorithm,
    #[error("token is not for this service (audience mismatch)")]
    WrongAudience,
    #[error("token is missing the `{0}` claim")]
    MissingClaim(String),
    #[error("malformed token")]
    Malformed,
    #[error("token claims do not have the expected shape: {0}")]
    Claims(String),
}

impl JwtError {
    fn from_jsonwebtoken(err: &jsonwebtoken::errors::Error) -> JwtError {
        match err.kind() {
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                JwtError::WrongAlgorithm
            }
            ErrorKind::InvalidAudience => JwtError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
            _ => JwtError::Malformed,
        }
    }

    /// A short machine-readable code, sent as the `data.code` of the connect error.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Missing(_) => "missing_token",
            JwtError::Expired => "token_expired",
            JwtError::NotYetValid => "token_not_yet_valid",
            JwtError::BadSignature => "bad_signature",
            JwtError::WrongAlgorithm => "wrong_algorithm",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::MissingClaim(_) => "missing_claim",
            JwtError::Malformed => "malformed_token",
            JwtError::Claims(_) => "invalid_claims",
        }
    }
}

impl Jwt {
    fn new(key: DecodingKey, algorithm: Algorithm) -> Jwt {
        let mut validation = Validation::new(algorithm);
        validation.validate_nbf = true;
        validation.leeway = 0;
        Jwt {
            key: Arc::new(key),
            validation: Arc::new(validation),
            sources: Vec::new(),
        }
    }

    /// HMAC-SHA256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Jwt {
        Jwt::new(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// RSA-SHA256 with the issuer's public key, PEM-encoded.
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<Jwt, jsonwebtoken::errors::Error> {
        Ok(Jwt::new(
            DecodingKey::from_rsa_pem(public_key_pem)?,
            Algorithm::RS256,
        ))
    }

    /// Looks for the token in `source` (sources are tried in the order added; by default
    /// the auth payload field `token`, then the query parameter `token`, then a bearer
    /// header).
    pub fn from(mut self, source: TokenSource) -> Jwt {
        self.sources.push(source);
        self
    }

    /// Requires the `aud` claim, and requires it to contain `audience`: a token without
    /// `aud` is refused too (jsonwebtoken alone would only check `aud` when present).
    pub fn audience(mut self, audience: &str) -> Jwt {
        let validation = Arc::make_mut(&mut self.validation);
        validation.set_audience(&[audience]);
        validation.required_spec_claims.insert("aud".to_owned());
        self
    }

    /// Accepts `exp`/`nbf` this far off, for clock skew between issuer and server.
    pub fn leeway(mut self, leeway: Duration) -> Jwt {
        Arc::make_mut(&mut self.validation).leeway = leeway.as_secs();
        self
    }

    fn sources(&self) -> &[TokenSource] {
        const DEFAULT: [TokenSource; 3] = [
            TokenSource::AuthPayload("token"),
            TokenSource::Query("token"),
            TokenSource::Bearer,
        ];
        if self.sources.is_empty() {
            &DEFAULT
        } else {
            &self.sources
        }
    }

    /// Verifies the token `socket` carries and returns its claims.
    pub fn verify<C: DeserializeOwned>(&self, socket: &Socket) -> Result<C, JwtError> {
        let sources = self.sources();
        let token = sources.iter().find_map(|s| s.find(socket)).ok_or_else(|| {
            JwtError::Missing(
                sources
                    .iter()
                    .map(|s| s.describe())
                    .collect::<Vec<_>>()
                    .join(" or "),
            )
        })?;
        self.verify_token(&token)
    }

    /// Verifies a token string and returns its claims.
    ///
    /// Signature and registered claims (`exp`, `nbf`, `aud`) are checked first, and only
    /// then are the claims read into `C`: an expired token is reported as expired even if
    /// it also lacks a field `C` needs.
    pub fn verify_token<C: DeserializeOwned>(&self, token: &str) -> Result<C, JwtError> {
        // jsonwebtoken cannot even parse a header naming an algorithm it does not know
        // (`none`, above all) and reports it as malformed; tell the client what is wrong.
        if let Some(alg) = header_alg(token) {
            if !self
                .validation
                .algorithms
                .iter()
                .any(|a| format!("{a:?}") == alg)
            {
                return Err(JwtError::WrongAlgorithm);
            }
        }
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
            .map_err(|e| JwtError::from_jsonwebtoken(&e))?
            .claims;
        serde_json::from_value(claims).map_err(|e| JwtError::Claims(e.to_string()))
    }

    /// The connection middleware: verifies the token, stores the claims as [`User<C>`], or
    /// refuses the connection with the reason (`connect_error` message, and
    /// `data.code` such as `token_expired`).
    pub fn middleware<C>(
        self,
    ) -> impl Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Clone + Send + Sync + 'static
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        move |socket: Socket| {
            let result = self.verify::<C>(&socket);
            Box::pin(ready(match result {
                Ok(claims) => {
                    socket.insert_extension(User(claims));
                    Ok(())
                }
                Err(err) => {
                    tracing::debug!(socket = %socket.id(), error = %err, "JWT refused");
                    Err(ConnectError::new(err.to_string())
                        .with_data(serde_json::json!({ "code": err.code() })))
                }
            }))
        }
    }
}

/// The `alg` of a token's header, if the header can be read at all.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

fn ready<T: Send + 'static>(value: T) -> impl Future<Output = T> + Send + 'static {
    std::future::ready(value)
}
