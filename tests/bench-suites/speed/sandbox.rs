// The `speed` benchmark's sandboxed suites: `#[owned_test(sandbox = DB)]`, a transaction
// per test, rolled back, on the database the driver made (`SPEED_BENCH_URL`); on SQLite,
// an in-memory copy of the migrated template per test. `SPEED_BENCH_SERIALIZE=0` lets
// MariaDB's tests run at once (`serialize_tests(false)`: they insert different keys).
use ownership_runtime::owned_test;

/// The suite's sandbox.
static DB: std::sync::LazyLock<sandbox_sqlx::Sandbox<crate::Db>> =
    std::sync::LazyLock::new(|| {
        let label = format!("speed-{}", crate::migrations());
        let mut builder =
            sandbox_sqlx::Sandbox::builder(label, crate::driver_variable("SPEED_BENCH_URL"))
                .migrations(&crate::MIGRATOR);
        if std::env::var("SPEED_BENCH_SERIALIZE").as_deref() == Ok("0") {
            builder = builder.serialize_tests(false);
        }
        builder.build().expect("the sandbox")
    });

/// Every test's body (one function, so that 1,000 tests compile it once).
async fn body() {
    let db = DB.pool();
    insert_and_select!(&db);
}

macro_rules! one_test {
    ($name:ident) => {
        #[owned_test(sandbox = crate::DB)]
        async fn $name() {
            crate::body().await;
        }
    };
}
thousand_tests!(one_test);
