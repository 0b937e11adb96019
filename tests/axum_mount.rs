//! Mounting the realtime endpoints in an application's axum Router: one listener, one port.

mod common;

use axum::{
    extract::State,
    routing::{get, post},
    Router,
};
use common::*;
use realtime::{Config, Realtime};
use reqwest::Method;

fn app(rt: &Realtime) -> Router {
    let api = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/notify",
            post(|State(rt): State<Realtime>, body: String| async move {
                rt.of("/").unwrap().emit("notify", &body).unwrap();
                "sent"
            }),
        )
        .with_state(rt.clone());
    api.merge(rt.router())
}

#[tokio::test]
async fn http_routes_and_realtime_share_one_port() {
    let _logs = init();
    let rt = echo_server(config()).build().unwrap();
    let server = serve_app(rt.clone(), app(&rt)).await;

    let resp = http_get(&server.url("/health")).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, "ok"));
    assert_eq!(http_get(&server.url("/nothing-here")).await.status, 404);

    // Socket.IO over polling and WebSocket, and the plain endpoint, on the same port.
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    p.assert_echo("polling").await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    assert_sio_echo(&mut ws, "websocket").await;
    let mut plain = plain_ws(&server, "").await;
    assert_plain_echo(&mut plain, "plain").await;

    // An HTTP handler emits to realtime clients.
    let resp = request(
        &http_client(),
        Method::POST,
        &server.url("/notify"),
        &[],
        Some("hi".into()),
    )
    .await;
    assert_eq!((resp.status, resp.body.as_str()), (200, "sent"));
    assert_eq!(ws.recv_text().await, r#"42["notify","hi"]"#);
    assert_eq!(plain.recv_text().await, r#"["notify","hi"]"#);
    assert_eq!(p.records(1).await, vec![r#"42["notify","hi"]"#]);

    // The HTTP routes still answer while realtime connections are open.
    let resp = http_get(&server.url("/health")).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn custom_paths_are_served_where_configured() {
    let _logs = init();
    let config = Config::default()
        .with_path("/rt")
        .with_plain_ws_path(Some("/plain".into()));
    let rt = echo_server(config).build().unwrap();
    let server = serve_app(rt.clone(), app(&rt)).await;

    let resp = http_get(&server.url("/rt/?EIO=4&transport=polling")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.starts_with("0{"), "{resp:?}");
    let resp = http_get(&server.url("/rt?EIO=4&transport=polling")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        http_get(&server.url("/socket.io/?EIO=4&transport=polling"))
            .await
            .status,
        404
    );

    let mut ws = ws_connect(&server.ws_url("/rt/?EIO=4&transport=websocket")).await;
    assert!(ws.recv_text().await.starts_with("0{"));
    sio_connect_on(&mut ws, "/").await;
    assert_sio_echo(&mut ws, "custom-path").await;

    let mut plain = ws_connect(&server.ws_url("/plain")).await;
    assert_plain_echo(&mut plain, "custom-plain").await;
    assert_eq!(ws_refused(&server.ws_url("/ws")).await.0, 404);
    assert_eq!(http_get(&server.url("/health")).await.status, 200);
}

#[tokio::test]
async fn plain_endpoint_can_be_disabled() {
    let _logs = init();
    let rt = echo_server(Config::default().with_plain_ws_path(None))
        .build()
        .unwrap();
    let server = serve_app(rt.clone(), app(&rt)).await;
    assert_eq!(ws_refused(&server.ws_url("/ws")).await.0, 404);
    let (mut ws, _) = sio_ws(&server, "/").await;
    assert_sio_echo(&mut ws, "sio-still-served").await;
}

#[tokio::test]
async fn close_all_closes_every_realtime_connection_but_not_the_http_routes() {
    let _logs = init();
    let rt = echo_server(config()).build().unwrap();
    let server = serve_app(rt.clone(), app(&rt)).await;
    let (mut ws, _) = sio_ws(&server, "/").await;
    let mut plain = plain_ws(&server, "").await;
    assert_plain_echo(&mut plain, "ready").await;
    rt.close_all();
    ws.expect_close().await;
    plain.expect_close().await;
    wait_until("sessions are gone", || rt.session_count() == 0).await;
    assert_eq!(http_get(&server.url("/health")).await.status, 200);
}

/// A page and the plain endpoint at one path (`/`, where the seeds' mini-program clients
/// connect): an axum `get` route there would take the upgrade requests too (axum merges it
/// with the endpoint, and `get` wins), silently losing the endpoint. Upgrades go to the
/// endpoint and the rest to the page, whichever order the routers are merged in, whether
/// the app is served by `serve_app` or by `axum::serve` after `route_plain_upgrades`.
#[tokio::test]
async fn a_page_and_the_plain_endpoint_share_a_path() {
    let _logs = init();
    let page = || Router::new().route("/", get(|| async { "page" }));
    for order in ["page first", "realtime first"] {
        let rt = echo_server(Config::default().with_plain_ws_path(Some("/".into())))
            .build()
            .unwrap();
        let app = match order {
            "page first" => page().merge(rt.router()),
            _ => rt.router().merge(page()),
        };
        let server = serve_app(rt.clone(), app).await;
        let resp = http_get(&server.url("/")).await;
        assert_eq!((resp.status, resp.body.as_str()), (200, "page"), "{order}");
        let mut plain = ws_connect(&server.ws_url("/")).await;
        assert_plain_echo(&mut plain, order).await;
        let (mut ws, _) = sio_ws(&server, "/").await;
        assert_sio_echo(&mut ws, order).await;
    }

    // axum::serve directly: route_plain_upgrades does what serve_app does.
    let rt = echo_server(Config::default().with_plain_ws_path(Some("/".into())))
        .build()
        .unwrap();
    let app = rt.route_plain_upgrades(page().merge(rt.router()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut plain = ws_connect(&format!("ws://{addr}/")).await;
    assert_plain_echo(&mut plain, "axum-serve").await;
    let resp = http_get(&format!("http://{addr}/")).await;
    assert_eq!(resp.body, "page");
    task.abort();
}
