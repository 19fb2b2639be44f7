//! Per-test databases copied from a migrated template: how SQLite (one writer per file)
//! gives every test its own database without a server.
//!
//! The template is made once per test run (under a run-wide file lock, so nextest's
//! processes agree), aside, under a fresh name in the template's folder: created empty,
//! migrated, closed, then renamed over the template's path. The rename is atomic, so the
//! path always holds a complete template, and another run copying the template meanwhile
//! (another checkout on this machine, a container sharing the folder) reads the one it
//! opened to the end.
//!
//! Each checkout gets a copy of its own, in one of two places ([`Place`]):
//! - **in memory**, where the database can load a template's image
//!   ([`SandboxDatabase::in_memory`]; SQLite, by `sqlite3_deserialize`): the template's
//!   file is read once per process (its image, kept for the process's life: one per
//!   template, however many tests run), and each test's own connection, on a private
//!   in-memory database, loads a copy of it. Nothing is written to disk, and the copy goes
//!   with the connection: its pool never opens a second one (which would be an empty
//!   database), and reports a test that lost its connection;
//! - **in a file** beside the template, for tests that connect to their database by
//!   themselves: copied from the template, deleted at checkin.
//!
//! Copies and templates being built are named after the process that made them (see
//! the `leftovers` module): `<stem>.test-<host>-<pid>-<started>-<n>.db` and
//! `<stem>.build-...`. Making the template first sweeps those that a process of this host
//! left when it died; another host's, a running process's, and names of any other form
//! stay.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use ownership_runtime::background::{self, BackgroundError};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Executor, Pool};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::backend::SandboxDatabase;
use crate::leftovers;

/// What the names of copies and templates being built start with, after the stem.
const KINDS: [&str; 2] = ["test", "build"];

/// How long a copy's permit waits for its pool to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Where a test's own copy of the template lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In memory, in the one connection of the copy's pool, where the database can
    /// ([`SandboxDatabase::in_memory`]); in a file elsewhere.
    Memory,
    /// In a file beside the template: for a test that connects to it by itself.
    File,
}

/// A test's own copy of the template, gone when dropped, whatever ended the test
/// (checkin, the ownership timeout, its actor ending without a checkin): a file is
/// deleted, a copy in memory goes with its pool's connection.
pub(crate) struct TestCopy<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// The copy's file; `None` for a copy in memory.
    file: Option<PathBuf>,
    /// A copy in memory: set when its pool refused a second connection (the first one,
    /// and the database in it, was lost).
    lost: Option<Arc<AtomicBool>>,
    /// One of the sandbox's `max_connections` copies that may exist at once, given back
    /// once the copy's pool is closed (and a copy in memory freed).
    permit: Option<OwnedSemaphorePermit>,
}

impl<DB: sqlx::Database> Drop for TestCopy<DB> {
    fn drop(&mut self) {
        // Deleted at once (unlinking a file is one quick system call, unlike the copy),
        // so that no copy outlives its test. On Unix an open file can be unlinked:
        // connections still open write to it until the pool closes them, in the
        // background runtime, which closing needs. A copy in memory is freed when its
        // connection closes.
        if let Some(file) = &self.file {
            remove_database(file);
        }
        // The permit waits for the close (but not for a connection something the test
        // left behind still holds: that is reported to the test).
        let (pool, permit) = (self.pool.clone(), self.permit.take());
        background::spawn_detached(async move {
            let _ = tokio::time::timeout(CLOSE_WAIT, pool.close()).await;
            drop(permit);
        });
    }
}

/// Why the template could not be made: the source of
/// [`SandboxError::Template`](crate::SandboxError::Template), whose message goes on with
/// this one's and then its cause (`source()`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    /// The folder refuses writes (permissions, a read-only mount).
    #[error(
        "the folder {} of the SQLite template {} is not writable, and the sandbox writes its \
         template and one copy per test there (make it writable: `chmod u+w {}`, or mount it \
         read-write; or point the sandbox's URL at a writable folder, under `target/` say)",
        folder.display(),
        template.display(),
        folder.display()
    )]
    FolderNotWritable {
        folder: PathBuf,
        template: PathBuf,
        #[source]
        cause: io::Error,
    },
    /// Another file-system error.
    #[error("could not {doing} {}", file.display())]
    File {
        doing: &'static str,
        file: PathBuf,
        #[source]
        cause: io::Error,
    },
    /// SQLite refused the new template.
    #[error("could not create the template {}", template.display())]
    Create {
        template: PathBuf,
        #[source]
        cause: sqlx::Error,
    },
    /// A migration failed on the new template.
    #[error("could not migrate the template {}", template.display())]
    Migrate {
        template: PathBuf,
        #[source]
        cause: MigrateError,
    },
    /// The file work could not run on the background runtime.
    #[error("could not prepare the template {}", template.display())]
    Background {
        template: PathBuf,
        source: BackgroundError,
    },
}

impl TemplateError {
    /// `cause`, met while `doing` something to `file` in the folder of `template`.
    fn io(template: &Path, doing: &'static str, file: &Path, cause: io::Error) -> TemplateError {
        if matches!(
            cause.kind(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
        ) {
            TemplateError::FolderNotWritable {
                folder: folder_of(template).to_owned(),
                template: template.to_owned(),
                cause,
            }
        } else {
            TemplateError::File {
                doing,
                file: file.to_owned(),
                cause,
            }
        }
    }
}

/// The template's file, from the sandbox's URL (`sqlite://path` or `sqlite:path`, any
/// query string dropped).
pub(crate) fn template_file(url: &str) -> PathBuf {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(path)
}

fn url_of(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// The folder of the template (`.` for a bare file name).
fn folder_of(template: &Path) -> &Path {
    match template.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    }
}

fn stem_of(template: &Path) -> &str {
    template
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("sandbox")
}

/// The files of a database besides its main file.
const JOURNALS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Deletes a database file and its journal files.
fn remove_database(file: &Path) {
    let _ = std::fs::remove_file(file);
    for suffix in JOURNALS {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

/// A fresh file beside the template for this process: `<stem>.<kind>-<maker>-<n>.db`.
fn fresh_file(template: &Path, kind: &str) -> PathBuf {
    let name = leftovers::fresh_name(kind, '-');
    folder_of(template).join(format!("{}.{name}.db", stem_of(template)))
}

/// Removes the copies and templates being built (and their journals) that processes of
/// this host left when they died.
fn sweep(template: &Path) {
    let Ok(entries) = std::fs::read_dir(folder_of(template)) else {
        return;
    };
    let stem = format!("{}.", stem_of(template));
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let database = JOURNALS
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        let made = database
            .strip_prefix(&stem)
            .and_then(|made| made.strip_suffix(".db"));
        if made.is_some_and(|made| leftovers::left_by_the_dead(made, &KINDS, '-')) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes the template anew: empty, migrated and closed under a fresh name, then renamed
/// over the template's path (never deleted: another run may be copying it).
pub(crate) async fn build_template<DB: SandboxDatabase>(
    template: &Path,
    migrator: Option<&Migrator>,
) -> Result<(), TemplateError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let (owned, build) = (template.to_owned(), fresh_file(template, "build"));
    blocking(template, {
        let build = build.clone();
        move || {
            let folder = folder_of(&owned);
            std::fs::create_dir_all(folder)
                .map_err(|cause| TemplateError::io(&owned, "create the folder", folder, cause))?;
            sweep(&owned);
            std::fs::File::create_new(&build)
                .map_err(|cause| TemplateError::io(&owned, "create", &build, cause))?;
            Ok(())
        }
    })
    .await?;
    let migrated = migrate_file::<DB>(&build, template, migrator).await;
    let owned = template.to_owned();
    blocking(template, move || {
        let placed = migrated.and_then(|()| {
            std::fs::rename(&build, &owned).map_err(|cause| {
                TemplateError::io(&owned, "rename the new template to", &owned, cause)
            })
        });
        if placed.is_err() {
            remove_database(&build);
        }
        placed
    })
    .await
}

/// Migrates the empty database `file`, to become `template`, and closes it.
async fn migrate_file<DB: SandboxDatabase>(
    file: &Path,
    template: &Path,
    migrator: Option<&Migrator>,
) -> Result<(), TemplateError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let created = |cause| TemplateError::Create {
        template: template.to_owned(),
        cause,
    };
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(&url_of(file))
        .await
        .map_err(created)?;
    // One self-contained file, so that a plain copy (or rename) is a consistent database:
    // no WAL. And no waiting for the disk: the journal is kept in memory and nothing is
    // synced, since the template is made anew by every run (a crash leaves at worst a
    // build file for the next run's sweep, or a template the next run replaces), and other
    // processes read what was written through the page cache. Its migrations' commits
    // would otherwise wait for the disk several times each.
    let setup = "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF";
    let migrated = match (&pool).execute(setup).await {
        Err(cause) => Err(created(cause)),
        Ok(_) => match migrator {
            Some(migrator) => migrator
                .run(&pool)
                .await
                .map_err(|cause| TemplateError::Migrate {
                    template: template.to_owned(),
                    cause,
                }),
            None => Ok(()),
        },
    };
    pool.close().await;
    migrated
}

/// Copies the template for one test, in `place`, once one of `copies` is free (waiting
/// at most `wait`: then `PoolTimedOut`, as a pool would answer), and opens a pool with
/// `options` on the copy; returns the copy and a connection of its pool.
pub(crate) async fn copy_template<DB: SandboxDatabase>(
    template: &Path,
    copies: Arc<Semaphore>,
    wait: Duration,
    options: PoolOptions<DB>,
    place: Place,
) -> Result<(TestCopy<DB>, PoolConnection<DB>), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let permit = match tokio::time::timeout(wait, copies.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => return Err(sqlx::Error::PoolTimedOut),
    };
    if place == Place::Memory
        && let Some(in_memory) = DB::in_memory()
    {
        let lost = Arc::new(AtomicBool::new(false));
        let (pool, connection) = copy_in_memory(template, options, in_memory, &lost).await?;
        let copy = TestCopy {
            pool,
            file: None,
            lost: Some(lost),
            permit: Some(permit),
        };
        return Ok((copy, connection));
    }
    let file = copy_file(template).await?;
    let opened = match options.connect(&url_of(&file)).await {
        Ok(pool) => match pool.acquire().await {
            Ok(connection) => Ok((pool, connection)),
            Err(error) => {
                pool.close().await;
                Err(error)
            }
        },
        Err(error) => Err(error),
    };
    match opened {
        Ok((pool, connection)) => Ok((
            TestCopy {
                pool,
                file: Some(file),
                lost: None,
                permit: Some(permit),
            },
            connection,
        )),
        Err(error) => {
            let _ = background::run_blocking(move || remove_database(&file)).await;
            Err(error)
        }
    }
}

/// Copies the template to a fresh file beside it, and returns the file.
async fn copy_file(template: &Path) -> Result<PathBuf, sqlx::Error> {
    let file = fresh_file(template, "test");
    let copied = background::run_blocking({
        let (template, file) = (template.to_owned(), file.clone());
        move || {
            let copied = std::fs::copy(&template, &file);
            if copied.is_err() {
                remove_database(&file);
            }
            copied
        }
    })
    .await
    .map_err(|error| sqlx::Error::Io(io::Error::other(error)))?;
    match copied {
        Ok(_) => Ok(file),
        Err(cause) => {
            // A folder made read-only since the template was made says so, with the fix.
            let kind = cause.kind();
            Err(
                match TemplateError::io(template, "copy the template to", &file, cause) {
                    TemplateError::File { cause, .. } => sqlx::Error::Io(cause),
                    // An `io::Error` around it shows its message, and its cause as its
                    // source.
                    not_writable => sqlx::Error::Io(io::Error::new(kind, not_writable)),
                },
            )
        }
    }
}

/// Why a copy in memory refuses a second connection.
const LOST: &str = "sandbox-sqlx: the test's in-memory SQLite database was lost with its \
     connection (closed by the test, `detach()`ed, or broken), and a new connection would be \
     an empty database, so the test's pool opens no other. Keep the connection in the pool \
     (drop `PoolConnection`s instead of closing or detaching them); a test that opens \
     connections of its own takes `(SqlitePoolOptions, SqliteConnectOptions)` and gets a \
     file";

/// The error of a copy in memory whose connection was lost.
pub(crate) fn lost_error() -> sqlx::Error {
    sqlx::Error::Configuration(LOST.into())
}

/// Opens a pool of one connection on a private in-memory database (`in_memory`'s
/// options) into which the template's image is loaded. The pool never opens a second
/// connection: it refuses one (and sets `lost`), since it would be an empty database.
async fn copy_in_memory<DB: SandboxDatabase>(
    template: &Path,
    options: PoolOptions<DB>,
    in_memory: <DB::Connection as sqlx::Connection>::Options,
    lost: &Arc<AtomicBool>,
) -> Result<(Pool<DB>, PoolConnection<DB>), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let image = image_of(template).await?;
    let (connected, lost) = (Arc::new(AtomicBool::new(false)), lost.clone());
    // One connection, kept for as long as the pool: no minimum to refill, no idle
    // timeout or lifetime to close it, no test that could find it broken and drop it.
    let pool = options
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .after_connect(move |_, _| {
            let refused = connected.swap(true, Ordering::SeqCst);
            if refused {
                lost.store(true, Ordering::SeqCst);
            }
            Box::pin(async move {
                match refused {
                    true => Err(lost_error()),
                    false => Ok(()),
                }
            })
        })
        .connect_lazy_with(in_memory);
    let loaded = async {
        let mut connection = pool.acquire().await?;
        DB::load_image(&mut connection, &image).await?;
        Ok::<_, sqlx::Error>(connection)
    }
    .await;
    match loaded {
        Ok(connection) => Ok((pool, connection)),
        Err(error) => {
            pool.close().await;
            Err(error)
        }
    }
}

/// The image of a template: its file's bytes, read once per process.
#[derive(Default)]
struct Image {
    bytes: OnceCell<Arc<[u8]>>,
    /// How many times the file was read (once, unless reading failed).
    #[cfg(test)]
    reads: std::sync::atomic::AtomicUsize,
}

/// The images of the templates this process has copied in memory, by template: one per
/// template, kept for the process's life (a run's template never changes under it).
static IMAGES: LazyLock<Mutex<HashMap<PathBuf, Arc<Image>>>> = LazyLock::new(Mutex::default);

fn image_entry(template: &Path) -> Arc<Image> {
    IMAGES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(template.to_owned())
        .or_default()
        .clone()
}

/// The template's image, read from its file by the first copy of the process.
async fn image_of(template: &Path) -> Result<Arc<[u8]>, sqlx::Error> {
    let image = image_entry(template);
    let bytes = image
        .bytes
        .get_or_try_init(|| async {
            #[cfg(test)]
            image.reads.fetch_add(1, Ordering::SeqCst);
            let file = template.to_owned();
            let read = background::run_blocking(move || std::fs::read(&file))
                .await
                .map_err(|error| sqlx::Error::Io(io::Error::other(error)))?;
            read.map(Arc::from).map_err(|cause| {
                // "could not read <template>", with the cause as its source.
                let kind = cause.kind();
                let error = TemplateError::File {
                    doing: "read",
                    file: template.to_owned(),
                    cause,
                };
                sqlx::Error::Io(io::Error::new(kind, error))
            })
        })
        .await?;
    Ok(bytes.clone())
}

/// How many times this process read the image of `template`.
#[cfg(test)]
pub(crate) fn image_reads(template: &Path) -> usize {
    image_entry(template).reads.load(Ordering::SeqCst)
}

impl<DB: sqlx::Database> TestCopy<DB> {
    /// The pool on the copy.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Whether the copy is in memory, and its pool refused a second connection: the
    /// test lost its database with its first one.
    pub(crate) fn lost(&self) -> bool {
        self.lost
            .as_ref()
            .is_some_and(|lost| lost.load(Ordering::SeqCst))
    }
}

/// Throws a test's copy away: a file is deleted once its pool is closed; a copy in
/// memory goes with its connection, which closes in the background (nothing waits for
/// it).
pub(crate) async fn discard<DB: sqlx::Database>(database: TestCopy<DB>) {
    if database.file.is_some() {
        database.pool.close().await;
    }
    drop(database);
}

/// Runs blocking file work for the template on the background runtime's blocking threads.
async fn blocking<T: Send + 'static>(
    template: &Path,
    work: impl FnOnce() -> Result<T, TemplateError> + Send + 'static,
) -> Result<T, TemplateError> {
    background::run_blocking(work)
        .await
        .unwrap_or_else(|source| {
            Err(TemplateError::Background {
                template: template.to_owned(),
                source,
            })
        })
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::path::PathBuf;
    use std::sync::LazyLock;

    use ownership_runtime::harness::{TestConfig, TestResource, run_async};
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::pool::PoolOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{SqlSafeStr, Sqlite, SqlitePool};

    use crate::{Sandbox, TestArgs, TestMigrations};

    fn folder() -> PathBuf {
        std::env::temp_dir().join(format!("sandbox-sqlx-image-{}", std::process::id()))
    }

    static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
        let orders = "CREATE TABLE orders (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)";
        Migrator::with_migrations(vec![Migration::new(
            1,
            "orders".into(),
            MigrationType::Simple,
            orders.into_sql_str(),
            false,
        )])
    });

    static SANDBOX: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
        let url = format!("sqlite://{}", folder().join("app.db").display());
        Sandbox::builder("image", url)
            .migrations(&MIGRATOR)
            .max_connections(8)
            .auto()
            .build()
            .unwrap()
    });

    static POOL: TestArgs<(SqlitePool,)> =
        TestArgs::new(TestMigrations::None, &[]).sandbox(|| &SANDBOX);
    static POOL_TEST: [&dyn TestResource; 1] = [&POOL];
    static FILE: TestArgs<(PoolOptions<Sqlite>, SqliteConnectOptions)> =
        TestArgs::new(TestMigrations::None, &[]).sandbox(|| &SANDBOX);
    static FILE_TEST: [&dyn TestResource; 1] = [&FILE];

    /// Inserts the same key as every other test, and sees only its own row.
    async fn insert_the_key(pool: &SqlitePool) {
        sqlx::query("INSERT INTO orders (token) VALUES ('the key')")
            .execute(pool)
            .await
            .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }

    /// A process reads a template's image once, however many tests copy it in memory
    /// (through a sandbox or as a pool argument, at once or one after another); a copy in
    /// a file doesn't read it.
    #[test]
    fn a_process_reads_each_templates_image_once() {
        let _ = std::fs::remove_dir_all(folder());
        let template = folder().join("app.db");
        let sandboxed: &'static [&'static dyn TestResource] =
            Box::leak(Box::new([&*SANDBOX as &dyn TestResource]));
        let concurrent: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    run_async(
                        TestConfig::new("template::image_at_once").resources(sandboxed),
                        || async {
                            let db = SANDBOX.pool();
                            sqlx::query("INSERT INTO orders (token) VALUES ('the key')")
                                .execute(&db)
                                .await
                                .unwrap();
                        },
                    );
                })
            })
            .collect();
        for test in concurrent {
            test.join().unwrap();
        }
        for _ in 0..5 {
            run_async(
                TestConfig::new("template::image_as_a_pool").resources(&POOL_TEST),
                || {
                    let (pool,) = POOL.take();
                    async move { insert_the_key(&pool).await }
                },
            );
        }
        run_async(
            TestConfig::new("template::image_in_a_file").resources(&FILE_TEST),
            || {
                let (options, connect) = FILE.take();
                async move {
                    let pool = options.connect_with(connect).await.unwrap();
                    insert_the_key(&pool).await;
                    pool.close().await;
                }
            },
        );
        assert_eq!(super::image_reads(&template), 1);
        let left: Vec<_> = std::fs::read_dir(folder())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left, ["app.db"], "nothing but the template on disk");
        let _ = std::fs::remove_dir_all(folder());
    }
}
