//! The expansion snapshot: what `cargo expand` shows users must stay small and readable.

use super::{run, Kind};

fn expand(kind: Kind, attr: &str, item: &str) -> String {
    let tokens = run(kind, attr.parse().unwrap(), item.parse().unwrap());
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    prettyplease::unparse(&file)
}

/// Compares with the checked-in snapshot; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {path:?}; run with UPDATE_SNAPSHOTS=1"));
    assert_eq!(
        actual, expected,
        "expansion of {name} changed; review, then UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn event_expansion_snapshot() {
    let out = expand(
        Kind::Event,
        r#""hello""#,
        "async fn hello(socket: Socket, Data(msg): Data<Hello>) -> Reply { socket.join(\"lobby\"); Reply::ok(msg) }",
    );
    snapshot("event.rs", &out);
}

#[test]
fn lifecycle_expansion_snapshot() {
    let out = expand(
        Kind::Lifecycle("Connect"),
        r#"namespace = "/chat""#,
        "async fn welcome(socket: Socket) { let _ = socket.emit(\"welcome\", &()); }",
    );
    snapshot("on_connect.rs", &out);
}

#[test]
fn start_expansion_snapshot() {
    let out = expand(Kind::Start, "", "async fn started(rt: Realtime) {}");
    snapshot("on_start.rs", &out);
}

#[test]
fn expansion_keeps_the_function_and_adds_one_block() {
    let out = expand(Kind::Event, r#""x""#, "async fn x() {}");
    assert!(out.starts_with("async fn x() {}"));
    assert_eq!(out.matches("const _: () =").count(), 1);
    assert_eq!(out.matches("submit!").count(), 1);
}

#[test]
fn errors_keep_the_function() {
    let out = run(
        Kind::Event,
        "".parse().unwrap(),
        "fn not_async() {}".parse().unwrap(),
    )
    .to_string();
    assert!(out.contains("fn not_async"));
    assert!(out.contains("compile_error"));
}
