//! The socket.io client bundle, served beside the endpoint as Node's `serveClient` does:
//! `<path>socket.io.js` (with `path` = `/socket.io/`, the URL pages have always loaded),
//! `socket.io.min.js`, their source maps, and the other bundles a `socket.io-client` `dist/`
//! directory may hold (`socket.io.slim.js` of the 2.x era, `socket.io.esm.min.js` and
//! `socket.io.msgpack.min.js` of 4.x).
//!
//! The files are read once, when the server is built (`Config::serve_client`), so serving
//! one is a reference count bump. Each carries a strong `ETag` (a hash of its bytes) and
//! `Cache-Control: public, max-age=0`, as Node sends it: browsers revalidate and get
//! `304 Not Modified` while the file is unchanged.

use std::{path::Path, sync::Arc};

use axum::{
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

/// The bundle names served, when the directory has them.
const FILES: [&str; 10] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.slim.js",
    "socket.io.slim.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// One file of the bundle, ready to serve.
#[derive(Debug)]
struct File {
    name: &'static str,
    bytes: Bytes,
    etag: HeaderValue,
}

/// The client bundle files found in a directory.
#[derive(Debug)]
pub(crate) struct ClientScript {
    files: Vec<Arc<File>>,
}

impl ClientScript {
    /// Reads the bundle from `dir`, which must hold at least `socket.io.js`.
    pub(crate) fn load(dir: &Path) -> std::io::Result<ClientScript> {
        let mut files = Vec::new();
        for name in FILES {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let etag = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(&bytes)))
                        .expect("hex digits in quotes are a valid header value");
                    files.push(Arc::new(File {
                        name,
                        bytes: bytes.into(),
                        etag,
                    }));
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && name != FILES[0] => {}
                Err(err) => {
                    return Err(std::io::Error::new(
                        err.kind(),
                        format!("{}: {err}", path.display()),
                    ))
                }
            }
        }
        Ok(ClientScript { files })
    }

    /// Routes `<base><file>` for each file found; `base` ends with `/`.
    pub(crate) fn routes(&self, base: &str) -> Router {
        let mut router = Router::new();
        for file in &self.files {
            let served = Arc::clone(file);
            router = router.route(
                &format!("{base}{}", file.name),
                get(move |headers: HeaderMap| async move { respond(&served, &headers) }),
            );
        }
        router
    }
}

/// 64-bit FNV-1a: a stable fingerprint of a file's bytes for its ETag (not a defence against
/// anything, only a change detector).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`). Weak comparison, as RFC 9110 asks for
/// this header.
fn matches(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let want = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == want)
}

fn respond(file: &File, headers: &HeaderMap) -> Response {
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=0"),
    );
    let etag = (header::ETAG, file.etag.clone());
    if matches(headers, &file.etag) {
        return (StatusCode::NOT_MODIFIED, [cache, etag]).into_response();
    }
    let content_type = if file.name.ends_with(".map") {
        "application/json"
    } else {
        "application/javascript; charset=utf-8"
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            cache,
            etag,
        ],
        file.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            matches(&h, &etag)
        };
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!matches(&HeaderMap::new(), &etag));
    }
}
