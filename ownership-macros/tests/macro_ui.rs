//! Compile errors of `#[owned_test]`: each misuse in `tests/ui/` must fail to compile
//! with the message in its `.stderr` snapshot, pointing at the offending token.
//! Refresh the snapshots with `TRYBUILD=overwrite cargo test -p ownership-macros --test macro_ui`.
//! They live in this crate, whose only dev-dependency is `ownership-runtime`, so that
//! trybuild compiles them against nothing else (no database drivers).

#[test]
fn misuses_of_owned_test_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
