//! Compile errors of `#[owned_test]` test functions whose arguments sandbox-sqlx can't
//! make: each case in `tests/ui/` must fail with the message in its `.stderr` snapshot,
//! naming the type and what a test can take instead. Refresh the snapshots with
//! `TRYBUILD=overwrite cargo test -p sandbox-sqlx --test argument_ui`.

#[test]
fn arguments_sandbox_sqlx_cant_make_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
