//! Every way into a realtime server, one namespace per method, on one port.
//!
//! ```sh
//! cargo run --example auth      # http://127.0.0.1:3000
//! ```
//!
//! | how the client proves who it is | where | module |
//! |---|---|---|
//! | a session cookie set by `POST /login` (middleware written by hand) | `/cookie` | [`cookie`] |
//! | a JWT (HS256) in the query string: `?token=...` | `/jwt` | [`tokens`] |
//! | a JWT in the `Authorization: Bearer ...` header | `/bearer` | [`tokens`] |
//! | a JWT signed with an RSA key (RS256), checked with the public key | `/rsa` | [`tokens`] |
//! | a JWT in the Socket.IO auth payload: `io(url, { auth: { token } })` | `/payload` | [`tokens`] |
//! | a JWT whose `roles` claim guards an event (`HasRole<Admin>`) | `/admin` | [`admin`] |
//! | weroll's `$init` handshake with the session from `POST /login` (guests as `ALLOW_GUEST` says) | `/` | [`init`] |
//! | the same handshake, guests always welcome: a `$init` that fails makes a guest (weroll's `allowGuest`) | `/lobby` | [`init`] |
//!
//! Two servers share the port:
//!
//! - the **weroll server** — Socket.IO at `/socket.io/`, plain WebSocket at `/ws` — where
//!   every client must shake hands with `$init` first. This is the endpoint weroll clients
//!   know: `io("http://host:3000")`. Its namespaces have different handshake settings
//!   (`NamespaceBuilder::shakehand`): `/` follows `ALLOW_GUEST` and `STRICT_SESSIONS`,
//!   `/lobby` always admits guests.
//! - the **token server** — Socket.IO at `/auth/socket.io/`, plain WebSocket at `/auth/ws` —
//!   has one namespace per way in, each guarded by connection middleware, and no `$init`:
//!   `io("http://host:3000/jwt", { path: "/auth/socket.io/", query: { token } })`, or
//!   `new WebSocket("ws://host:3000/auth/ws?ns=/jwt&token=...")`. (It could be namespaces of
//!   the weroll server with `without_shakehand()`; a server of its own keeps weroll's
//!   endpoint to weroll's namespaces.)
//!
//! Beside them, plain HTTP routes ([`http`]): `POST /login {"userid"}` creates a session
//! (and sets the session cookie; each login is a device of its own, the user's earlier
//! sessions stay valid), `POST /logout` ends it, `POST /logout/everywhere` ends all of the
//! user's, `GET /stats` counts what every handler saw, so a test can prove that a refused
//! client reached none.
//!
//! A refusal always tells the client why: a Socket.IO client gets `connect_error` with
//! `err.message` (`token expired`, `invalid token signature`, ...) and `err.data.code`; a
//! plain WebSocket client gets `["$error", {"message", "data"}]` and a close (1008). An event
//! that may not run (before `$init`, without the role, past the rate limit) is answered with
//! the error ack `{"error": ...}`, or the event `$error` `{"event", "error"}` when the client
//! asked for no ack.
//!
//! Settings, from the environment (the defaults suit a local run):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PORT` | `3000` | the port of both servers and the HTTP routes |
//! | `JWT_SECRET` | a test-only secret | the HS256 key of `/jwt`, `/bearer`, `/payload`, `/admin` |
//! | `ALLOW_GUEST` | `false` | weroll's `allowGuest` on `/`: a `$init` that fails (no `_sess`, a bad session) makes a guest instead of a refusal |
//! | `STRICT_SESSIONS` | `false` | with `ALLOW_GUEST`: only a `$init` without `_sess` makes a guest on `/`; a bad session is refused (not weroll's behaviour) |
//! | `SHAKEHAND_TIMEOUT_MS` | `15000` | weroll's `shakehandTimeout` |
//! | `SESSION_TTL_MS` | `3600000` | how long a session from `POST /login` lives |
//! | `REDIS_URL` | unset: one process, sessions in memory | join the cluster on this Redis and keep sessions there: two copies on two ports serve the same users |
//! | `SESSION_PREFIX` | `realtime-auth-example:` | the key prefix of sessions in Redis |
//! | `SESSION_FORMAT` | `native` | how sessions are kept in Redis: `native` (a hash per user, `<prefix><userid>`, token → JSON), `weroll` (weroll's own: a hash per session, `<prefix>user_sess_<userid>_<token>`, so a weroll app's logins work here), or `weroll-one-point` (weroll's `onePointEnter`: `<prefix>user_sess_<userid>`, one session per user) |
//! | `RATE_LIMIT_PER_SECOND`, `RATE_LIMIT_BURST` | `20`, `20` | events each connection may send |
//!
//! The RS256 key pair in `examples/auth/keys/` is for tests only: its private half is public.

mod admin;
mod cookie;
mod http;
mod init;
mod stats;
mod tokens;

use std::{sync::Arc, time::Duration};

use realtime::{
    session::SessionStore, Config, MemorySessionStore, RateLimit, Realtime, RedisFormat,
    RedisSessionStore, ShakehandConfig, WerollFormat,
};

/// The example's settings, read once from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub jwt_secret: String,
    pub allow_guest: bool,
    pub strict_sessions: bool,
    pub shakehand_timeout: Duration,
    pub session_ttl: Duration,
    pub redis_url: Option<String>,
    pub rate_limit: RateLimit,
}

/// The HS256 secret when `JWT_SECRET` is not set. Anyone can read it here: never deploy it.
pub const TEST_ONLY_JWT_SECRET: &str = "test-only-secret-do-not-deploy";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parsed<T: std::str::FromStr>(name: &str, default: T) -> T {
    match env(name) {
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        None => default,
    }
}

impl Settings {
    pub fn from_env() -> Settings {
        let flag = |name| {
            env(name)
                .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
                .unwrap_or(false)
        };
        let allow_guest = flag("ALLOW_GUEST");
        Settings {
            strict_sessions: flag("STRICT_SESSIONS"),
            port: env_parsed("PORT", 3000),
            jwt_secret: env("JWT_SECRET").unwrap_or_else(|| TEST_ONLY_JWT_SECRET.to_owned()),
            allow_guest,
            shakehand_timeout: Duration::from_millis(env_parsed("SHAKEHAND_TIMEOUT_MS", 15_000)),
            session_ttl: Duration::from_millis(env_parsed("SESSION_TTL_MS", 3_600_000)),
            redis_url: env("REDIS_URL"),
            rate_limit: RateLimit::new(
                env_parsed("RATE_LIMIT_PER_SECOND", 20.0),
                env_parsed("RATE_LIMIT_BURST", 20),
            ),
        }
    }
}

/// Where sessions live: in this process, or in Redis where the HTTP app of another process
/// (weroll's `Session` model), or another copy of this example, creates them too.
async fn session_store(settings: &Settings) -> std::io::Result<Arc<dyn SessionStore>> {
    let Some(url) = &settings.redis_url else {
        tracing::info!("sessions in memory");
        return Ok(Arc::new(MemorySessionStore::new()));
    };
    let prefix = env("SESSION_PREFIX").unwrap_or_else(|| "realtime-auth-example:".to_owned());
    let format = match env("SESSION_FORMAT").as_deref().map(str::trim) {
        None | Some("native") => RedisFormat::native(&*prefix),
        Some("weroll") => RedisFormat::Weroll(WerollFormat::new(&*prefix)),
        Some("weroll-one-point") => {
            RedisFormat::Weroll(WerollFormat::new(&*prefix).one_point_enter(true))
        }
        Some(other) => {
            return Err(std::io::Error::other(format!(
                "SESSION_FORMAT={other:?}: expected native, weroll or weroll-one-point"
            )))
        }
    };
    // Give up quickly when Redis is not there: the connection manager would keep retrying.
    let connect = RedisSessionStore::connect_with_format(url, format.clone());
    let store = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| std::io::Error::other(format!("Redis at {url} did not answer within 5 s")))?
        .map_err(std::io::Error::other)?;
    tracing::info!(%url, %prefix, ?format, "sessions in Redis");
    Ok(Arc::new(store))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    realtime::logging::init();

    let settings = Settings::from_env();
    let store = session_store(&settings).await?;
    let stats = stats::Stats::default();

    // The weroll server: `/` and its handlers (module `init`) register themselves with the
    // attribute macros; the handshake is configured here: server-wide (for `/`), and
    // `/lobby`'s own, which always admits guests.
    let shakehand = ShakehandConfig::with_store(store.clone())
        .required(true)
        .timeout(settings.shakehand_timeout);
    let weroll = Realtime::builder()
        .handlers_from_module(init::MODULE)
        .config(
            Config::default()
                .with_event_rate_limit(settings.rate_limit)
                .with_allow_eio3(true), // socket.io-client 2.x pages connect too
        )
        .shakehand(
            shakehand
                .clone()
                .allow_guest(settings.allow_guest)
                .strict_sessions(settings.strict_sessions),
        )
        .namespace("/lobby", |ns| {
            ns.shakehand(shakehand.allow_guest(true))
                .on("whoami", init::lobby_whoami)
        })
        .state(stats.clone())
        // With REDIS_URL set, copies of this example on other ports form one cluster.
        .adapter_from_env()
        .map_err(std::io::Error::other)?
        .build()
        .expect("every event has one handler");

    // The token server: one namespace per way in, registered explicitly.
    let tokens = tokens::server(&settings, store.clone(), stats.clone());

    let app = http::routes(http::App {
        store,
        ttl: settings.session_ttl,
        stats,
    })
    .merge(weroll.router())
    .merge(tokens.router());

    let listener = realtime::Realtime::bind(("0.0.0.0", settings.port)).await?;
    tracing::info!(
        port = settings.port,
        allow_guest = settings.allow_guest,
        strict_sessions = settings.strict_sessions,
        "auth example"
    );
    weroll
        .serve_app(listener, app, async move {
            realtime::shutdown_signal().await;
            // `serve_app` closes the weroll server's connections; close the other's too.
            tokens.close_all();
        })
        .await
}
