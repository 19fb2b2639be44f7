// Shared by the `speed` benchmark's suites (included by each, after its dialect's file).
//
// `thousand_tests!(one_test)` (`../suite.rs`) declares 1,000 tests, `m0::n0::t0` to
// `m9::n9::t9`, each by `one_test!(name)`: the driver runs the 100 of `m0::` or all of
// them. The migrations are those the driver chose (`SPEED_BENCH_MIGRATIONS`, 5 or 50), and
// each test inserts an organization with a slug of its own and selects it back by id.

include!("../suite.rs");

/// One insert and one select on `$db` (an executor expression, evaluated for each), in
/// the dialect's SQL (`crate::INSERT`, `crate::SELECT`).
macro_rules! insert_and_select {
    ($db:expr) => {{
        let slug = crate::next_slug();
        let id: i64 = sqlx::query_scalar(crate::INSERT)
            .bind(&slug)
            .bind(&slug)
            .fetch_one($db)
            .await
            .expect("insert");
        let found: String = sqlx::query_scalar(crate::SELECT)
            .bind(id)
            .fetch_one($db)
            .await
            .expect("select");
        assert_eq!(found, slug);
    }};
}

/// A slug no other test of the run uses.
#[allow(dead_code)]
fn next_slug() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "org-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// How many migrations the driver chose: `SPEED_BENCH_MIGRATIONS`, 5 by default.
#[allow(dead_code)]
fn migrations() -> usize {
    match std::env::var("SPEED_BENCH_MIGRATIONS").as_deref() {
        Ok("50") => 50,
        _ => 5,
    }
}

/// A variable the driver sets.
#[allow(dead_code)]
fn driver_variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is unset: run by the speed benchmark"))
}
