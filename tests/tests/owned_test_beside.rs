//! `#[owned_test]` with a database argument beside the attributes users put next to it:
//! `#[should_panic]`, `#[ignore]`, and inside test-log
//! (`#[test_log::test(ownership_runtime::owned_test)]`). On the default databases, with no
//! migrations (this crate has no `migrations/` folder): SQLite for the test expected to
//! panic (no server needed: a skipped body would not panic), and the local PostgreSQL
//! server for the others (skipped without it, as `.cargo/config.toml` sets
//! `SANDBOX_SKIP_IF_UNREACHABLE`; failed under `CI=true`).

use ownership_runtime::owned_test;
use sqlx::{PgPool, SqlitePool};

/// What the test's own connection says it is in: a transaction (the sandbox's).
async fn in_the_tests_transaction(pool: &PgPool) -> bool {
    let now_is_the_transactions: bool = sqlx::query_scalar("SELECT now() <> statement_timestamp()")
        .fetch_one(pool)
        .await
        .expect("a query on the test's pool");
    now_is_the_transactions
}

#[owned_test]
#[should_panic(expected = "the body panicked on purpose")]
async fn a_test_that_takes_a_pool_can_be_expected_to_panic(pool: SqlitePool) {
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .expect("the test's own SQLite copy");
    assert_eq!(one, 1);
    panic!("the body panicked on purpose");
}

#[owned_test]
#[ignore = "run by `an_ignored_test_that_takes_a_pool_runs_when_asked`"]
async fn ignored_test_that_takes_a_pool(pool: PgPool) {
    assert!(in_the_tests_transaction(&pool).await);
}

#[test]
fn an_ignored_test_that_takes_a_pool_runs_when_asked() {
    let (passed, printed) = ownership_e2e::fixtures::run_this_binary_with(
        &["--ignored", "--exact", "ignored_test_that_takes_a_pool"],
        &[],
    );
    assert!(passed, "{printed}");
    assert!(printed.contains("1 passed"), "{printed}");
}

#[test_log::test(ownership_runtime::owned_test)]
async fn a_test_that_takes_a_pool_runs_inside_test_log(pool: PgPool) {
    log::info!("logged through test-log's logger");
    assert!(in_the_tests_transaction(&pool).await);
}
