//! The shop's database: SQLite (no server, the default) or PostgreSQL, chosen at run time
//! from the database URL.
//!
//! [`Db`] is an enum over the two backends' [`SandboxPool`]s: in production a plain pool,
//! in a test the test's own sandbox. The app's SQL is written once, in the subset both
//! backends speak (`$1` parameters, `RETURNING`, `BIGINT`/`INTEGER` columns read as
//! `i64`), and [`on_backend!`](crate::on_backend) runs one body of code against whichever
//! backend the `Db` holds. The schemas live in `migrations/sqlite/` and
//! `migrations/postgres/` and differ only in how ids are generated.

use std::str::FromStr;
use std::sync::LazyLock;

use sandbox_sqlx::SandboxPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite};

/// The table in which the shop records its applied migrations: its own, so that the shop
/// can live in a database that other apps migrate too.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = shop::db::Db::connect("sqlite::memory:").await?;
/// db.migrate().await?;
/// let applied: i64 = shop::on_backend!(&db, |pool| {
///     sqlx::query_scalar("SELECT count(*) FROM shop_migrations").fetch_one(pool).await?
/// });
/// assert_eq!(applied, 1);
/// assert_eq!(shop::db::MIGRATIONS_TABLE, "shop_migrations");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const MIGRATIONS_TABLE: &str = "shop_migrations";

/// The database used when `DATABASE_URL` is not set: a SQLite file in the working folder.
///
/// ```
/// use shop::db::{Backend, DEFAULT_DATABASE_URL};
///
/// assert_eq!(Backend::of_url(DEFAULT_DATABASE_URL).unwrap(), Backend::Sqlite);
/// ```
pub const DEFAULT_DATABASE_URL: &str = "sqlite://shop.db";

/// The shop's migrations for SQLite (`migrations/sqlite/`).
///
/// ```
/// let first = shop::db::SQLITE_MIGRATOR.iter().next().unwrap();
/// assert_eq!(&*first.description, "shop");
/// ```
pub static SQLITE_MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| in_shop_table(sqlx::migrate!("migrations/sqlite")));

/// The shop's migrations for PostgreSQL (`migrations/postgres/`).
///
/// ```
/// let versions = |migrator: &sqlx::migrate::Migrator| {
///     migrator.iter().map(|migration| migration.version).collect::<Vec<_>>()
/// };
/// // The same migrations, one folder per backend.
/// assert_eq!(versions(&shop::db::POSTGRES_MIGRATOR), versions(&shop::db::SQLITE_MIGRATOR));
/// ```
pub static POSTGRES_MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| in_shop_table(sqlx::migrate!("migrations/postgres")));

fn in_shop_table(mut migrator: Migrator) -> Migrator {
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Which database server (or library) a [`Db`] talks to.
///
/// ```
/// use shop::db::Backend;
///
/// let backend = Backend::of_url("postgres://root@127.0.0.1:5432/test").unwrap();
/// assert_eq!(backend, Backend::Postgres);
/// assert_eq!(backend.migrator().iter().count(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded: a file, no server.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `sqlite:` or `postgres://` / `postgresql://`.
    ///
    /// # Errors
    ///
    /// [`DbError::UnsupportedUrl`] for any other scheme.
    ///
    /// ```
    /// use shop::db::Backend;
    ///
    /// assert_eq!(Backend::of_url("sqlite://shop.db").unwrap(), Backend::Sqlite);
    /// assert_eq!(Backend::of_url("postgres://root@127.0.0.1/test").unwrap(), Backend::Postgres);
    /// assert!(Backend::of_url("mysql://root@127.0.0.1/test").is_err());
    /// ```
    pub fn of_url(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
            Err(DbError::UnsupportedUrl {
                scheme: scheme.to_owned(),
            })
        }
    }

    /// The backend's migrations.
    ///
    /// ```
    /// use shop::db::{Backend, SQLITE_MIGRATOR};
    ///
    /// assert!(std::ptr::eq(Backend::Sqlite.migrator(), &*SQLITE_MIGRATOR));
    /// ```
    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }
}

/// Why the database could not be opened or migrated.
///
/// ```
/// use shop::db::{Backend, DbError};
///
/// let error = Backend::of_url("mysql://root@127.0.0.1/shop").unwrap_err();
/// assert!(matches!(&error, DbError::UnsupportedUrl { scheme } if scheme == "mysql"));
/// assert!(error.to_string().contains("fix DATABASE_URL"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names a database the shop doesn't run on.
    #[error(
        "the shop runs on SQLite (`sqlite://shop.db`) or PostgreSQL \
         (`postgres://user@host/database`), not on `{scheme}:` URLs: fix DATABASE_URL"
    )]
    UnsupportedUrl {
        /// The URL's scheme.
        scheme: String,
    },
    /// The database could not be reached or opened.
    #[error("could not open the {backend:?} database: check DATABASE_URL and that the server runs")]
    Connect {
        /// The backend.
        backend: Backend,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations failed.
    #[error("could not migrate the {backend:?} database")]
    Migrate {
        /// The backend.
        backend: Backend,
        /// sqlx's error.
        #[source]
        source: MigrateError,
    },
    /// [`Db::migrate`] was called on a test's sandbox, whose database its sandbox migrates.
    #[error(
        "a test's sandbox is migrated by the sandbox (`Sandbox::builder(..).migrations(..)`), \
         not by `Db::migrate`"
    )]
    InSandbox,
}

/// A handle to the shop's database, on one of its two backends. Cheap to clone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use shop::db::{Backend, Db};
///
/// let db = Db::connect("sqlite::memory:").await?; // or "postgres://..", "sqlite://shop.db"
/// db.migrate().await?;
/// assert_eq!(db.backend(), Backend::Sqlite);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    Sqlite(SandboxPool<Sqlite>),
    /// PostgreSQL.
    Postgres(SandboxPool<Postgres>),
}

impl From<SandboxPool<Sqlite>> for Db {
    fn from(pool: SandboxPool<Sqlite>) -> Db {
        Db::Sqlite(pool)
    }
}

impl From<SandboxPool<Postgres>> for Db {
    fn from(pool: SandboxPool<Postgres>) -> Db {
        Db::Postgres(pool)
    }
}

impl Db {
    /// Opens the database at `url` (a SQLite file is created if it is missing).
    ///
    /// # Errors
    ///
    /// [`DbError::UnsupportedUrl`] or [`DbError::Connect`].
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), shop::db::DbError> {
    /// let db = shop::db::Db::connect("postgres://root@127.0.0.1:5432/test").await?;
    /// assert_eq!(db.backend(), shop::db::Backend::Postgres);
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let backend = Backend::of_url(url)?;
        let connect = |source| DbError::Connect { backend, source };
        match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(connect)?
                    .create_if_missing(true);
                let pool = SqlitePoolOptions::new()
                    .connect_with(options)
                    .await
                    .map_err(connect)?;
                Ok(Db::Sqlite(pool.into()))
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new().connect(url).await.map_err(connect)?;
                Ok(Db::Postgres(pool.into()))
            }
        }
    }

    /// Opens the database `DATABASE_URL` names, or [`DEFAULT_DATABASE_URL`] when it is
    /// not set (or empty).
    ///
    /// # Errors
    ///
    /// As [`Db::connect`].
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), shop::db::DbError> {
    /// let db = shop::db::Db::from_env().await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Db, DbError> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        Db::connect(&url).await
    }

    /// The backend this handle talks to.
    ///
    /// ```
    /// use shop::db::{Backend, Db};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
    /// assert_eq!(Db::from(sandbox_sqlx::SandboxPool::from(pool)).backend(), Backend::Sqlite);
    /// # });
    /// ```
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the shop's migrations (production start-up).
    ///
    /// # Errors
    ///
    /// [`DbError::Migrate`]; [`DbError::InSandbox`] for a test's sandbox.
    ///
    /// ```
    /// use shop::db::Db;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await.unwrap();
    /// db.migrate().await.unwrap();
    /// # });
    /// ```
    pub async fn migrate(&self) -> Result<(), DbError> {
        let backend = self.backend();
        let migrate = |source| DbError::Migrate { backend, source };
        match self {
            Db::Sqlite(pool) => {
                let pool = pool.inner().ok_or(DbError::InSandbox)?;
                backend.migrator().run(pool).await.map_err(migrate)
            }
            Db::Postgres(pool) => {
                let pool = pool.inner().ok_or(DbError::InSandbox)?;
                backend.migrator().run(pool).await.map_err(migrate)
            }
        }
    }
}

/// Runs one body of code against the backend a [`Db`] holds: `$pool` is bound to its
/// `&SandboxPool<Sqlite>` or `&SandboxPool<Postgres>`, and the body, compiled once for
/// each, may `.await` and use `?` as the code around it does.
///
/// ```
/// use shop::db::Db;
/// use shop::on_backend;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// let two: i64 = on_backend!(&db, |pool| sqlx::query_scalar("SELECT 1 + $1")
///     .bind(1_i64)
///     .fetch_one(pool)
///     .await?);
/// assert_eq!(two, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! on_backend {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
