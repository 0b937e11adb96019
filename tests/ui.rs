//! Compile-pass and compile-fail tests of the attribute macros (`#[event]` and friends).
//!
//! `tests/ui/pass` must compile; every file in `tests/ui/fail` must fail with exactly the
//! checked-in `.stderr`. After a deliberate change to a diagnostic, regenerate with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
