//! Authentication building blocks over raw clients: hand-written middleware with the
//! `Cookies`, `Headers` and `Query<T>` extractors, the middleware chain's order, the
//! `User` / `HasRole` guards, and the `Jwt` middleware's refusals as a Socket.IO client
//! (`CONNECT_ERROR`) and a plain WebSocket client (`["$error", ...]`, close 1008) see them.
//!
//! The JWTs below were signed once with the npm `jsonwebtoken` package (HS256, secret
//! `rust-test-secret`, no `iat`); those meant to be valid expire in 2100. The interop tests
//! (tests/interop/node/test/auth.test.mjs) sign fresh tokens for every scenario.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use realtime::{
    auth::{Cookies, HasRole, Headers, Jwt, JwtError, Query, Role, Roles, TokenSource, User},
    ConnectError, Realtime, Socket, State,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderName};

const SECRET: &[u8] = b"rust-test-secret";
/// `{sub: "alice", aud: "/jwt", exp: 2100, roles: ["admin"]}`
const VALID: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjQxMDI0NDQ4MDAsInJvbGVzIjpbImFkbWluIl19.iTCurx1_fBHotAE0_x3xRN4_LRGB0fPfMrWDPxNXIaA";
/// `{sub, exp: 2100}`: no `aud`.
const NO_AUD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.Jx5yPvrBnT9ay8D8qFew5enrGc6hSouuyuI28GdGo98";
/// `{sub, aud: "/other", exp: 2100}`
const OTHER_AUD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9vdGhlciIsImV4cCI6NDEwMjQ0NDgwMH0.rXNCk83ICR-BX4cPG9sFoQYp--wpFyTw05a6TwP-unI";
/// `{sub, aud: "/jwt", exp: 1000}`
const EXPIRED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjEwMDB9.NfvHqkc_GyriJI3dFmZuI9DPlJm4GugA9ewg-qPAPMs";
/// `{sub, aud: "/jwt", exp: 2100, nbf: 2099-12-31}`
const NOT_YET: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6NDEwMjQ0NDc5OX0.4VDYe6Ctn9G0LZuYvbopuRHN6kSizZBd2sRwKUA_3sQ";
/// `{sub, aud: "/jwt"}`: no `exp`.
const NO_EXP: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QifQ.T3cQBrQ4OVN2jPJ26bfG2T9pWQRZxMd-eO-0QMs0Uno";
/// VALID's claims signed with another secret.
const OTHER_SECRET: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjQxMDI0NDQ4MDB9.sz_3QJYcALtpCu_-nuCybNVdiy81S-K4QDjnOv4ODW0";
/// VALID's claims, HS512 with the right secret.
const HS512: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjQxMDI0NDQ4MDB9.258c6eHI_0NHlSvm5YeAoHuA08S1LDqfCD88CCLhybP50rT4PTFgUMUDaPbKjND1P_3nr422D42Dxv1QQQLmrQ";
/// `alg: none`, unsigned.
const ALG_NONE: &str =
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6Ii9qd3QiLCJleHAiOjQxMDI0NDQ4MDB9.";

/// A WebSocket client whose upgrade request carries `headers`.
async fn ws_with_headers(url: &str, headers: &[(&str, &str)]) -> Ws {
    let mut request = url.into_client_request().expect("a WebSocket URL");
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (inner, _) = within("ws connect", tokio_tungstenite::connect_async(request))
        .await
        .expect("ws connect");
    Ws { inner }
}

/// A Socket.IO WebSocket session (open packet read) with these request headers and query.
async fn sio_with(server: &Server, query: &str, headers: &[(&str, &str)]) -> Ws {
    let url = server.ws_url(&format!("/socket.io/?EIO=4&transport=websocket{query}"));
    let mut ws = ws_with_headers(&url, headers).await;
    assert!(ws.recv_text().await.starts_with('0'), "open packet");
    ws
}

/// The CONNECT_ERROR body a Socket.IO client got for `nsp`.
async fn connect_error(ws: &mut Ws, nsp: &str) -> Value {
    let text = ws.recv_text().await;
    let body = text
        .strip_prefix(&format!("44{nsp},"))
        .unwrap_or_else(|| panic!("expected CONNECT_ERROR for {nsp}, got {text:?}"));
    serde_json::from_str(body).unwrap()
}

/// A plain client refused as it opened: its `["$error", body]` frame, then close 1008.
async fn plain_refusal(ws: &mut Ws) -> Value {
    let closed = ws.expect_close().await;
    assert_eq!(closed.code(), Some(1008), "{closed:?}");
    assert_eq!(closed.reason(), "connection refused");
    let texts = closed.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let frame: Value = serde_json::from_str(&texts[0]).unwrap();
    assert_eq!(frame[0], "$error");
    frame[1].clone()
}

// ---------------------------------------------------------------------------------------
// Hand-written middleware with the request extractors
// ---------------------------------------------------------------------------------------

/// Lets in the cookie `sid=good` (percent-decoded), as the user `alice`.
async fn session_cookie(socket: Socket, cookies: Cookies) -> Result<(), ConnectError> {
    match cookies.get("sid") {
        Some("good") => {
            socket.insert_extension(User("alice".to_owned()));
            Ok(())
        }
        Some(_) => Err(ConnectError::new("bad session").with_data(json!({ "code": "bad" }))),
        None => Err(ConnectError::new("no session cookie")),
    }
}

async fn whoami(User(name): User<String>) -> String {
    name
}

#[tokio::test]
async fn cookie_middleware_written_by_hand() {
    init();
    let server = serve(Realtime::builder().namespace("/c", |ns| {
        ns.middleware(session_cookie).on("whoami", whoami)
    }))
    .await;

    for cookie in ["sid=good", "theme=dark; sid=good; lang=en", "sid=go%6Fd"] {
        let mut ws = sio_with(&server, "", &[("cookie", cookie)]).await;
        sio_connect_on(&mut ws, "/c").await;
        ws.send_text(r#"42/c,1["whoami"]"#).await;
        assert_eq!(ws.recv_text().await, r#"43/c,1["alice"]"#, "{cookie}");
    }
    // Two Cookie headers count as one jar.
    let mut ws = sio_with(&server, "", &[("cookie", "a=1"), ("cookie", "sid=good")]).await;
    sio_connect_on(&mut ws, "/c").await;

    let mut ws = sio_with(&server, "", &[("cookie", "sid=stolen")]).await;
    ws.send_text(&connect_packet("/c")).await;
    assert_eq!(
        connect_error(&mut ws, "/c").await,
        json!({ "message": "bad session", "data": { "code": "bad" } })
    );
    let mut ws = sio_with(&server, "", &[]).await;
    ws.send_text(&connect_packet("/c")).await;
    assert_eq!(
        connect_error(&mut ws, "/c").await,
        json!({ "message": "no session cookie" })
    );

    // Plain WebSocket clients send the header with the upgrade request.
    let mut plain = ws_with_headers(&server.ws_url("/ws?ns=/c"), &[("cookie", "sid=good")]).await;
    plain.send_text(r#"["whoami",null,1]"#).await;
    assert_eq!(plain.recv_text().await, r#"["$ack",1,"alice"]"#);
    let mut plain = ws_with_headers(&server.ws_url("/ws?ns=/c"), &[("cookie", "sid=x")]).await;
    assert_eq!(
        plain_refusal(&mut plain).await,
        json!({ "message": "bad session", "data": { "code": "bad" } })
    );
    assert_no_panics();
}

#[derive(Deserialize)]
struct Join {
    room: String,
    #[serde(default)]
    v: u8,
}

/// An API key header and typed query parameters.
async fn api_key_and_room(
    socket: Socket,
    Headers(headers): Headers,
    Query(join): Query<Join>,
) -> Result<(), ConnectError> {
    if headers.get("x-api-key").map(|v| v.as_bytes()) != Some(b"k1") {
        return Err(ConnectError::new("x-api-key required"));
    }
    socket.join(join.room.clone());
    socket.insert_extension(User(format!("{}@v{}", join.room, join.v)));
    Ok(())
}

#[tokio::test]
async fn headers_and_query_extractors_in_middleware() {
    init();
    let server = serve(Realtime::builder().namespace("/q", |ns| {
        ns.middleware(api_key_and_room).on("whoami", whoami)
    }))
    .await;
    let mut ws = sio_with(&server, "&room=lobby%201&v=2", &[("x-api-key", "k1")]).await;
    sio_connect_on(&mut ws, "/q").await;
    ws.send_text(r#"42/q,1["whoami"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/q,1["lobby 1@v2"]"#);
    assert_eq!(server.rt.of("/q").unwrap().rooms().len(), 1);

    let mut ws = sio_with(&server, "&room=lobby", &[]).await;
    ws.send_text(&connect_packet("/q")).await;
    assert_eq!(
        connect_error(&mut ws, "/q").await["message"],
        "x-api-key required"
    );

    // A query that does not deserialize refuses with the extractor's reason.
    let mut ws = sio_with(&server, "&v=2", &[("x-api-key", "k1")]).await;
    ws.send_text(&connect_packet("/q")).await;
    let err = connect_error(&mut ws, "/q").await;
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid query string:") && message.contains("room"),
        "{message}"
    );
    let mut ws = sio_with(&server, "&room=x&v=300", &[("x-api-key", "k1")]).await;
    ws.send_text(&connect_packet("/q")).await;
    let err = connect_error(&mut ws, "/q").await;
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid query string:"));
    assert_no_panics();
}

// ---------------------------------------------------------------------------------------
// The chain: server-wide first, then the namespace's, in order; the first refusal wins
// ---------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Trail(Arc<Mutex<Vec<&'static str>>>);

impl Trail {
    fn push(&self, s: &'static str) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn global(State(t): State<Trail>) -> Result<(), ConnectError> {
    t.push("global");
    Ok(())
}
async fn first(State(t): State<Trail>) -> Result<(), ConnectError> {
    t.push("first");
    Ok(())
}
async fn refuse_unless_vip(
    State(t): State<Trail>,
    Query(q): Query<Value>,
) -> Result<(), ConnectError> {
    t.push("check");
    if q.get("vip").is_some() {
        Ok(())
    } else {
        Err(ConnectError::new("vip only"))
    }
}
async fn last(State(t): State<Trail>) -> Result<(), ConnectError> {
    t.push("last");
    Ok(())
}
async fn connected(State(t): State<Trail>) {
    t.push("connect handler");
}

#[tokio::test]
async fn middleware_chain_order_and_first_refusal() {
    init();
    let trail = Trail::default();
    let server = serve(
        Realtime::builder()
            .state(trail.clone())
            .middleware(global)
            .namespace("/m", |ns| {
                ns.middleware(first)
                    .middleware(refuse_unless_vip)
                    .middleware(last)
                    .on_connect(connected)
            }),
    )
    .await;
    let mut ws = sio_with(&server, "", &[]).await;
    ws.send_text(&connect_packet("/m")).await;
    assert_eq!(
        connect_error(&mut ws, "/m").await,
        json!({ "message": "vip only" })
    );
    assert_eq!(
        trail.take(),
        ["global", "first", "check"],
        "nothing after the refusal"
    );

    let mut ws = sio_with(&server, "&vip=1", &[]).await;
    sio_connect_on(&mut ws, "/m").await;
    wait_until("the connect handler ran", || {
        trail.0.lock().unwrap().len() == 5
    })
    .await;
    assert_eq!(
        trail.take(),
        ["global", "first", "check", "last", "connect handler"]
    );

    // Server-wide middleware guards `/` too, and plain connections.
    let _plain = plain_ws(&server, "").await;
    wait_until("global ran", || !trail.0.lock().unwrap().is_empty()).await;
    assert_eq!(trail.take(), ["global"]);
    assert_no_panics();
}

// ---------------------------------------------------------------------------------------
// Identity guards
// ---------------------------------------------------------------------------------------

struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
}

async fn admin_only(_: HasRole<Admin>, User(name): User<String>) -> String {
    format!("hello admin {name}")
}

async fn roles_from_query(socket: Socket) -> Result<(), ConnectError> {
    if let Some(roles) = socket.request().query("roles") {
        socket.insert_extension(Roles::new(roles.split(',')));
        socket.insert_extension(User("carol".to_owned()));
    }
    Ok(())
}

#[tokio::test]
async fn user_and_has_role_guards() {
    init();
    let server = serve(Realtime::builder().namespace("/g", |ns| {
        ns.middleware(roles_from_query)
            .on("whoami", whoami)
            .on("admin", admin_only)
    }))
    .await;
    // Nobody authenticated the connection.
    let mut ws = sio_with(&server, "", &[]).await;
    sio_connect_on(&mut ws, "/g").await;
    ws.send_text(r#"42/g,1["whoami"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"43/g,1[{"error":"not authenticated"}]"#
    );
    ws.send_text(r#"42/g,2["admin"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"43/g,2[{"error":"missing role \"admin\""}]"#
    );
    ws.send_text(r#"42/g,["admin"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42/g,["$error",{"event":"admin","error":"missing role \"admin\""}]"#
    );

    let mut ws = sio_with(&server, "&roles=reader,Admin", &[]).await;
    sio_connect_on(&mut ws, "/g").await;
    ws.send_text(r#"42/g,1["admin"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"43/g,1[{"error":"missing role \"admin\""}]"#,
        "roles are case-sensitive"
    );

    let mut ws = sio_with(&server, "&roles=reader,admin", &[]).await;
    sio_connect_on(&mut ws, "/g").await;
    ws.send_text(r#"42/g,1["admin"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/g,1["hello admin carol"]"#);
    assert_no_panics();
}

// ---------------------------------------------------------------------------------------
// The Jwt middleware's refusals, as raw clients see them
// ---------------------------------------------------------------------------------------

#[derive(Clone, Deserialize, serde::Serialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Answers with the claims: a struct, so the reply keeps its field order.
async fn claims(User(c): User<Claims>) -> Claims {
    c
}

async fn jwt_server() -> Server {
    serve(
        Realtime::builder()
            .namespace("/jwt", |ns| {
                ns.middleware(Jwt::hs256(SECRET).audience("/jwt").middleware::<Claims>())
                    .on("claims", claims)
            })
            .namespace("/header", |ns| {
                ns.middleware(
                    Jwt::hs256(SECRET)
                        .from(TokenSource::Bearer)
                        .from(TokenSource::Cookie("jwt"))
                        .audience("/jwt")
                        .middleware::<Claims>(),
                )
                .on("claims", claims)
            }),
    )
    .await
}

/// Connects to `/jwt` with the token in the auth payload; the reply packet.
async fn connect_with_auth(server: &Server, token: &str) -> (Ws, String) {
    let mut ws = sio_with(server, "", &[]).await;
    ws.send_text(&format!("40/jwt,{}", json!({ "token": token })))
        .await;
    let reply = ws.recv_text().await;
    (ws, reply)
}

#[tokio::test]
async fn jwt_accepts_a_valid_token_from_each_default_source() {
    init();
    let server = jwt_server().await;
    // The auth payload.
    let (mut ws, reply) = connect_with_auth(&server, VALID).await;
    parse_connect_reply(&reply, "/jwt");
    ws.send_text(r#"42/jwt,1["claims"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"43/jwt,1[{"sub":"alice","roles":["admin"]}]"#
    );
    // The query string.
    let mut ws = sio_with(&server, &format!("&token={VALID}"), &[]).await;
    sio_connect_on(&mut ws, "/jwt").await;
    // The bearer header.
    let bearer = format!("Bearer {VALID}");
    let mut ws = sio_with(&server, "", &[("authorization", &bearer)]).await;
    sio_connect_on(&mut ws, "/jwt").await;
    // A plain client: query or header.
    let mut plain = plain_ws(&server, &format!("?ns=/jwt&token={VALID}")).await;
    plain.send_text(r#"["claims",null,1]"#).await;
    assert_eq!(
        plain.recv_text().await,
        r#"["$ack",1,{"sub":"alice","roles":["admin"]}]"#
    );
    // Explicit sources: only those are looked at, in order.
    let mut ws = sio_with(&server, "", &[("cookie", &format!("jwt={VALID}"))]).await;
    sio_connect_on(&mut ws, "/header").await;
    let mut ws = sio_with(&server, &format!("&token={VALID}"), &[]).await;
    ws.send_text(&connect_packet("/header")).await;
    assert_eq!(
        connect_error(&mut ws, "/header").await,
        json!({
            "message": "no token: expected one in the Authorization: Bearer header or cookie `jwt`",
            "data": { "code": "missing_token" }
        })
    );
    assert_no_panics();
}

#[tokio::test]
async fn jwt_refusals_name_the_reason() {
    init();
    let server = jwt_server().await;
    let cases: &[(&str, &str, &str)] = &[
        (EXPIRED, "token expired", "token_expired"),
        (NOT_YET, "token not valid yet", "token_not_yet_valid"),
        (OTHER_SECRET, "invalid token signature", "bad_signature"),
        (HS512, "token algorithm not allowed", "wrong_algorithm"),
        (
            OTHER_AUD,
            "token is not for this service (audience mismatch)",
            "wrong_audience",
        ),
        (NO_EXP, "token is missing the `exp` claim", "missing_claim"),
        (ALG_NONE, "token algorithm not allowed", "wrong_algorithm"),
        ("garbage", "malformed token", "malformed_token"),
    ];
    for (token, message, code) in cases {
        let (_ws, reply) = connect_with_auth(&server, token).await;
        let body = reply
            .strip_prefix("44/jwt,")
            .unwrap_or_else(|| panic!("{message}: expected CONNECT_ERROR, got {reply}"));
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({ "message": message, "data": { "code": code } }),
        );
        let mut plain = plain_ws(&server, &format!("?ns=/jwt&token={token}")).await;
        assert_eq!(
            plain_refusal(&mut plain).await,
            json!({ "message": message, "data": { "code": code } }),
            "plain: {message}"
        );
    }
    // No token anywhere: every default source is named.
    let mut ws = sio_with(&server, "", &[]).await;
    ws.send_text(&connect_packet("/jwt")).await;
    assert_eq!(
        connect_error(&mut ws, "/jwt").await,
        json!({
            "message": "no token: expected one in the auth payload field `token` or query parameter `token` or Authorization: Bearer header",
            "data": { "code": "missing_token" }
        })
    );
    assert_no_panics();
}

/// `Jwt::audience` requires the `aud` claim: jsonwebtoken alone only checks `aud` when the
/// token has one, so a token minted without `aud` (for another service sharing the secret)
/// would otherwise open every namespace.
#[tokio::test]
async fn jwt_with_an_audience_refuses_a_token_without_aud() {
    init();
    let server = jwt_server().await;
    let (_ws, reply) = connect_with_auth(&server, NO_AUD).await;
    assert_eq!(
        reply,
        r#"44/jwt,{"message":"token is missing the `aud` claim","data":{"code":"missing_claim"}}"#
    );
    assert_eq!(
        Jwt::hs256(SECRET)
            .audience("/jwt")
            .verify_token::<Value>(NO_AUD)
            .unwrap_err(),
        JwtError::MissingClaim("aud".into())
    );
}

#[test]
fn jwt_verify_token_and_keys() {
    let jwt = Jwt::hs256(SECRET).audience("/jwt");
    let claims: Value = jwt.verify_token(VALID).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        jwt.verify_token::<Value>(EXPIRED).unwrap_err(),
        JwtError::Expired
    );
    assert_eq!(JwtError::Expired.code(), "token_expired");
    // The key never shows in Debug output.
    let debug = format!("{jwt:?}");
    assert!(!debug.contains("rust-test-secret"), "{debug}");
    // A public key that is not PEM is an error when the server is built, not at connect time.
    assert!(Jwt::rs256_pem(b"not a pem").is_err());
    let pem = include_bytes!("../examples/auth/keys/test-only-public.pem");
    assert!(Jwt::rs256_pem(pem).is_ok());
    // An HS256 token (whatever its key) is not an RS256 one.
    assert_eq!(
        Jwt::rs256_pem(pem)
            .unwrap()
            .verify_token::<Value>(VALID)
            .unwrap_err(),
        JwtError::WrongAlgorithm
    );
}
