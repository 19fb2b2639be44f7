//! The sandbox of a test that takes its database as an argument and names no `static`
//! (`#[owned_test] async fn t(pool: PgPool)`), as `#[sqlx::test]` finds its database:
//! the server at `DATABASE_URL`, the crate's `migrations/` (or what the test names).
//!
//! The tests don't run in the database `DATABASE_URL` names (a developer's database, with
//! data of its own) but in one made beside it on the same server, empty and migrated, as
//! `#[sqlx::test]`'s databases are: `<database>_sandbox_<hash>`, where the hash is of the
//! migration set, so that two suites (two crates of a workspace, two branches on a
//! server CI jobs share) with different migrations never meet. It is made once per run
//! (across nextest's processes) if it isn't there, and kept: its tests roll everything
//! back, so it stays empty. On SQLite (no server), the template is a file named the same
//! way, beside `DATABASE_URL`'s file if that is a SQLite URL, else in the system's
//! temporary folder.
//!
//! One sandbox per database and migration set serves every such test of the process.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use ownership_runtime::background;
use ownership_runtime::runwide::{RunWide, stable_hash};
use sqlx::migrate::Migrator;
use sqlx::{Connection, Executor};
use tokio::sync::OnceCell;

use crate::backend::SandboxDatabase;
use crate::error::SandboxError;
use crate::once_per_run::once_per_run;
use crate::reach::{AcquireError, Reach};
use crate::sandbox::Sandbox;
use crate::url::DatabaseUrl;

/// Where a test's migrations come from.
///
/// ```
/// use sandbox_sqlx::TestMigrations;
///
/// // What `#[owned_test]` makes of the crate's `migrations/` folder.
/// let folder = TestMigrations::Folder(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"));
/// assert!(matches!(folder, TestMigrations::Folder(path) if path.ends_with("/migrations")));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum TestMigrations {
    /// The migrations in this folder (an absolute path), read when the first test of the
    /// process needs them (`migrations = "path"`, or the crate's `migrations/`).
    Folder(&'static str),
    /// A migrator of the crate's.
    Migrator(&'static Migrator),
    /// The migrator a test names (`migrator = "crate::MIGRATOR"`), reached when the first
    /// test of the process needs it: a `static` `Migrator`, or one behind a `LazyLock`
    /// (which a `static` can't borrow from).
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use sandbox_sqlx::TestMigrations;
    /// use sqlx::migrate::Migrator;
    ///
    /// // Migrations chosen when the tests run.
    /// static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| Migrator::with_migrations(vec![]));
    /// static MIGRATIONS: TestMigrations = TestMigrations::MigratorFn(|| &MIGRATOR);
    /// # let _ = MIGRATIONS;
    /// ```
    MigratorFn(fn() -> &'static Migrator),
    /// No migrations (`migrations = false`, or no `migrations/` folder).
    None,
}

/// The label of default sandboxes, in their errors, and the name of the resource of a
/// test's arguments.
pub(crate) const LABEL: &str = "the test's database";

/// The default sandboxes made so far, by database type and migration set: each a
/// `OnceCell<&'static Sandbox<DB>>`, made once.
static SANDBOXES: LazyLock<Mutex<HashMap<SandboxKey, Arc<dyn Any + Send + Sync>>>> =
    LazyLock::new(Mutex::default);

/// A default sandbox's database type and the hash of its migration set.
type SandboxKey = (std::any::TypeId, String);

/// Migrations read from folders at run time, by folder: read once per process.
static FOLDERS: LazyLock<Mutex<HashMap<&'static str, FolderMigrator>>> =
    LazyLock::new(Mutex::default);

/// A folder's migrator, read at the first test that needs it.
type FolderMigrator = Arc<OnceCell<&'static Migrator>>;

/// The default sandbox of `DB` for `migrations`: made (its database created, if need be)
/// at the first test of the process that asks for it.
pub(crate) async fn default_sandbox<DB: SandboxDatabase>(
    migrations: &TestMigrations,
) -> Result<&'static Sandbox<DB>, SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let migrator = migrator_of(migrations).await?;
    let key = (std::any::TypeId::of::<DB>(), migrations_key(migrator));
    let cell = {
        let mut sandboxes = SANDBOXES.lock().unwrap_or_else(PoisonError::into_inner);
        sandboxes
            .entry(key.clone())
            .or_insert_with(|| Arc::new(OnceCell::<&'static Sandbox<DB>>::new()))
            .clone()
    };
    let Ok(cell) = cell.downcast::<OnceCell<&'static Sandbox<DB>>>() else {
        unreachable!("the map's key holds the database type");
    };
    cell.get_or_try_init(|| make::<DB>(migrator, key.1.clone()))
        .await
        .copied()
}

/// The migrator of `migrations`, read from its folder once per process.
async fn migrator_of(
    migrations: &TestMigrations,
) -> Result<Option<&'static Migrator>, SandboxError> {
    match *migrations {
        TestMigrations::None => Ok(None),
        TestMigrations::Migrator(migrator) => Ok(Some(migrator)),
        TestMigrations::MigratorFn(migrator) => Ok(Some(migrator())),
        TestMigrations::Folder(folder) => {
            let cell = FOLDERS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(folder)
                .or_default()
                .clone();
            cell.get_or_try_init(|| async move {
                // Read here, as sqlx's `Migrator::new` reads them, but on this thread: a few
                // small files, once per process, where a hop to a blocking thread costs a
                // test process (nextest's) more than the reading.
                let resolved = sqlx::migrate::resolve_blocking(std::path::Path::new(folder))
                    .map_err(|error| sqlx::migrate::MigrateError::Source(Box::new(error)));
                match resolved {
                    // Once per folder and process: the tests' migrations, for the run.
                    Ok(migrations) => {
                        let migrations = migrations.into_iter().map(|(migration, _)| migration);
                        let migrator = Migrator::with_migrations(migrations.collect());
                        Ok(&*Box::leak(Box::new(migrator)))
                    }
                    Err(source) => Err(SandboxError::MigrationsFolder {
                        label: LABEL.to_owned(),
                        folder: folder.to_owned(),
                        source,
                    }),
                }
            })
            .await
            .map(|migrator| Some(*migrator))
        }
    }
}

/// What tells migration sets apart: the migrations table and each migration's version,
/// kind and checksum.
fn migrations_key(migrator: Option<&Migrator>) -> String {
    use std::fmt::Write as _;
    let mut key = String::from("sandbox-sqlx default database");
    if let Some(migrator) = migrator {
        let _ = write!(key, "\n{}", migrator.table_name);
        for migration in migrator.iter() {
            let _ = write!(
                key,
                "\n{} {:?} {:?}",
                migration.version, migration.migration_type, &*migration.checksum
            );
        }
    }
    format!("{:016x}", stable_hash(&key))
}

/// Makes the default sandbox of `DB` for a migration set whose hash is `hash`.
async fn make<DB: SandboxDatabase>(
    migrator: Option<&'static Migrator>,
    hash: String,
) -> Result<&'static Sandbox<DB>, SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let variable = url_variable::<DB>();
    let given = std::env::var(variable).ok().filter(|url| is_of::<DB>(url));
    let builder = match given.as_deref().map(|url| (url, derive::<DB>(url, &hash))) {
        Some((given, Some((url, database)))) => {
            if !DB::PER_TEST_DATABASE
                && let Err(error) = create::<DB>(given, database).await
            {
                // A server that doesn't answer is told as such (and may skip the test);
                // one that answers and refused says why.
                reach::<DB>(given, variable).await?;
                return Err(error);
            }
            let mut builder = Sandbox::<DB>::from_env(LABEL, variable);
            builder.url = DatabaseUrl::derived(url, variable);
            builder
        }
        // SQLite needs no URL: its template goes to the temporary folder.
        None if DB::PER_TEST_DATABASE => {
            let folder = std::env::temp_dir().join("sandbox-sqlx");
            let url = format!("sqlite://{}/sandbox_{hash}.db", folder.display());
            Sandbox::<DB>::builder(LABEL, url)
        }
        // No URL, another database's, or one that can't be read: the builder says
        // what is wrong with it.
        Some((_, None)) | None => Sandbox::<DB>::from_env(LABEL, variable),
    };
    let builder = match migrator {
        Some(migrator) => builder.migrations(migrator),
        None => builder,
    }
    .skip_if_unreachable(skip_if_unreachable());
    // One sandbox per database and migration set, for the whole process.
    Ok(Box::leak(Box::new(builder.build()?)))
}

/// Which variable holds `DB`'s URL: `DATABASE_URL` if it is a URL of `DB`, else `DB`'s
/// own variable if set, else `DATABASE_URL` (whose absence the error then names).
fn url_variable<DB: SandboxDatabase>() -> &'static str {
    let of_db = |variable: &str| std::env::var(variable).is_ok_and(|url| is_of::<DB>(&url));
    if of_db("DATABASE_URL") || DB::URL_VARIABLE == "DATABASE_URL" {
        "DATABASE_URL"
    } else if std::env::var(DB::URL_VARIABLE).is_ok() {
        DB::URL_VARIABLE
    } else {
        "DATABASE_URL"
    }
}

/// Whether `url` is a URL of `DB`.
fn is_of<DB: SandboxDatabase>(url: &str) -> bool {
    DB::URL_SCHEMES
        .iter()
        .any(|scheme| url.starts_with(&format!("{scheme}:")))
}

/// The URL of the tests' database made beside the one `url` names, and that database's
/// name (for SQLite, the template's file beside `url`'s file). `None`: not a URL.
fn derive<DB: SandboxDatabase>(url: &str, hash: &str) -> Option<(String, String)> {
    let mut parsed = url::Url::parse(url).ok()?;
    if DB::PER_TEST_DATABASE {
        let file = crate::template::template_file(url);
        let folder = match file.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let template = folder.join(format!("sandbox_{hash}.db"));
        return Some((
            format!("sqlite://{}", template.display()),
            template.display().to_string(),
        ));
    }
    let given = parsed.path().trim_start_matches('/');
    let base = if given.is_empty() { "sqlx" } else { given };
    // Under the 63 characters PostgreSQL keeps (64 on MySQL).
    let base: String = base.chars().take(30).collect();
    let database = format!("{base}_sandbox_{hash}");
    parsed.set_path(&format!("/{database}"));
    Some((parsed.to_string(), database))
}

/// Whether tests whose default sandbox's server can't be reached are skipped (with a
/// note; failed under `CI=true`) instead of failed: `SANDBOX_SKIP_IF_UNREACHABLE=1`.
pub(crate) fn skip_if_unreachable() -> bool {
    std::env::var(SKIP_VARIABLE).is_ok_and(|value| value == "1" || value == "true")
}

/// The variable of [`skip_if_unreachable`].
const SKIP_VARIABLE: &str = "SANDBOX_SKIP_IF_UNREACHABLE";

/// Checks that the server of `url` (from `variable`) answers, after making something on
/// it failed: a server that doesn't is [`SandboxError::Unreachable`], naming the URL and
/// the variable.
async fn reach<DB: SandboxDatabase>(url: &str, variable: &str) -> Result<(), SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let database_url = DatabaseUrl::derived(url.to_owned(), variable);
    let origin = url.to_owned();
    let connected = background::run(async move { DB::Connection::connect(&origin).await })
        .await
        .map_err(|source| SandboxError::Background {
            label: LABEL.to_owned(),
            source,
        })?;
    match Reach::default().record::<DB, _>(connected, &database_url) {
        Ok(connection) => {
            let _ = background::run(connection.close()).await;
            Ok(())
        }
        Err(AcquireError::Unreachable(failure)) => Err(SandboxError::Unreachable {
            label: LABEL.to_owned(),
            failure,
        }),
        // Reached, but refused (a wrong password, a missing database): the creation
        // says what.
        Err(AcquireError::Pool(_)) => Ok(()),
    }
}

/// Creates the tests' `database` on the server of `url` unless it is there, once per run.
async fn create<DB: SandboxDatabase>(url: &str, database: String) -> Result<(), SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let origin = url.to_owned();
    let name = format!(
        "sandbox-sqlx database {database} ({:016x})",
        stable_hash(url)
    );
    let message = format!(
        "could not create the tests' database {database} beside the database of {} (the \
         tests' user needs the right to create databases: `ALTER USER .. CREATEDB` on \
         PostgreSQL, `GRANT CREATE` on MySQL)",
        ownership_runtime::runwide::redact_url(url)
    );
    once_per_run(LABEL, message, RunWide::file(), name, move || async move {
        let mut admin = DB::Connection::connect(&origin).await?;
        let created = DB::create_database(&mut admin, &database).await;
        let _ = admin.close().await;
        created
    })
    .await
}

/// The per-test databases made from `sandbox`'s database's server and migrations (for
/// tests that take `(PgPoolOptions, PgConnectOptions)`): one for each sandbox, for the
/// whole process.
#[cfg(feature = "postgres")]
pub(crate) fn template_databases(
    sandbox: &'static Sandbox<sqlx::Postgres>,
) -> Result<&'static crate::TemplateDatabase, SandboxError> {
    type Databases = HashMap<usize, &'static crate::TemplateDatabase>;
    static DATABASES: LazyLock<Mutex<Databases>> = LazyLock::new(Mutex::default);
    // Its migrations run on its template; the sandbox's database is where it connects.
    let key = std::ptr::from_ref(sandbox) as usize;
    let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(*databases.entry(key).or_insert_with(|| {
        let state = &sandbox.state;
        let databases = crate::TemplateDatabase::new("tests", state.url.as_str());
        let databases = match state.migrator {
            Some(migrator) => databases.migrations(migrator),
            None => databases,
        };
        Box::leak(Box::new(databases))
    }))
}
