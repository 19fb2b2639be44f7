//! What differs between databases: how the sandbox's transaction starts, whether a
//! failing statement must be fenced by a savepoint, and how to tell that the transaction
//! is still open.

use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::migrate::Migrate;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::{AssertSqlSafe, SqlSafeStr};
use sqlx::{Database, SqlStr};

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
    ///
    /// ```
    /// use sandbox_sqlx::IsolationLevel;
    ///
    /// let level = IsolationLevel::RepeatableRead;
    /// let begin = format!("BEGIN ISOLATION LEVEL {}", level.sql());
    /// assert_eq!(begin, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    /// assert_eq!(IsolationLevel::Serializable.sql(), "SERIALIZABLE");
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// A database the sandbox runs on: by transaction rollback, or by a copy of a migrated
/// template per test. Implemented for PostgreSQL (feature `postgres`) and MySQL/MariaDB
/// (feature `mysql`), by rollback, and SQLite (feature `sqlite` or `sqlite-unbundled`), by
/// copies in memory ([`SandboxDatabase::in_memory`]) or, for tests that connect by
/// themselves, in files.
///
/// ```
/// use sandbox_sqlx::{IsolationLevel, SandboxDatabase};
/// use sqlx::{MySql, Postgres};
///
/// // What a sandbox does differently on each database, read from the trait.
/// fn fences_and_serializes<DB: SandboxDatabase>() -> (bool, bool) {
///     (DB::FENCE_STATEMENTS, DB::SERIALIZE_TESTS)
/// }
/// assert_eq!(fences_and_serializes::<Postgres>(), (true, false));
/// assert_eq!(fences_and_serializes::<MySql>(), (false, true));
///
/// // MySQL sets the level and begins in one round trip; `READ COMMITTED` by default.
/// let begin = MySql::begin_statement(None).map(|sql| sql.as_str().to_owned());
/// assert_eq!(begin.as_deref(), Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN"));
/// assert!(Postgres::begin_statement(Some(IsolationLevel::Serializable)).is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a database that this build of sandbox-sqlx sandboxes",
    label = "no sandbox for `{Self}`",
    note = "each backend is a feature of sandbox-sqlx: turn on `postgres` for \
            `sqlx::Postgres`, `mysql` for `sqlx::MySql` (MySQL and MariaDB), `sqlite` (or \
            `sqlite-unbundled`) for `sqlx::Sqlite`, as in `features = [\"postgres\"]` on the \
            `sandbox-sqlx` dependency"
)]
pub trait SandboxDatabase: Database<Connection: Migrate> {
    /// Whether a statement that fails inside the sandbox's transaction leaves the
    /// transaction unusable (PostgreSQL: "current transaction is aborted"), so that each
    /// statement outside an app transaction is fenced by a savepoint, as autocommit would.
    const FENCE_STATEMENTS: bool;

    /// What ends a sandbox transaction behind the sandbox's back on this database, for
    /// the error that reports it.
    const ENDED_BY: &'static str;

    /// The database's name, for messages ("PostgreSQL").
    const SERVER: &'static str;

    /// A URL of this database, for messages.
    const URL_EXAMPLE: &'static str;

    /// Whether each test gets a database of its own, copied from a migrated template,
    /// instead of a transaction on a shared one (SQLite: one writer per file).
    const PER_TEST_DATABASE: bool = false;

    /// For a [per-test database](SandboxDatabase::PER_TEST_DATABASE): the options of a
    /// private, empty in-memory database (its connection's own, shared with no other), for
    /// a test's copy of the template in memory, into which
    /// [`SandboxDatabase::load_image`] loads the template. `None` (the default): the
    /// database can't, and each test's copy is a file.
    ///
    /// ```
    /// use sandbox_sqlx::SandboxDatabase;
    ///
    /// // SQLite copies templates in memory; PostgreSQL runs tests in transactions.
    /// let options = sqlx::Sqlite::in_memory().expect("SQLite databases can live in memory");
    /// assert_eq!(options.get_filename(), std::path::Path::new(":memory:"));
    /// assert!(sqlx::Postgres::in_memory().is_none());
    /// ```
    fn in_memory() -> Option<<Self::Connection as sqlx::Connection>::Options> {
        None
    }

    /// Makes the database of `connection`, opened with [`SandboxDatabase::in_memory`]'s
    /// options, a copy of `image`, the bytes of a template's file, which writes through
    /// the connection change and nothing else sees. Only called where `in_memory` gives
    /// options; by default, an error that says so.
    ///
    /// ```
    /// use sandbox_sqlx::SandboxDatabase;
    /// use sqlx::{Connection, Sqlite, SqliteConnection};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// // A template, and its image (what its file would hold).
    /// let mut template = SqliteConnection::connect("sqlite::memory:").await?;
    /// sqlx::raw_sql("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('migrated')")
    ///     .execute(&mut template)
    ///     .await?;
    /// let image = template.serialize(None).await?;
    ///
    /// let options = Sqlite::in_memory().expect("SQLite databases can live in memory");
    /// let mut copy = SqliteConnection::connect_with(&options).await?;
    /// Sqlite::load_image(&mut copy, &image).await?;
    /// sqlx::query("INSERT INTO notes VALUES ('the test''s own')").execute(&mut copy).await?;
    /// let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut copy).await?;
    /// assert_eq!(notes, 2);
    /// // The template doesn't see the copy's writes.
    /// let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
    ///     .fetch_one(&mut template)
    ///     .await?;
    /// assert_eq!(notes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn load_image<'c>(
        connection: &'c mut Self::Connection,
        image: &'c [u8],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        let _ = (connection, image);
        Box::pin(async {
            Err(sqlx::Error::Configuration(
                format!(
                    "sandbox-sqlx: {} databases can't be loaded from a template's image \
                     (`SandboxDatabase::in_memory` gives no options for them): copy the \
                     template's file instead",
                    Self::SERVER
                )
                .into(),
            ))
        })
    }

    /// A statement that clears what a session keeps past a rollback (its advisory or
    /// named locks), run before a test's connection serves the next test.
    const SESSION_RESET: Option<&'static str> = None;

    /// The statement that starts the sandbox's transaction, at `isolation` if given
    /// (`None`: the default `BEGIN`). One round trip, even where the level is set by a
    /// statement of its own.
    fn begin_statement(isolation: Option<IsolationLevel>) -> Option<SqlStr>;

    /// Takes the lock under which this process migrates the connection's database with
    /// migrations recorded in `table`, waiting at most `wait`: a session-level lock on
    /// the server, named after the database and the table (never after a sandbox's
    /// label), so that every sandbox, binary, checkout and machine that migrates that
    /// database takes the same lock, and a process that dies releases it with its
    /// session. Once taken, the connection's later lock waits (the migrator's own) are
    /// bounded too. `Ok(false)`: not taken in time.
    fn lock_migrations<'c>(
        connection: &'c mut Self::Connection,
        table: &'c str,
        wait: Duration,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>>;

    /// Who holds the lock of [`SandboxDatabase::lock_migrations`], as the server tells
    /// it, for the error of a wait that timed out.
    fn migrations_lock_holder<'c>(
        connection: &'c mut Self::Connection,
        table: &'c str,
    ) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>>;

    /// Whether the sandbox's transactions run one at a time by default, across the
    /// processes and machines that share the database (see
    /// [`SandboxBuilder::serialize_tests`](crate::SandboxBuilder::serialize_tests)).
    const SERIALIZE_TESTS: bool = false;

    /// Takes the lock that serializes sandboxed tests on this database (a session-level
    /// lock on the server, so a test process that dies releases it; taken again by the
    /// same session, it counts), waiting at most `wait`. `Ok(false)`: not taken in time.
    fn lock_tests(
        connection: &mut Self::Connection,
        wait: Duration,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>>;

    /// Releases (once) the lock of [`SandboxDatabase::lock_tests`].
    fn unlock_tests(connection: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>>;

    /// Whether the statement `sql` may end the sandbox's transaction, so that checkin must
    /// ask the server whether it is still open. Conservative: `true` unless the database
    /// can tell from the text (the default).
    fn may_end_transaction(sql: &str) -> bool {
        let _ = sql;
        true
    }

    /// The environment variable that holds this database's URL for tests that take their
    /// database as an argument, when `DATABASE_URL` holds another database's (MySQL's:
    /// `MYSQL_DATABASE_URL`). `DATABASE_URL` itself by default.
    const URL_VARIABLE: &'static str = "DATABASE_URL";

    /// Creates the database `name` on the connection's server, unless it exists (also
    /// when another process creates it at the same moment). SQLite, whose databases are
    /// files, creates nothing.
    fn create_database<'c>(
        connection: &'c mut Self::Connection,
        name: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        let _ = (connection, name);
        Box::pin(async { Ok(()) })
    }

    /// The options that reach the server of `options` through the run's relay of warm
    /// backends (PostgreSQL in nextest's process-per-test mode), if one is running;
    /// `None` (the default): connect directly.
    ///
    /// ```
    /// use sandbox_sqlx::SandboxDatabase;
    /// use sqlx::mysql::MySqlConnectOptions;
    ///
    /// // MySQL starts a thread, not a process, per connection: it has no relay.
    /// let direct: MySqlConnectOptions = "mysql://root@localhost/test".parse()?;
    /// assert!(sqlx::MySql::relayed(&direct).is_none());
    /// # Ok::<(), sqlx::Error>(())
    /// ```
    fn relayed(
        options: &<Self::Connection as sqlx::Connection>::Options,
    ) -> Option<<Self::Connection as sqlx::Connection>::Options> {
        let _ = options;
        None
    }

    /// Told that connecting through [`SandboxDatabase::relayed`]'s options failed (the
    /// test then connects directly): a relay found dead is started again for the tests
    /// to come.
    fn relay_failed(options: &<Self::Connection as sqlx::Connection>::Options) {
        let _ = options;
    }

    /// Whether the connection is still inside a transaction.
    fn in_transaction(
        connection: &mut Self::Connection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
}

/// The name of PostgreSQL's lock that serializes sandboxed tests, as SQL that gives it:
/// one per database.
#[cfg(feature = "postgres")]
const TESTS_LOCK: &str = "'sandbox-sqlx tests of ' || current_database()";

/// The advisory lock key (SQL giving a `bigint`) of migrating the current database with
/// migrations recorded in `table`.
#[cfg(feature = "postgres")]
fn migrations_lock_key(table: &str) -> String {
    format!(
        "hashtextextended('sandbox-sqlx migrations of ' || current_database() || ' in ' || {}, 0)",
        quoted(table)
    )
}

/// The name of MySQL's migrations lock, as SQL taking the migrations table as its one
/// parameter: under `GET_LOCK`'s 64 characters whatever the database's name.
#[cfg(feature = "mysql")]
const MYSQL_MIGRATIONS_LOCK: &str =
    "CONCAT('sandbox-sqlx migrations ', MD5(CONCAT(DATABASE(), ' in ', ?)))";

/// `text` as an SQL string literal.
#[cfg(feature = "postgres")]
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// This machine's name, for the holder of a lock.
#[cfg(feature = "postgres")]
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "an unnamed host".to_owned())
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
    const SESSION_RESET: Option<&'static str> = Some("SELECT pg_advisory_unlock_all()");
    const ENDED_BY: &'static str = "A `COMMIT`, `ROLLBACK` or `END` statement run by the test or the code it \
         tested ends it: run transactions through the pool (`pool.begin()`), where they become \
         savepoints.";

    const SERVER: &'static str = "PostgreSQL";
    const URL_EXAMPLE: &'static str = "postgres://user:password@localhost:5432/app_test";

    fn relayed(
        options: &sqlx::postgres::PgConnectOptions,
    ) -> Option<sqlx::postgres::PgConnectOptions> {
        crate::relay::route(options)
    }

    fn relay_failed(options: &sqlx::postgres::PgConnectOptions) {
        crate::relay::failed(options);
    }

    fn lock_migrations<'c>(
        connection: &'c mut sqlx::PgConnection,
        table: &'c str,
        wait: Duration,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // `lock_timeout` bounds the wait, and stays set for the migrator's own lock and
            // its DDL's lock waits on this connection (closed after the migrations).
            let lock = AssertSqlSafe(format!(
                "SELECT set_config('application_name', {name}, false); \
                 SET lock_timeout = {wait}; \
                 SELECT pg_advisory_lock({key})",
                name = quoted(&format!(
                    "sandbox-sqlx migrations, process {} on {}",
                    std::process::id(),
                    host_name()
                )),
                wait = wait.as_millis().max(1),
                key = migrations_lock_key(table),
            ));
            match sqlx::raw_sql(lock).execute(&mut *connection).await {
                Ok(_) => Ok(true),
                // "lock_not_available": the wait timed out.
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => {
                    Ok(false)
                }
                Err(error) => Err(error),
            }
        })
    }

    fn migrations_lock_holder<'c>(
        connection: &'c mut sqlx::PgConnection,
        table: &'c str,
    ) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            let holder = AssertSqlSafe(format!(
                "SELECT format('server session %s (%s, from %s, since %s)', a.pid, \
                 a.application_name, coalesce(host(a.client_addr), 'a local socket'), \
                 date_trunc('second', a.backend_start)) \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                 AND ((l.classid::bigint << 32) | l.objid::bigint) = ({key})::bigint \
                 LIMIT 1",
                key = migrations_lock_key(table),
            ));
            sqlx::query_scalar(holder)
                .fetch_optional(&mut *connection)
                .await
        })
    }

    fn begin_statement(isolation: Option<IsolationLevel>) -> Option<SqlStr> {
        isolation.map(|level| {
            AssertSqlSafe(format!("BEGIN ISOLATION LEVEL {}", level.sql())).into_sql_str()
        })
    }

    fn lock_tests(
        connection: &mut sqlx::PgConnection,
        wait: Duration,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // Outside any transaction (the sandbox's begins after it): `lock_timeout`
            // bounds the wait, and is reset whatever happens.
            let lock = AssertSqlSafe(format!(
                "SET lock_timeout = {}; SELECT pg_advisory_lock(hashtext({TESTS_LOCK})); \
                 RESET lock_timeout",
                wait.as_millis().max(1)
            ));
            match sqlx::raw_sql(lock).execute(&mut *connection).await {
                Ok(_) => Ok(true),
                // "lock_not_available": the wait timed out.
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => {
                    sqlx::raw_sql("RESET lock_timeout")
                        .execute(&mut *connection)
                        .await?;
                    Ok(false)
                }
                Err(error) => Err(error),
            }
        })
    }

    /// Only a top-level `COMMIT`, `END`, `ROLLBACK`, `ABORT` or `PREPARE TRANSACTION` ends a
    /// transaction block (procedures and `DO` blocks can't commit inside one): a
    /// statement without one of those words can't. A word in a string or a `CASE .. END`
    /// only costs the check.
    fn may_end_transaction(sql: &str) -> bool {
        sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|word| {
                ["commit", "end", "rollback", "abort", "prepare"]
                    .iter()
                    .any(|keyword| word.eq_ignore_ascii_case(keyword))
            })
    }

    fn unlock_tests(connection: &mut sqlx::PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let unlock =
                AssertSqlSafe(format!("SELECT pg_advisory_unlock(hashtext({TESTS_LOCK}))"));
            sqlx::raw_sql(unlock).execute(&mut *connection).await?;
            Ok(())
        })
    }

    fn create_database<'c>(
        connection: &'c mut sqlx::PgConnection,
        name: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
            match sqlx::Executor::execute(&mut *connection, AssertSqlSafe(create)).await {
                // 42P04: it exists; 23505: another process created it at the same moment.
                Err(error)
                    if matches!(
                        crate::closed::sqlstate(&error).as_deref(),
                        Some("42P04" | "23505")
                    ) =>
                {
                    Ok(())
                }
                done => done.map(|_| ()),
            }
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
    const SESSION_RESET: Option<&'static str> = Some("DO RELEASE_ALL_LOCKS()");
    const ENDED_BY: &'static str = "Either the test was chosen as a deadlock victim (error 1213): InnoDB \
         then rolls back its whole transaction, so what the test wrote after the error was \
         committed for real. Tests that write the same keys at once deadlock: keep \
         `serialize_tests` on (the default on MySQL/MariaDB). Or a statement ended it: MySQL and \
         MariaDB commit implicitly before and after DDL (`CREATE`, `ALTER`, `DROP`, `TRUNCATE`, \
         `RENAME`) and on `COMMIT`, `ROLLBACK`, `BEGIN` or `START TRANSACTION`: keep DDL in \
         migrations, and run transactions through the pool (`pool.begin()`), where they become \
         savepoints.";

    /// `READ COMMITTED` unless asked otherwise: at InnoDB's default `REPEATABLE READ`,
    /// gap and next-key locks make concurrent tests deadlock or wait on each other
    /// (two tests that each delete a missing row, then insert one; a test that updates
    /// through an unindexed column), which `READ COMMITTED` doesn't take.
    fn begin_statement(isolation: Option<IsolationLevel>) -> Option<SqlStr> {
        // MySQL has no `BEGIN ISOLATION LEVEL`: the level is set for the next transaction,
        // in the same round trip (sqlx's MySQL connections allow several statements).
        let level = isolation.unwrap_or(IsolationLevel::ReadCommitted);
        Some(
            AssertSqlSafe(format!(
                "SET TRANSACTION ISOLATION LEVEL {}; BEGIN",
                level.sql()
            ))
            .into_sql_str(),
        )
    }

    /// Serialized: even at `READ COMMITTED`, InnoDB deadlocks tests that insert the same
    /// unique key at once (each waiter takes a shared lock on the duplicate, then all want
    /// it exclusively when its holder rolls back), where PostgreSQL makes them wait.
    const SERIALIZE_TESTS: bool = true;

    const SERVER: &'static str = "MySQL/MariaDB";
    const URL_EXAMPLE: &'static str = "mysql://user:password@localhost:3306/app_test";

    /// `GET_LOCK` with a real timeout, its result checked: sqlx's own migrator lock,
    /// `GET_LOCK(name, -1)`, returns at once on MariaDB 10.11 without the lock.
    fn lock_migrations<'c>(
        connection: &'c mut sqlx::MySqlConnection,
        table: &'c str,
        wait: Duration,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let taken: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT GET_LOCK({MYSQL_MIGRATIONS_LOCK}, ?)"
            )))
            .bind(table)
            .bind(wait.as_secs().max(1))
            .fetch_one(&mut *connection)
            .await?;
            match taken {
                Some(1) => Ok(true),
                Some(_) => Ok(false),
                None => Err(sqlx::Error::Protocol(
                    "GET_LOCK answered NULL (an error on the server) for the migrations lock"
                        .to_owned(),
                )),
            }
        })
    }

    fn migrations_lock_holder<'c>(
        connection: &'c mut sqlx::MySqlConnection,
        table: &'c str,
    ) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT CONCAT('server connection ', p.ID, ' (', p.USER, ' from ', p.HOST, \
                 ', for ', p.TIME, ' s)') FROM information_schema.PROCESSLIST p \
                 WHERE p.ID = IS_USED_LOCK({MYSQL_MIGRATIONS_LOCK})"
            )))
            .bind(table)
            .fetch_optional(&mut *connection)
            .await
        })
    }

    fn lock_tests(
        connection: &mut sqlx::MySqlConnection,
        wait: Duration,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT GET_LOCK(CONCAT('sandbox-sqlx tests of ', DATABASE()), ?)",
            )
            .bind(wait.as_secs().max(1))
            .fetch_one(&mut *connection)
            .await?;
            Ok(taken == Some(1))
        })
    }

    fn unlock_tests(
        connection: &mut sqlx::MySqlConnection,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DO RELEASE_LOCK(CONCAT('sandbox-sqlx tests of ', DATABASE()))")
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    const URL_VARIABLE: &'static str = "MYSQL_DATABASE_URL";

    fn create_database<'c>(
        connection: &'c mut sqlx::MySqlConnection,
        name: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let create = format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                name.replace('`', "``")
            );
            sqlx::Executor::execute(&mut *connection, AssertSqlSafe(create))
                .await
                .map(|_| ())
        })
    }

    fn in_transaction(
        connection: &mut sqlx::MySqlConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let open: i64 = sqlx::query_scalar("SELECT CAST(@@in_transaction AS SIGNED)")
                .fetch_one(&mut *connection)
                .await?;
            Ok(open != 0)
        })
    }
}

#[cfg(any(feature = "sqlite", feature = "sqlite-unbundled"))]
impl SandboxDatabase for sqlx::Sqlite {
    const FENCE_STATEMENTS: bool = false;
    const ENDED_BY: &'static str = "";
    const PER_TEST_DATABASE: bool = true;

    /// `:memory:` in a private cache: the connection's own database (sqlx's
    /// `sqlite::memory:` is a named database in SQLite's shared cache, which other
    /// connections of the process could open), with sqlx's default settings, as the
    /// file copies have.
    fn in_memory() -> Option<sqlx::sqlite::SqliteConnectOptions> {
        Some(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(":memory:")
                .in_memory(true)
                .shared_cache(false),
        )
    }

    /// `sqlite3_deserialize` into `main`: a resizable copy of the image in SQLite's
    /// memory, freed when the connection closes. An empty image (a template without
    /// migrations) is an empty database, as the connection's is already.
    fn load_image<'c>(
        connection: &'c mut sqlx::SqliteConnection,
        image: &'c [u8],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            if image.is_empty() {
                return Ok(());
            }
            let mut copy = sqlx_sqlite::SqliteOwnedBuf::try_from(image)?;
            // A template a migration put in WAL mode (file format versions 2 at bytes 18
            // and 19 of the header) is read as a rollback-journal database, which memory
            // needs (SQLite's in-memory databases have no WAL): it holds every page, since
            // its WAL was checkpointed when the migrating connection closed.
            if let Some(versions) = copy.get_mut(18..20)
                && versions == [2, 2]
            {
                versions.copy_from_slice(&[1, 1]);
            }
            connection.deserialize(None, copy, false).await
        })
    }

    fn begin_statement(_: Option<IsolationLevel>) -> Option<SqlStr> {
        None
    }

    const SERVER: &'static str = "SQLite";
    const URL_EXAMPLE: &'static str = "sqlite://target/app_test.db";

    /// SQLite's template is made under a run-wide file lock (see `template.rs`): this is
    /// never called.
    fn lock_migrations<'c>(
        _: &'c mut sqlx::SqliteConnection,
        _: &'c str,
        _: Duration,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        Box::pin(async { Ok(true) })
    }

    fn migrations_lock_holder<'c>(
        _: &'c mut sqlx::SqliteConnection,
        _: &'c str,
    ) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>> {
        Box::pin(async { Ok(None) })
    }

    /// Each test has a database of its own: nothing to serialize, so this is never
    /// called, and takes nothing.
    fn lock_tests(
        _: &mut sqlx::SqliteConnection,
        _: Duration,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async { Ok(true) })
    }

    fn unlock_tests(_: &mut sqlx::SqliteConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }

    fn in_transaction(_: &mut sqlx::SqliteConnection) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        // Each test's database is thrown away: there is no sandbox transaction to check.
        Box::pin(async { Ok(true) })
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::SandboxDatabase;
    use sqlx::Postgres;

    #[test]
    fn postgres_checks_at_checkin_only_after_statements_that_may_end_the_transaction() {
        for ending in [
            "COMMIT",
            "end;",
            "INSERT INTO t VALUES (1); Rollback",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "rollback to savepoint s",
        ] {
            assert!(Postgres::may_end_transaction(ending), "{ending}");
        }
        for harmless in [
            "INSERT INTO orders (committed_at, ending) VALUES ($1, $2)",
            "SELECT count(*) FROM order_ends WHERE id = $1",
            "UPDATE t SET x = x + 1",
        ] {
            assert!(!Postgres::may_end_transaction(harmless), "{harmless}");
        }
    }
}
