//! Per-test databases copied from a migrated template: how SQLite (one writer per file)
//! gives every test its own database without a server.
//!
//! The template is made once per test run (under a run-wide file lock, so nextest's
//! processes agree), aside, under a fresh name in the template's folder: created empty,
//! migrated, closed, then renamed over the template's path. The rename is atomic, so the
//! path always holds a complete template, and another run copying the template meanwhile
//! (another checkout on this machine, a container sharing the folder) reads the one it
//! opened to the end. Each checkout copies it to a file of its own; checkin closes and
//! deletes the copy.
//!
//! Copies and templates being built are named after the process that made them (see
//! the `leftovers` module): `<stem>.test-<host>-<pid>-<started>-<n>.db` and
//! `<stem>.build-...`. Making the template first sweeps those that a process of this host
//! left when it died; another host's, a running process's, and names of any other form
//! stay.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ownership_runtime::background::{self, BackgroundError};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Executor, Pool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::SandboxDatabase;
use crate::leftovers;

/// What the names of copies and templates being built start with, after the stem.
const KINDS: [&str; 2] = ["test", "build"];

/// A test's own copy of the template: deleted when dropped, whatever ended the test
/// (checkin, the ownership timeout, its actor ending without a checkin).
pub(crate) struct TestCopy<DB: sqlx::Database> {
    pool: Pool<DB>,
    file: PathBuf,
    /// One of the sandbox's `max_connections` copies that may exist at once.
    _permit: OwnedSemaphorePermit,
}

impl<DB: sqlx::Database> Drop for TestCopy<DB> {
    fn drop(&mut self) {
        // Deleted at once (unlinking a file is one quick system call, unlike the copy),
        // so that no copy outlives its test. On Unix an open file can be unlinked:
        // connections still open write to it until the pool closes them, in the
        // background runtime, which closing needs.
        remove_database(&self.file);
        let pool = self.pool.clone();
        background::spawn_detached(async move { pool.close().await });
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
    // One self-contained file, so that a plain copy (or rename) is a consistent database.
    let migrated = match (&pool).execute("PRAGMA journal_mode = DELETE").await {
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

/// Copies the template for one test and opens the copy, once one of `copies` is free
/// (waiting at most `wait`: then `PoolTimedOut`, as a pool would answer), with one of its
/// connections.
pub(crate) async fn open_copy<DB: SandboxDatabase>(
    template: &Path,
    copies: Arc<Semaphore>,
    wait: Duration,
) -> Result<(PoolConnection<DB>, TestCopy<DB>), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let database = copy_template::<DB>(
        template,
        copies,
        wait,
        PoolOptions::new().max_connections(1),
    )
    .await?;
    let connection = database.pool.acquire().await?;
    Ok((connection, database))
}

/// Copies the template for one test, once one of `copies` is free (waiting at most
/// `wait`), and opens a pool with `options` on the copy.
pub(crate) async fn copy_template<DB: SandboxDatabase>(
    template: &Path,
    copies: Arc<Semaphore>,
    wait: Duration,
    options: PoolOptions<DB>,
) -> Result<TestCopy<DB>, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let permit = match tokio::time::timeout(wait, copies.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => return Err(sqlx::Error::PoolTimedOut),
    };
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
    if let Err(cause) = copied {
        // A folder made read-only since the template was made says so, with the fix.
        let kind = cause.kind();
        return Err(
            match TemplateError::io(template, "copy the template to", &file, cause) {
                TemplateError::File { cause, .. } => sqlx::Error::Io(cause),
                // An `io::Error` around it shows its message, and its cause as its source.
                not_writable => sqlx::Error::Io(io::Error::new(kind, not_writable)),
            },
        );
    }
    match options.connect(&url_of(&file)).await {
        Ok(pool) => Ok(TestCopy {
            pool,
            file,
            _permit: permit,
        }),
        Err(error) => {
            let _ = background::run_blocking(move || remove_database(&file)).await;
            Err(error)
        }
    }
}

impl<DB: sqlx::Database> TestCopy<DB> {
    /// The pool on the copy.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// Closes a test's copy and deletes it.
pub(crate) async fn discard<DB: sqlx::Database>(database: TestCopy<DB>) {
    database.pool.close().await;
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
