//! `allow_all`: one call allows a worker on everything the test owns, a real SQLite
//! sandbox and a real facade alike; the worker then reads the test's uncommitted row and
//! calls the test's mock.

use std::sync::LazyLock;

use mockall::automock;
use mockall_bridge::facade;
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::{Worker, allow_all};
use sandbox_sqlx::Sandbox;
use sqlx::Sqlite;
use tokio::sync::oneshot;

#[automock]
pub trait Mailer: Send + Sync {
    fn send(&self, to: &str) -> bool;
}

facade!(static MAILER: dyn Mailer);

static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("allow-all.db");
    Sandbox::builder("allow_all", format!("sqlite://{}?mode=rwc", file.display()))
        .build()
        .unwrap()
});

#[test]
fn allow_all_lets_a_worker_use_the_tests_connection_and_its_mock() {
    run_async(TestConfig::new("allow_all::worker"), || async {
        DB.checkout().await.unwrap();
        let db = DB.pool();
        sqlx::query("CREATE TABLE IF NOT EXISTS outbox (address TEXT NOT NULL)")
            .execute(&db)
            .await
            .unwrap();
        sqlx::query("INSERT INTO outbox VALUES ('ada@example.com')")
            .execute(&db)
            .await
            .unwrap();
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .withf(|to| to == "ada@example.com")
            .times(1)
            .return_const(true);
        MAILER.install(mailer).unwrap();

        let (sent, was_sent) = oneshot::channel();
        let (go, start) = oneshot::channel::<()>();
        let worker = Worker::start("allow_all::mailer", async move {
            start.await.unwrap();
            let db = DB.pool();
            let to: String = sqlx::query_scalar("SELECT address FROM outbox")
                .fetch_one(&db)
                .await
                .unwrap();
            let _ = sent.send(MAILER.get().send(&to));
        })
        .unwrap();
        allow_all(worker.id()).unwrap();
        go.send(()).unwrap();
        assert!(was_sent.await.unwrap());
        worker.join().unwrap();
    });
}
