//! What differs between databases: how the sandbox's transaction starts, whether a
//! failing statement must be fenced by a savepoint, and how to tell that the transaction
//! is still open.

use futures_core::future::BoxFuture;
use ownership_runtime::runwide::RunWide;
use sqlx::migrate::Migrate;
use sqlx::{AssertSqlSafe, Database, SqlSafeStr, SqlStr};

/// The isolation level of a sandbox's transaction.
///
/// ```
/// use sandbox_sqlx::IsolationLevel;
///
/// assert_eq!(IsolationLevel::ReadCommitted.sql(), "READ COMMITTED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED`.
    ReadUncommitted,
    /// `READ COMMITTED`.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl IsolationLevel {
    /// The level as SQL spells it.
    pub fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// A database the sandbox runs on by transaction rollback. Implemented for PostgreSQL
/// (feature `postgres`) and MySQL/MariaDB (feature `mysql`).
pub trait SandboxDatabase: Database<Connection: Migrate> {
    /// Whether a statement that fails inside the sandbox's transaction leaves the
    /// transaction unusable (PostgreSQL: "current transaction is aborted"), so that each
    /// statement outside an app transaction is fenced by a savepoint, as autocommit would.
    const FENCE_STATEMENTS: bool;

    /// What ends a sandbox transaction behind the sandbox's back on this database, for
    /// the error that reports it.
    const ENDED_BY: &'static str;

    /// Whether each test gets a database of its own, copied from a migrated template,
    /// instead of a transaction on a shared one (SQLite: one writer per file).
    const PER_TEST_DATABASE: bool = false;

    /// A statement to run before the sandbox's transaction starts, to set its isolation
    /// level (`None`: nothing to run).
    fn set_isolation(isolation: IsolationLevel) -> Option<SqlStr>;

    /// The statement that starts the sandbox's transaction (`None`: the default `BEGIN`).
    fn begin_statement(isolation: Option<IsolationLevel>) -> Option<SqlStr>;

    /// Where this database's migrations are done once per test run: PostgreSQL uses an
    /// advisory lock on the server (machines that share it agree), the others a file lock.
    fn run_wide(url: &str) -> RunWide;

    /// Whether the connection is still inside a transaction.
    fn in_transaction(
        connection: &mut Self::Connection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
}

/// The statement fence: `SAVEPOINT`, the same after releasing the previous one (one round
/// trip, as a simple query), `ROLLBACK TO SAVEPOINT`, `RELEASE SAVEPOINT`.
pub(crate) const FENCE: &str = "SAVEPOINT ownership_sandbox_statement";
pub(crate) const FENCE_AGAIN: &str =
    "RELEASE SAVEPOINT ownership_sandbox_statement; SAVEPOINT ownership_sandbox_statement";
pub(crate) const FENCE_ROLLBACK: &str = "ROLLBACK TO SAVEPOINT ownership_sandbox_statement";
pub(crate) const FENCE_RELEASE: &str = "RELEASE SAVEPOINT ownership_sandbox_statement";

#[cfg(feature = "postgres")]
impl SandboxDatabase for sqlx::Postgres {
    const FENCE_STATEMENTS: bool = true;
    const ENDED_BY: &'static str = "A `COMMIT`, `ROLLBACK` or `END` statement run by the test or the code it \
         tested ends it: run transactions through the pool (`pool.begin()`), where they become \
         savepoints.";

    fn set_isolation(_: IsolationLevel) -> Option<SqlStr> {
        None
    }

    fn run_wide(url: &str) -> RunWide {
        RunWide::postgres(url)
    }

    fn begin_statement(isolation: Option<IsolationLevel>) -> Option<SqlStr> {
        isolation.map(|level| {
            AssertSqlSafe(format!("BEGIN ISOLATION LEVEL {}", level.sql())).into_sql_str()
        })
    }

    fn in_transaction(
        connection: &mut sqlx::PgConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // In a transaction block `now()` is the block's start, earlier than this
            // statement's; outside one, the statement is its own transaction.
            // A simple query: one message, so an implicit transaction starts with it (the
            // extended protocol's several messages would move `statement_timestamp()`).
            let open = sqlx::raw_sql("SELECT now() <> statement_timestamp()")
                .fetch_one(&mut *connection)
                .await;
            match open {
                Ok(row) => sqlx::Row::try_get::<bool, _>(&row, 0),
                // "current transaction is aborted": still a transaction.
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("25P02") => {
                    Ok(true)
                }
                Err(error) => Err(error),
            }
        })
    }
}

#[cfg(feature = "mysql")]
impl SandboxDatabase for sqlx::MySql {
    const FENCE_STATEMENTS: bool = false;
    const ENDED_BY: &'static str = "MySQL and MariaDB commit implicitly before and after DDL (`CREATE`, \
         `ALTER`, `DROP`, `TRUNCATE`, `RENAME`) and on `COMMIT`, `ROLLBACK`, `BEGIN` or \
         `START TRANSACTION` statements: keep DDL in migrations, and run transactions through the \
         pool (`pool.begin()`), where they become savepoints.";

    fn set_isolation(level: IsolationLevel) -> Option<SqlStr> {
        // MySQL has no `BEGIN ISOLATION LEVEL`: the level is set for the next transaction.
        Some(
            AssertSqlSafe(format!("SET TRANSACTION ISOLATION LEVEL {}", level.sql()))
                .into_sql_str(),
        )
    }

    fn begin_statement(_: Option<IsolationLevel>) -> Option<SqlStr> {
        None
    }

    fn run_wide(_: &str) -> RunWide {
        RunWide::file()
    }

    fn in_transaction(
        connection: &mut sqlx::MySqlConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let (open,): (i64,) = sqlx::query_as("SELECT CAST(@@in_transaction AS SIGNED)")
                .fetch_one(&mut *connection)
                .await?;
            Ok(open != 0)
        })
    }
}

#[cfg(feature = "sqlite")]
impl SandboxDatabase for sqlx::Sqlite {
    const FENCE_STATEMENTS: bool = false;
    const ENDED_BY: &'static str = "";
    const PER_TEST_DATABASE: bool = true;

    fn set_isolation(_: IsolationLevel) -> Option<SqlStr> {
        None
    }

    fn begin_statement(_: Option<IsolationLevel>) -> Option<SqlStr> {
        None
    }

    fn run_wide(_: &str) -> RunWide {
        RunWide::file()
    }

    fn in_transaction(_: &mut sqlx::SqliteConnection) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        // Each test's database is thrown away: there is no sandbox transaction to check.
        Box::pin(async { Ok(true) })
    }
}
