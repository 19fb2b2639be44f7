//! Tests that take their database as an argument on MySQL/MariaDB (the server at
//! `MYSQL_DATABASE_URL`) and SQLite (no server: a copy of a template per test), through
//! the harness as `#[owned_test]` expands them.

mod test_args_support;

use ownership_e2e::mysql_available;
use sandbox_sqlx::{TestArgs, TestFixture, TestMigrations};
use sqlx::pool::PoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, MySqlPool, Sqlite, SqlitePool};
use test_args_support::run;

const NOTES: TestFixture = TestFixture::new(
    "test_args_data/fixtures/notes.sql",
    include_str!("test_args_data/fixtures/notes.sql"),
);

mod mysql {
    use super::*;

    const MIGRATIONS: TestMigrations = TestMigrations::Folder(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/test_args_data/mysql"
    ));

    /// The notes whose body is `body` in `database`, seen from outside every test.
    fn committed(database: &str, body: &str) -> i64 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let url = ownership_e2e::mysql_url();
            let url = format!("{}/{database}", url.rsplit_once('/').unwrap().0);
            let mut connection = sqlx::MySqlConnection::connect(&url).await.unwrap();
            let count = sqlx::query_scalar("SELECT count(*) FROM notes WHERE body = ?")
                .bind(body)
                .fetch_one(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
            count
        })
    }

    #[test]
    fn a_pool_is_the_tests_own_and_rolled_back() {
        if !mysql_available("test_args_backends::mysql::a_pool_is_the_tests_own") {
            return;
        }
        static ARGS: TestArgs<(MySqlPool,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
        let mut database = String::new();
        let seen_in = &mut database;
        run("mysql::rolled_back", &ARGS, |(pool,)| async move {
            *seen_in = sqlx::query_scalar("SELECT DATABASE()")
                .fetch_one(&pool)
                .await
                .unwrap();
            let mut transaction = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO notes (body) VALUES ('mysql rolled back')")
                .execute(&mut *transaction)
                .await
                .unwrap();
            transaction.commit().await.unwrap();
            let duplicate = sqlx::query("INSERT INTO notes (body) VALUES ('second')")
                .execute(&pool)
                .await;
            assert!(duplicate.is_err(), "the fixture's note is there");
            let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(notes, 3);
        })
        .unwrap();
        assert!(database.contains("_sandbox_"), "{database}");
        assert_eq!(committed(&database, "mysql rolled back"), 0);
        assert_eq!(committed(&database, "second"), 0);
    }

    #[test]
    fn ddl_that_commits_implicitly_fails_the_test() {
        if !mysql_available("test_args_backends::mysql::ddl_that_commits_implicitly") {
            return;
        }
        static ARGS: TestArgs<(MySqlPool,)> = TestArgs::new(MIGRATIONS, &[]);
        let report = run("mysql::implicit_commit", &ARGS, |(pool,)| async move {
            sqlx::query("CREATE TABLE IF NOT EXISTS scratch_notes (id int)")
                .execute(&pool)
                .await
                .unwrap();
        })
        .unwrap_err();
        assert!(report.contains("had already ended"), "{report}");
    }

    /// Whether `database` is on the server.
    fn exists(database: &str) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut connection = sqlx::MySqlConnection::connect(&ownership_e2e::mysql_url())
                .await
                .unwrap();
            let found: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
            )
            .bind(database)
            .fetch_one(&mut connection)
            .await
            .unwrap();
            connection.close().await.unwrap();
            found == 1
        })
    }

    #[test]
    fn pool_options_reach_a_migrated_database_of_the_tests_own_dropped_after_it() {
        if !mysql_available("test_args_backends::mysql::pool_options_reach_a_database") {
            return;
        }
        static ARGS: TestArgs<(PoolOptions<sqlx::MySql>, sqlx::mysql::MySqlConnectOptions)> =
            TestArgs::new(MIGRATIONS, &[NOTES]);
        let mut database = String::new();
        let seen_in = &mut database;
        run(
            "mysql::own_database",
            &ARGS,
            |(options, connect)| async move {
                let pool = options
                    .max_connections(2)
                    .connect_with(connect)
                    .await
                    .unwrap();
                *seen_in = sqlx::query_scalar("SELECT DATABASE()")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                // Nothing to roll back: the test may commit, and run DDL.
                sqlx::query("CREATE TABLE scratch (id int)")
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO notes (body) VALUES ('committed for real')")
                    .execute(&pool)
                    .await
                    .unwrap();
                let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(notes, 3, "migrated, with the fixture's two notes");
                // A connection the test leaves open doesn't keep its database.
                std::mem::forget(pool.acquire().await.unwrap());
            },
        )
        .unwrap();
        assert!(database.starts_with("sandbox_own_test_"), "{database}");
        assert!(!exists(&database), "{database} was dropped after the test");
    }
}

mod sqlite {
    use super::*;

    const MIGRATIONS: TestMigrations = TestMigrations::Folder(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/test_args_data/sqlite"
    ));

    #[test]
    fn a_pool_is_on_a_copy_of_the_tests_own() {
        static ARGS: TestArgs<(SqlitePool,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
        let mut file = String::new();
        let seen_in = &mut file;
        run("sqlite::own_copy", &ARGS, |(pool,)| async move {
            *seen_in =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let mut transaction = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO notes (body) VALUES ('sqlite')")
                .execute(&mut *transaction)
                .await
                .unwrap();
            transaction.commit().await.unwrap();
            let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(notes, 3);
        })
        .unwrap();
        assert!(file.contains(".test-"), "{file}");
        assert!(
            !std::path::Path::new(&file).exists(),
            "the copy {file} is deleted"
        );
    }

    #[test]
    fn pool_options_reach_a_copy_of_the_tests_own() {
        static ARGS: TestArgs<(PoolOptions<Sqlite>, SqliteConnectOptions)> =
            TestArgs::new(MIGRATIONS, &[NOTES]);
        run(
            "sqlite::pool_options",
            &ARGS,
            |(options, connect)| async move {
                let pool = options
                    .max_connections(2)
                    .connect_with(connect)
                    .await
                    .unwrap();
                let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(notes, 2);
                pool.close().await;
            },
        )
        .unwrap();
    }
}
