//! Two handlers for one event of one namespace are a build error naming both functions,
//! whether both come from `#[event]` or one is registered by hand with `.on(...)`.
//!
//! A test binary of its own: the duplicates below make `build()` fail for every server of
//! this binary that collects the registered handlers.

use realtime::{BuildError, Realtime};

mod first {
    #[realtime::event("same")]
    async fn same_a() {}
}

mod second {
    #[realtime::event("same")]
    async fn same_b() {}
}

/// The same name in another namespace is no conflict.
#[realtime::event("same", namespace = "/other")]
async fn same_elsewhere() {}

/// One macro handler in "/mixed", and one registered by hand below.
#[realtime::event("same", namespace = "/mixed")]
async fn by_macro() {}

async fn by_hand() {}

/// The duplicate's namespace, target and the two functions, or a panic.
fn duplicate(result: Result<Realtime, BuildError>) -> (String, String, &'static str, &'static str) {
    match result {
        Ok(_) => panic!("build() accepted two handlers for one event"),
        Err(err @ BuildError::DuplicateHandler { .. }) => {
            let message = err.to_string();
            let BuildError::DuplicateHandler {
                namespace,
                target,
                first,
                second,
            } = err
            else {
                unreachable!()
            };
            assert!(
                message.contains(first) && message.contains(second),
                "{message}"
            );
            (namespace, target, first, second)
        }
        Err(other) => panic!("expected BuildError::DuplicateHandler, got {other:?}"),
    }
}

#[test]
fn two_macro_handlers_for_one_event_fail_the_build() {
    let (namespace, target, first, second) = duplicate(Realtime::builder().build());
    assert_eq!(namespace, "/");
    assert_eq!(target, r#"event "same""#);
    // Both functions, by module path and name; the order is the link order.
    let mut functions = [first, second];
    functions.sort_unstable();
    assert_eq!(
        functions,
        [
            "duplicate_handlers::first::same_a",
            "duplicate_handlers::second::same_b"
        ]
    );
}

#[test]
fn a_macro_handler_and_an_explicit_one_fail_the_build() {
    let builder = Realtime::builder().namespace("/mixed", |ns| ns.on("same", by_hand));
    let (namespace, target, first, second) = duplicate(builder.build());
    assert_eq!(namespace, "/mixed");
    assert_eq!(target, r#"event "same""#);
    // The one registered on the builder comes first; the macro's is found by build().
    assert_eq!(first, "duplicate_handlers::by_hand");
    assert_eq!(second, "duplicate_handlers::by_macro");
}

#[test]
fn the_message_names_both_functions() {
    let err = Realtime::builder()
        .namespace("/mixed", |ns| ns.on("same", by_hand))
        .build()
        .expect_err("a duplicate");
    assert_eq!(
        err.to_string(),
        r#"two handlers for event "same" in namespace "/mixed": `duplicate_handlers::by_hand` and `duplicate_handlers::by_macro`"#
    );
}

#[test]
fn without_registered_handlers_builds() {
    let rt = Realtime::builder()
        .without_registered_handlers()
        .build()
        .expect("no registered handler is collected, so nothing conflicts");
    assert!(rt.of("/other").is_none() && rt.of("/mixed").is_none());

    // Hand-registered handlers alone are fine too, even for the macros' event names.
    let rt = Realtime::builder()
        .without_registered_handlers()
        .namespace("/mixed", |ns| ns.on("same", by_hand))
        .build()
        .expect("one handler per event");
    assert!(rt.of("/mixed").is_some());
}
