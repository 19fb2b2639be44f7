// The `speed` benchmark's hand-rolled baseline: what a team writes without a library, one
// runtime and one pool for the whole process, migrated once, and a `BEGIN` .. `ROLLBACK`
// around each test (`SPEED_BENCH_BASELINE_URL`).

/// The process's runtime, on which every test runs.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

/// The process's pool, migrated when the first test makes it.
static POOL: tokio::sync::OnceCell<crate::Pool> = tokio::sync::OnceCell::const_new();

/// The process's pool.
async fn pool() -> &'static crate::Pool {
    POOL.get_or_init(|| async {
        let url = crate::driver_variable("SPEED_BENCH_BASELINE_URL");
        let pool = crate::Pool::connect(&url).await.expect("the baseline's pool");
        crate::MIGRATOR.run(&pool).await.expect("the migrations");
        pool
    })
    .await
}

/// Every test's body: a transaction on the process's pool, rolled back.
async fn body() {
    let mut transaction = pool().await.begin().await.expect("begin");
    insert_and_select!(&mut *transaction);
    transaction.rollback().await.expect("rollback");
}

macro_rules! one_test {
    ($name:ident) => {
        #[test]
        fn $name() {
            crate::RUNTIME.block_on(crate::body());
        }
    };
}
thousand_tests!(one_test);
