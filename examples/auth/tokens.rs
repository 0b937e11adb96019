//! The token server (Socket.IO at `/auth/socket.io/`, plain WebSocket at `/auth/ws`): one
//! namespace per way a JSON Web Token can travel, each guarded by the ready-made
//! [`Jwt`] middleware.
//!
//! | namespace | token | client |
//! |---|---|---|
//! | `/jwt` | HS256, query parameter `token` | `io(url + "/jwt", { path, query: { token } })`, `ws://.../auth/ws?ns=/jwt&token=...` |
//! | `/bearer` | HS256, `Authorization: Bearer` header | `extraHeaders: { authorization: "Bearer " + token }`, or the `ws` headers (browsers cannot set it) |
//! | `/rsa` | RS256, query parameter `token` | as `/jwt`; the server holds only the public key |
//! | `/payload` | HS256, auth payload field `token` | `io(url + "/payload", { path, auth: { token } })` (Socket.IO only) |
//! | `/admin` | HS256 with a `roles` claim, auth payload or query | see [`crate::admin`] |
//! | `/cookie` | the session cookie | see [`crate::cookie`] |
//!
//! Each JWT must be signed with the namespace's algorithm and key, carry `exp` (and `nbf`, if
//! present, must have passed) and name the namespace in `aud`: a token issued for `/admin`
//! does not open `/jwt`. Whatever is wrong reaches the client as the `connect_error` message
//! (`token expired`, `token not valid yet`, `invalid token signature`, `token algorithm not
//! allowed`, `token is not for this service (audience mismatch)`, `no token: expected one in
//! the query parameter `token``, ...) with `data.code` (`token_expired`, ...), and no handler
//! of the namespace ever sees the connection.

use std::sync::Arc;

use realtime::{
    auth::{Jwt, TokenSource, User},
    cluster::RedisAdapterConfig,
    session::SessionStore,
    Config, ConnectError, NamespaceBuilder, Realtime, RedisAdapter, Socket, State,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{cookie::Sessions, stats::Stats, Settings};

/// The claims this example reads from its tokens.
///
/// `exp` (required), `nbf` and `aud` are checked by the middleware and need not be fields
/// here. Keep this type lenient: the middleware deserializes it before checking expiry and
/// audience, so a token lacking a field this type requires is refused as `malformed token`
/// even when the real problem is that it expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// What the user may do (see `/admin`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The test-only RS256 public key: its private half is in `examples/auth/keys/` for the tests
/// to sign with. A real server loads the issuer's public key from its configuration.
const TEST_ONLY_PUBLIC_KEY: &[u8] = include_bytes!("keys/test-only-public.pem");

/// Builds the token server. Its handlers are registered explicitly: the `#[event]` macros of
/// this binary belong to the weroll server, and `without_registered_handlers` keeps them out.
pub fn server(settings: &Settings, store: Arc<dyn SessionStore>, stats: Stats) -> Realtime {
    let secret = settings.jwt_secret.as_bytes();
    let hs256 = |source: TokenSource, audience: &str| {
        Jwt::hs256(secret)
            .from(source)
            .audience(audience)
            .middleware::<Claims>()
    };
    let rs256 = Jwt::rs256_pem(TEST_ONLY_PUBLIC_KEY)
        .expect("the test public key is a valid PEM")
        .from(TokenSource::Query("token"))
        .audience("/rsa")
        .middleware::<Claims>();

    let builder = Realtime::builder()
        .without_registered_handlers()
        .config(
            Config::default()
                .with_path("/auth/socket.io/")
                .with_plain_ws_path(Some("/auth/ws".to_owned()))
                .with_event_rate_limit(settings.rate_limit)
                .with_allow_eio3(true), // socket.io-client 2.x pages connect too
        )
        .state(stats)
        .state(Sessions(store))
        .namespace("/", |ns| ns.middleware(pick_a_namespace))
        .namespace("/cookie", crate::cookie::namespace)
        .namespace("/jwt", |ns| {
            jwt_namespace(ns.middleware(hs256(TokenSource::Query("token"), "/jwt")))
        })
        .namespace("/bearer", |ns| {
            jwt_namespace(ns.middleware(hs256(TokenSource::Bearer, "/bearer")))
        })
        .namespace("/rsa", |ns| jwt_namespace(ns.middleware(rs256)))
        .namespace("/payload", |ns| {
            jwt_namespace(ns.middleware(hs256(TokenSource::AuthPayload("token"), "/payload")))
        })
        .namespace("/admin", |ns| {
            // Server-wide middleware would run first; here the namespace's own run in order:
            // verify the token, then turn its `roles` claim into `Roles`.
            let admin_token = Jwt::hs256(secret)
                .from(TokenSource::AuthPayload("token"))
                .from(TokenSource::Query("token"))
                .audience("/admin")
                .middleware::<Claims>();
            let ns = ns
                .middleware(admin_token)
                .middleware(crate::admin::roles_from_claims);
            crate::admin::handlers(jwt_namespace(ns))
        });
    match cluster(settings) {
        Some(adapter) => builder.adapter(adapter),
        None => builder,
    }
    .build()
    .expect("every event has one handler")
}

/// With `REDIS_URL` set, copies of this example on other ports form one cluster. This
/// server is a second Socket.IO server in the process (its own path), so it gets a key of
/// its own: Node would give a second `io` its own key too, or its namespace `/` and the
/// weroll server's would receive each other's broadcasts.
fn cluster(settings: &Settings) -> Option<RedisAdapter> {
    let url = settings.redis_url.as_deref()?;
    let mut config = RedisAdapterConfig::default();
    config.key = "realtime-auth-tokens".into();
    Some(RedisAdapter::with_config(url, config).expect("REDIS_URL is a Redis URL"))
}

/// The token server's `/` lets nobody in, and says where to go instead.
async fn pick_a_namespace(_: Socket) -> Result<(), ConnectError> {
    Err(
        ConnectError::new("connect to /cookie, /jwt, /bearer, /rsa, /payload or /admin")
            .with_data(json!({ "code": "pick_a_namespace" })),
    )
}

/// The handlers every JWT namespace has.
fn jwt_namespace(ns: NamespaceBuilder) -> NamespaceBuilder {
    ns.on_connect(count_connection).on("whoami", whoami)
}

/// Counts the connections each namespace accepted: a refused client never gets here.
pub async fn count_connection(socket: Socket, State(stats): State<Stats>) {
    stats.hit(format!("{} connection", socket.ns()));
}

/// Who this connection is: `User<Claims>` reads the claims the middleware verified.
async fn whoami(
    socket: Socket,
    State(stats): State<Stats>,
    User(claims): User<Claims>,
) -> serde_json::Value {
    stats.hit(format!("{} whoami", socket.ns()));
    json!({ "ns": socket.ns(), "sub": claims.sub, "roles": claims.roles })
}
