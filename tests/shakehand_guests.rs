//! weroll's guests and the places the `$init` handshake is configured: with `allow_guest`,
//! any failed `$init` makes a guest (weroll's behaviour) unless `strict_sessions` is on;
//! numeric user ids; one configuration per namespace (fixed and dynamic), with the server's
//! as the default. Raw Socket.IO clients over WebSocket against a server with sessions in
//! memory (Redis is covered by tests/session_store.rs).

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use realtime::{
    session::{StoreError, StoreFuture},
    Data, Extension, MemorySessionStore, Realtime, Session, SessionStore, ShakehandConfig, Socket,
};
use serde_json::{json, Value};

const TTL: Duration = Duration::from_secs(60);

fn session(userid: &str, token: &str) -> Session {
    Session {
        userid: userid.into(),
        token: token.into(),
        tokentimestamp: 1_700_000_000_001,
        data: Value::Null,
    }
}

async fn store_with(sessions: &[Session]) -> Arc<MemorySessionStore> {
    let store = MemorySessionStore::new();
    for s in sessions {
        store.save(s, TTL).await.unwrap();
    }
    Arc::new(store)
}

/// Who the connection is: its client id, and its user id (null for a guest).
async fn whoami(socket: Socket, session: Option<Extension<Session>>) -> Value {
    json!({
        "ns": socket.ns(),
        "clientID": &*socket.client_id(),
        "userid": session.map(|Extension(s)| s.userid),
    })
}

async fn dm(socket: Socket, Data(to): Data<String>) {
    let _ = socket.send_to(&to, "dm", &json!({ "from": &*socket.client_id() }));
}

/// A server whose `/` has `config`, with `whoami` and `dm`.
async fn server(config: ShakehandConfig) -> Server {
    serve(
        Realtime::builder()
            .without_registered_handlers()
            .shakehand(config.required(true))
            .on("whoami", whoami)
            .on("dm", dm),
    )
    .await
}

/// `$init` with `payload` (an ack, id 1) in namespace `nsp` (`""` for `/`, else `"/x,"`).
fn init_in(nsp: &str, payload: &Value) -> String {
    format!("42{nsp}1{}", json!(["$init", payload]))
}

/// A fresh client of `/` sends `payload` as `$init`: returns it, its socket id, and the
/// first two frames it gets back.
async fn init_with(server: &Server, payload: &Value) -> (Ws, String, String, String) {
    let (mut ws, sid) = sio_ws(server, "/").await;
    ws.send_text(&init_in("", payload)).await;
    let first = ws.recv_text().await;
    let second = ws.recv_text().await;
    (ws, sid, first, second)
}

/// Asserts the client is a guest: `whoami` answers with its socket id and no user.
async fn assert_guest(ws: &mut Ws, sid: &str, what: &str) {
    ws.send_text(r#"429["whoami"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        format!(
            "439{}",
            json!([{ "ns": "/", "clientID": sid, "userid": null }])
        ),
        "{what}"
    );
}

/// A store that is down.
#[derive(Debug)]
struct DownStore;

impl SessionStore for DownStore {
    fn save<'a>(&'a self, _: &'a Session, _: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn load<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn remove<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn remove_all<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
}

/// The `$init` payloads that carry no valid session, and why each fails without guests.
fn failing_payloads() -> Vec<(Value, &'static str)> {
    vec![
        (json!({}), "a session is required (guests are not allowed)"),
        (json!({ "_sess": null }), "a session is required (guests are not allowed)"),
        (json!(null), "a session is required (guests are not allowed)"),
        (
            json!({ "_sess": { "userid": "alice" } }),
            "invalid $init payload: missing field `token`",
        ),
        (
            json!({ "_sess": { "userid": "alice", "token": "alice-token" } }),
            "invalid $init payload: missing field `tokentimestamp`",
        ),
        (
            json!({ "_sess": { "userid": "", "token": "alice-token", "tokentimestamp": 1 } }),
            "invalid $init payload: empty field `userid`",
        ),
        (
            json!({ "_sess": "alice" }),
            "invalid $init payload: `_sess` must be an object, got a string",
        ),
        (
            json!("hello"),
            "invalid $init payload: expected an object with `_sess`, got a string",
        ),
        (
            json!({ "_sess": { "userid": ["alice"], "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }),
            "invalid $init payload: `userid` must be a string or a number, got an array",
        ),
        (
            json!({ "_sess": { "userid": "alice", "token": "alice-token", "tokentimestamp": -1 } }),
            "invalid $init payload: `tokentimestamp` must be a non-negative integer (a number or a numeric string)",
        ),
        (
            json!({ "_sess": { "userid": "alice", "token": "wrong", "tokentimestamp": 1_700_000_000_001u64 } }),
            "invalid or expired session",
        ),
        (
            json!({ "_sess": { "userid": "bob", "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }),
            "invalid or expired session",
        ),
    ]
}

/// weroll: with `allowGuest`, every `$init` that fails (no session, a partial, malformed,
/// forged or wrong one) makes a guest, whose client id is its socket id; the client stays
/// connected and its events run.
#[tokio::test]
async fn with_guests_any_failed_init_makes_a_guest() {
    let _logs = init();
    let store = store_with(&[session("alice", "alice-token")]).await;
    let server = server(ShakehandConfig::with_store(store).allow_guest(true)).await;
    for (payload, _) in failing_payloads() {
        let (mut ws, sid, ack, event) = init_with(&server, &payload).await;
        assert_init_reply(&ack, "431", &sid, Some(&sid));
        assert_init_reply(&event, "42", &sid, Some(&sid));
        assert_guest(&mut ws, &sid, &payload.to_string()).await;
    }
    // A valid session still makes the user known.
    let (mut ws, sid, ack, _) = init_with(
        &server,
        &json!({ "_sess": { "userid": "alice", "token": "alice-token", "tokentimestamp": 1_700_000_000_001u64 } }),
    )
    .await;
    assert_init_reply(&ack, "431", "alice", Some(&sid));
    ws.send_text(r#"429["whoami"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        format!(
            "439{}",
            json!([{ "ns": "/", "clientID": "alice", "userid": "alice" }])
        )
    );
    assert_no_panics();
}

/// Even a session store that is down makes a guest, as in weroll (the error is logged).
#[tokio::test]
async fn with_guests_a_store_that_is_down_makes_a_guest() {
    let logs = init();
    let server = server(ShakehandConfig::new(DownStore).allow_guest(true)).await;
    let (mut ws, sid, ack, _) = init_with(
        &server,
        &json!({ "_sess": { "userid": "alice", "token": "t", "tokentimestamp": 1 } }),
    )
    .await;
    assert_init_reply(&ack, "431", &sid, Some(&sid));
    assert_guest(&mut ws, &sid, "store down").await;
    logs.wait_for("session store failed during $init").await;
}

/// `strict_sessions`: only a `$init` without a session makes a guest; a session that is
/// presented must verify, or the client is refused and disconnected with the reason.
#[tokio::test]
async fn strict_sessions_admit_guests_but_refuse_bad_sessions() {
    let _logs = init();
    let store = store_with(&[session("alice", "alice-token")]).await;
    let server = server(
        ShakehandConfig::with_store(store)
            .allow_guest(true)
            .strict_sessions(true),
    )
    .await;
    for (payload, reason) in failing_payloads() {
        let (mut ws, sid, first, second) = init_with(&server, &payload).await;
        if reason.starts_with("a session is required") {
            assert_init_reply(&first, "431", &sid, Some(&sid));
            assert_init_reply(&second, "42", &sid, Some(&sid));
            assert_guest(&mut ws, &sid, &payload.to_string()).await;
        } else {
            assert_eq!(
                first,
                format!("431{}", json!([{ "error": reason }])),
                "{payload}"
            );
            assert_eq!(second, "41", "disconnected: {payload}");
        }
    }
    assert_no_panics();
}

/// Without guests, every one of them is refused with its reason (strict or not).
#[tokio::test]
async fn without_guests_every_failed_init_is_refused() {
    let _logs = init();
    let store = store_with(&[session("alice", "alice-token")]).await;
    let server = server(ShakehandConfig::with_store(store)).await;
    for (payload, reason) in failing_payloads() {
        let (_ws, _sid, first, second) = init_with(&server, &payload).await;
        assert_eq!(
            first,
            format!("431{}", json!([{ "error": reason }])),
            "{payload}"
        );
        assert_eq!(second, "41", "disconnected: {payload}");
    }
    assert_no_panics();
}

/// A numeric `userid` is the user of its decimal string, in `$init` and in `send_to`.
#[tokio::test]
async fn numeric_userids_are_their_decimal_strings() {
    let _logs = init();
    let store = store_with(&[session("1001", "t-1001"), session("7", "t-7")]).await;
    let server = server(ShakehandConfig::with_store(store)).await;
    let (mut a, a_sid, ack, _) = init_with(
        &server,
        &json!({ "_sess": { "userid": 1001, "token": "t-1001", "tokentimestamp": "1700000000001" } }),
    )
    .await;
    assert_init_reply(&ack, "431", "1001", Some(&a_sid));
    let (mut b, b_sid, ack, _) = init_with(
        &server,
        &json!({ "_sess": { "userid": "7", "token": "t-7", "tokentimestamp": 1_700_000_000_001u64 } }),
    )
    .await;
    assert_init_reply(&ack, "431", "7", Some(&b_sid));
    b.send_text(r#"42["dm","1001"]"#).await;
    assert_eq!(a.recv_text().await, r#"42["dm",{"from":"7"}]"#);
    a.send_text(r#"429["whoami"]"#).await;
    assert_eq!(
        a.recv_text().await,
        format!(
            "439{}",
            json!([{ "ns": "/", "clientID": "1001", "userid": "1001" }])
        )
    );
    // The number is no wildcard: another user's number with this token is refused.
    let (_c, _, first, _) = init_with(
        &server,
        &json!({ "_sess": { "userid": 7, "token": "t-1001", "tokentimestamp": 1_700_000_000_001u64 } }),
    )
    .await;
    assert_eq!(first, r#"431[{"error":"invalid or expired session"}]"#);
    assert_no_panics();
}

/// One user on several devices: each login is a session of its own, and every device shakes
/// hands and is reached by `send_to(userid)`.
#[tokio::test]
async fn several_devices_of_one_user_all_shake_hands() {
    let _logs = init();
    let store = store_with(&[session("alice", "phone"), session("alice", "laptop")]).await;
    let server = server(ShakehandConfig::with_store(store.clone())).await;
    let mut devices = Vec::new();
    for token in ["phone", "laptop"] {
        let (ws, sid, ack, _) = init_with(
            &server,
            &json!({ "_sess": { "userid": "alice", "token": token, "tokentimestamp": 1_700_000_000_001u64 } }),
        )
        .await;
        assert_init_reply(&ack, "431", "alice", Some(&sid));
        devices.push(ws);
    }
    devices[1].send_text(r#"42["dm","alice"]"#).await;
    for ws in &mut devices {
        assert_eq!(ws.recv_text().await, r#"42["dm",{"from":"alice"}]"#);
    }
    // Logging the phone out leaves the laptop's session valid.
    store.remove("alice", "phone").await.unwrap();
    for (token, ok) in [("phone", false), ("laptop", true)] {
        let (_ws, sid, first, _) = init_with(
            &server,
            &json!({ "_sess": { "userid": "alice", "token": token, "tokentimestamp": 1_700_000_000_001u64 } }),
        )
        .await;
        if ok {
            assert_init_reply(&first, "431", "alice", Some(&sid));
        } else {
            assert_eq!(first, r#"431[{"error":"invalid or expired session"}]"#);
        }
    }
}

/// Each namespace its own handshake: the server's for `/` and `/members` (members only),
/// its own for `/lobby` (guests welcome) and dynamic `/room-*` namespaces (guests welcome,
/// inherited by every room), none for `/open`; dynamic `/team-*` namespaces without a
/// configuration take the server's.
#[tokio::test]
async fn each_namespace_has_its_own_handshake() {
    let _logs = init();
    let store = store_with(&[session("alice", "alice-token")]).await;
    let members = ShakehandConfig::with_store(store.clone()).required(true);
    let guests = ShakehandConfig::with_store(store)
        .required(true)
        .allow_guest(true);
    let server = serve(
        Realtime::builder()
            .without_registered_handlers()
            .shakehand(members)
            .on("whoami", whoami)
            .namespace("/members", |ns| ns.on("whoami", whoami))
            .namespace("/lobby", |ns| {
                ns.shakehand(guests.clone()).on("whoami", whoami)
            })
            .namespace("/open", |ns| ns.without_shakehand().on("whoami", whoami))
            .dynamic_namespace(
                |name| name.starts_with("/room-"),
                |ns| ns.shakehand(guests).on("whoami", whoami),
            )
            .dynamic_namespace(
                |name| name.starts_with("/team-"),
                |ns| ns.on("whoami", whoami),
            ),
    )
    .await;
    let bad = json!({ "_sess": { "userid": "alice", "token": "wrong", "tokentimestamp": 1 } });

    // Members only: a bad session is refused and the socket leaves the namespace.
    for nsp in ["/", "/members", "/team-1"] {
        let (mut ws, _) = sio_ws(&server, nsp).await;
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        ws.send_text(&format!(r#"42{prefix}5["whoami"]"#)).await;
        assert_eq!(
            ws.recv_text().await,
            format!(r#"43{prefix}5[{{"error":"handshake required: emit $init first"}}]"#),
            "{nsp}"
        );
        ws.send_text(&init_in(&prefix, &bad)).await;
        assert_eq!(
            ws.recv_text().await,
            format!(r#"43{prefix}1[{{"error":"invalid or expired session"}}]"#),
            "{nsp}"
        );
        assert_eq!(ws.recv_text().await, format!("41{prefix}"), "{nsp}");
    }

    // Guests welcome: the same `$init` makes a guest.
    for nsp in ["/lobby", "/room-1", "/room-2"] {
        let (mut ws, sid) = sio_ws(&server, nsp).await;
        let prefix = format!("{nsp},");
        ws.send_text(&init_in(&prefix, &bad)).await;
        assert_init_reply(
            &ws.recv_text().await,
            &format!("43{prefix}1"),
            &sid,
            Some(&sid),
        );
        assert_init_reply(
            &ws.recv_text().await,
            &format!("42{prefix}"),
            &sid,
            Some(&sid),
        );
        ws.send_text(&format!(r#"42{prefix}9["whoami"]"#)).await;
        assert_eq!(
            ws.recv_text().await,
            format!(
                "43{prefix}9{}",
                json!([{ "ns": nsp, "clientID": sid, "userid": null }])
            ),
            "{nsp}"
        );
    }

    // No handshake: events run at once, and no `$init` is pushed.
    let (mut ws, sid) = sio_ws(&server, "/open").await;
    ws.send_text(r#"42/open,9["whoami"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        format!(
            "43/open,9{}",
            json!([{ "ns": "/open", "clientID": sid, "userid": null }])
        )
    );
    assert_no_panics();
}

/// A namespace's own configuration is checked at build() like the server's.
#[tokio::test]
async fn a_namespace_s_handshake_is_checked_at_build() {
    let err = Realtime::builder()
        .without_registered_handlers()
        .namespace("/x", |ns| {
            ns.shakehand(ShakehandConfig::default().required(true))
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("needs a session store"), "{err}");
}
