//! The socket.io client bundle at `/socket.io/socket.io.js` (`Config::serve_client`, Node's
//! `serveClient`): served from a directory with ETag and Cache-Control, 304 on a matching
//! `If-None-Match`, 404 for what is missing or when not configured, a build error for a
//! directory without the bundle.

mod common;

use std::path::PathBuf;

use common::*;
use realtime::{BuildError, Config, Realtime};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "realtime-client-script-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn serves_the_bundle_with_caching_headers() {
    let _logs = init();
    let dist = TempDir::new("serve");
    dist.write("socket.io.js", "/* full */ var io;");
    dist.write("socket.io.min.js", "var io;");
    dist.write("socket.io.js.map", r#"{"version":3}"#);
    let server = serve(
        Realtime::builder()
            .config(Config::default().with_serve_client(&dist.0))
            .namespace("/", echo_ns),
    )
    .await;

    let js = http_get(&server.url("/socket.io/socket.io.js")).await;
    assert_eq!((js.status, js.body.as_str()), (200, "/* full */ var io;"));
    assert_eq!(
        js.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(js.header("cache-control"), Some("public, max-age=0"));
    let etag = js.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let min = http_get(&server.url("/socket.io/socket.io.min.js")).await;
    assert_eq!((min.status, min.body.as_str()), (200, "var io;"));
    assert_ne!(min.header("etag"), Some(etag.as_str()), "one ETag per file");
    let map = http_get(&server.url("/socket.io/socket.io.js.map")).await;
    assert_eq!(map.status, 200);
    assert_eq!(map.header("content-type"), Some("application/json"));

    // Revalidation: 304 without a body while the ETag matches.
    let client = http_client();
    let url = server.url("/socket.io/socket.io.js");
    let again = request(
        &client,
        reqwest::Method::GET,
        &url,
        &[("if-none-match", etag.as_str())],
        None,
    )
    .await;
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let stale = request(
        &client,
        reqwest::Method::GET,
        &url,
        &[("if-none-match", "\"something-else\"")],
        None,
    )
    .await;
    assert_eq!(stale.status, 200);

    // What the directory lacks is 404; the endpoint itself is untouched.
    let missing = http_get(&server.url("/socket.io/socket.io.min.js.map")).await;
    assert_eq!(missing.status, 404);
    let (p, _) = Polling::open(&server).await;
    p.connect("/").await;
    p.assert_echo("still an endpoint").await;
}

#[tokio::test]
async fn follows_a_custom_path() {
    let _logs = init();
    let dist = TempDir::new("path");
    dist.write("socket.io.js", "var io;");
    let server = serve(
        Realtime::builder().config(
            Config::default()
                .with_path("/rt")
                .with_serve_client(&dist.0),
        ),
    )
    .await;
    assert_eq!(http_get(&server.url("/rt/socket.io.js")).await.status, 200);
    assert_eq!(
        http_get(&server.url("/socket.io/socket.io.js"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn not_configured_is_404() {
    let _logs = init();
    let server = serve(echo_server(Config::default())).await;
    for file in ["socket.io.js", "socket.io.min.js", "socket.io.js.map"] {
        let resp = http_get(&server.url(&format!("/socket.io/{file}"))).await;
        assert_eq!(resp.status, 404, "{file}");
    }
}

#[test]
fn a_directory_without_the_bundle_is_a_build_error() {
    let dist = TempDir::new("empty");
    dist.write("socket.io.min.js", "var io;"); // but no socket.io.js
    let err = Realtime::builder()
        .without_registered_handlers()
        .serve_client(&dist.0)
        .build()
        .expect_err("no socket.io.js");
    assert!(matches!(err, BuildError::ClientScript(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("socket.io.js"), "{message}");
}
