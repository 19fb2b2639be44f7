//! Per-test databases copied from a migrated template: how SQLite (one writer per file)
//! gives every test its own database without a server.
//!
//! The template is made once per test run (under a run-wide file lock, so nextest's
//! processes agree): created empty, migrated, and closed. Each checkout copies it to a
//! file of its own; checkin closes and deletes the copy. Copies left by a crashed run (a
//! process id that no longer runs) are swept when the next run makes its template.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Executor, Pool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::SandboxDatabase;

/// A test's own copy of the template: deleted when dropped, whatever ended the test
/// (checkin, the ownership timeout, its actor ending without a checkin).
pub(crate) struct TestDatabase<DB: sqlx::Database> {
    pool: Pool<DB>,
    file: PathBuf,
    /// One of the sandbox's `max_connections` copies that may exist at once.
    _permit: OwnedSemaphorePermit,
}

impl<DB: sqlx::Database> Drop for TestDatabase<DB> {
    fn drop(&mut self) {
        // On Unix an open file can be unlinked: connections still open write to it until
        // the pool closes them (in the background runtime, which closing needs).
        remove_database(&self.file);
        if let Ok(runtime) = ownership_runtime::background::handle() {
            let _entered = runtime.enter();
            let pool = self.pool.clone();
            runtime.spawn(async move { pool.close().await });
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

/// Deletes a database file and its journal files.
fn remove_database(file: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

/// The name of a copy: `<template stem>.test-<pid>-<n>.db`, beside the template.
fn copy_file(template: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let stem = template
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("sandbox");
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    template.with_file_name(format!("{stem}.test-{}-{number}.db", std::process::id()))
}

/// Removes copies whose process no longer runs (left by a crashed run).
fn sweep(template: &Path) {
    let Some(folder) = template.parent() else {
        return;
    };
    let stem = template
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("sandbox");
    let prefix = format!("{stem}.test-");
    let Ok(entries) = std::fs::read_dir(if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok());
        let running = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !running {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes the template anew: empty, migrated, closed.
pub(crate) async fn build_template<DB: SandboxDatabase>(
    template: &Path,
    migrator: Option<&Migrator>,
) -> Result<(), String>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if let Some(folder) = template.parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("could not create {}: {error}", folder.display()))?;
    }
    sweep(template);
    remove_database(template);
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(&url_of(template))
        .await
        .map_err(|error| {
            format!(
                "could not create the template {}: {error}",
                template.display()
            )
        })?;
    // One self-contained file, so that a plain copy is a consistent database.
    (&pool)
        .execute("PRAGMA journal_mode = DELETE")
        .await
        .map_err(|error| error.to_string())?;
    if let Some(migrator) = migrator {
        migrator
            .run(&pool)
            .await
            .map_err(|error| error.to_string())?;
    }
    pool.close().await;
    Ok(())
}

/// Copies the template for one test and opens the copy, once one of `copies` is free
/// (waiting at most `wait`: then `PoolTimedOut`, as a pool would answer).
pub(crate) async fn open_copy<DB: SandboxDatabase>(
    template: &Path,
    copies: Arc<Semaphore>,
    wait: Duration,
) -> Result<(PoolConnection<DB>, TestDatabase<DB>), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let permit = match tokio::time::timeout(wait, copies.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => return Err(sqlx::Error::PoolTimedOut),
    };
    let file = copy_file(template);
    if let Err(error) = std::fs::copy(template, &file) {
        remove_database(&file);
        return Err(error.into());
    }
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(&url_of(&file))
        .await;
    let pool = match pool {
        Ok(pool) => pool,
        Err(error) => {
            remove_database(&file);
            return Err(error);
        }
    };
    let database = TestDatabase {
        pool,
        file,
        _permit: permit,
    };
    let connection = database.pool.acquire().await?;
    Ok((connection, database))
}

/// Closes a test's copy and deletes it.
pub(crate) async fn discard<DB: sqlx::Database>(database: TestDatabase<DB>) {
    database.pool.close().await;
    drop(database);
}
