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
    use std::path::PathBuf;
    use std::time::Duration;

    use ownership_runtime::InCallers;
    use sqlx::pool::PoolConnection;

    use super::*;

    const MIGRATIONS: TestMigrations = TestMigrations::Folder(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/test_args_data/sqlite"
    ));

    /// The file of the database a query on `db` runs on: `""` in memory.
    async fn main_file<'e>(db: impl sqlx::Executor<'e, Database = Sqlite>) -> String {
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(db)
            .await
            .unwrap()
    }

    async fn notes<'e>(db: impl sqlx::Executor<'e, Database = Sqlite>) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(db)
            .await
            .unwrap()
    }

    /// The pool is of one connection, on the test's own database in memory: migrated,
    /// seeded, shared by the test's tasks, its writes (committed ones too) seen by no
    /// other test.
    #[test]
    fn a_pool_is_on_the_tests_own_database_in_memory() {
        static ARGS: TestArgs<(SqlitePool,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
        for name in ["sqlite::own_memory", "sqlite::own_memory_again"] {
            run(name, &ARGS, |(pool,)| async move {
                assert_eq!(main_file(&pool).await, "", "in memory");
                assert_eq!(pool.options().get_max_connections(), 1);
                assert_eq!(
                    notes(&pool).await,
                    2,
                    "the fixture's notes, no other test's"
                );
                let mut transaction = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO notes (body) VALUES ('sqlite')")
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                transaction.commit().await.unwrap();
                let task = pool.clone();
                let in_task = tokio::spawn(async move { notes(&task).await }.in_current_callers());
                assert_eq!(
                    in_task.await.unwrap(),
                    3,
                    "the test's tasks share its database"
                );
            })
            .unwrap();
        }
    }

    /// A connection argument is on the test's own database in memory, seeded.
    #[test]
    fn a_connection_is_on_the_tests_own_database_in_memory() {
        static ARGS: TestArgs<(PoolConnection<Sqlite>,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
        run(
            "sqlite::connection",
            &ARGS,
            |(mut connection,)| async move {
                assert_eq!(main_file(&mut *connection).await, "");
                assert_eq!(notes(&mut *connection).await, 2);
            },
        )
        .unwrap();
    }

    /// A test that detaches (or closes) its pool's connection loses its database with
    /// it: the pool gives no new connection (it would be an empty database), and the
    /// test fails, saying why and what to do.
    #[test]
    fn a_test_that_loses_its_connection_fails_instead_of_getting_an_empty_database() {
        static ARGS: TestArgs<(SqlitePool,)> = TestArgs::new(MIGRATIONS, &[NOTES]);
        let report = run("sqlite::lost", &ARGS, |(pool,)| async move {
            let connection = pool.acquire().await.unwrap();
            drop(connection.detach());
            let again = tokio::time::timeout(Duration::from_millis(500), pool.acquire()).await;
            assert!(
                !matches!(again, Ok(Ok(_))),
                "the pool opened another connection, on an empty database"
            );
        })
        .unwrap_err();
        for part in [
            "lost its in-memory database",
            "a new connection would be an empty database",
            "(SqlitePoolOptions, SqliteConnectOptions)",
        ] {
            assert!(report.contains(part), "{part:?} is missing from: {report}");
        }
    }

    /// Pool options and connect options reach a copy of the template in a file, the
    /// test's own, which the connections it opens share; deleted after the test.
    #[test]
    fn pool_options_reach_a_copy_of_the_tests_own_in_a_file() {
        static ARGS: TestArgs<(PoolOptions<Sqlite>, SqliteConnectOptions)> =
            TestArgs::new(MIGRATIONS, &[NOTES]);
        let mut file = PathBuf::new();
        let seen_in = &mut file;
        run(
            "sqlite::pool_options",
            &ARGS,
            |(options, connect)| async move {
                *seen_in = connect.get_filename().to_owned();
                assert!(seen_in.exists(), "{}", seen_in.display());
                let pool = options
                    .max_connections(2)
                    .connect_with(connect)
                    .await
                    .unwrap();
                let mut first = pool.acquire().await.unwrap();
                let mut second = pool.acquire().await.unwrap();
                assert_eq!(PathBuf::from(main_file(&mut *first).await), *seen_in);
                sqlx::query("INSERT INTO notes (body) VALUES ('committed')")
                    .execute(&mut *first)
                    .await
                    .unwrap();
                assert_eq!(
                    notes(&mut *second).await,
                    3,
                    "one database, both connections"
                );
                drop((first, second));
                pool.close().await;
            },
        )
        .unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.contains(".test-"),
            "a copy beside the template: {name}"
        );
        assert!(!file.exists(), "the copy {} is deleted", file.display());
    }
}
