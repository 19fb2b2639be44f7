//! The file backend: an OS lock on `<dir>/<name>.lock`, and `<dir>/<name>.done` holding
//! the id of the run whose setup completed.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{RunWideError, backoff};
use crate::background;

/// The default folder: `ownership-runwide/` in the cargo target directory.
pub(super) fn default_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let executable = std::env::current_exe().ok()?;
            executable
                .ancestors()
                .find(|folder| folder.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(std::env::temp_dir);
    target.join("ownership-runwide")
}

/// A file name for `name`: its safe characters, and a hash of it when anything was
/// replaced (so that different names never share a file).
fn file_stem(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == name {
        safe
    } else {
        format!("{safe}-{:016x}", fnv1a(name))
    }
}

/// FNV-1a, 64 bits: a hash that is the same on every machine and toolchain.
pub(super) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A held file lock. Dropping it closes the file, which releases the lock; so does the
/// death of the process.
///
/// Its file work (opening, writing, `fsync`) blocks, so it runs on the background
/// runtime's blocking threads, never on the async task that asked: that task may be the
/// background worker that drives every pool connection of the process. Taking the lock
/// is a non-blocking `try_lock`, retried with a backoff.
#[derive(Debug)]
pub(super) struct FileLock {
    dir: PathBuf,
    file: Arc<File>,
}

/// Runs blocking file work on the background runtime's blocking threads; a runtime that
/// can't run it is an I/O error of the backend.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    background::run_blocking(work)
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error)))
}

impl FileLock {
    pub(super) async fn acquire(
        dir: &Path,
        name: &str,
        run_id: &str,
        deadline: Instant,
    ) -> Result<FileLock, RunWideError> {
        let path = dir.join(format!("{}.lock", file_stem(name)));
        let failed = |action: &'static str, error: std::io::Error| RunWideError::Backend {
            name: name.to_owned(),
            place: path.display().to_string(),
            action,
            source: error.into(),
        };
        let folder = dir.to_path_buf();
        blocking(move || fs::create_dir_all(folder))
            .await
            .map_err(|error| failed("create its folder", error))?;
        let opened = path.clone();
        let file = blocking(move || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(opened)
        })
        .await
        .map_err(|error| failed("open its lock file", error))?;
        let file = Arc::new(file);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(TryLockError::WouldBlock) => {
                    let reader = file.clone();
                    let holder = blocking(move || {
                        let mut holder = String::new();
                        (&*reader).read_to_string(&mut holder).map(|_| holder)
                    })
                    .await
                    .unwrap_or_default();
                    return Err(RunWideError::Timeout {
                        name: name.to_owned(),
                        place: path.display().to_string(),
                        holder: if holder.trim().is_empty() {
                            String::new()
                        } else {
                            format!(", held by {}", holder.trim())
                        },
                        waited: started.elapsed(),
                    });
                }
                Err(TryLockError::Error(error)) => {
                    return Err(failed("lock its file", error));
                }
            }
        }
        // Say who holds it, for the timeout message of whoever waits.
        let holder = format!("process {} of run {run_id}", std::process::id());
        let writer = file.clone();
        let _ = blocking(move || {
            let mut file = &*writer;
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(holder.as_bytes())
        })
        .await;
        Ok(FileLock {
            dir: dir.to_path_buf(),
            file,
        })
    }

    pub(super) async fn is_done(&self, name: &str, run_id: &str) -> Result<bool, RunWideError> {
        let (dir, owned, run_id) = (self.dir.clone(), name.to_owned(), run_id.to_owned());
        let place = done_path(&dir, name);
        background::run_blocking(move || is_done(&dir, &owned, &run_id))
            .await
            .unwrap_or_else(|error| Err(unavailable(name, &place, error)))
    }

    pub(super) async fn mark_done(&self, name: &str, run_id: &str) -> Result<(), RunWideError> {
        let (dir, owned, run_id) = (self.dir.clone(), name.to_owned(), run_id.to_owned());
        let (place, file) = (done_path(&dir, name), self.file.clone());
        background::run_blocking(move || {
            mark_done(&dir, &owned, &run_id)?;
            // Keep the lock file honest for whoever reads it next.
            let _ = file.sync_all();
            Ok(())
        })
        .await
        .unwrap_or_else(|error| Err(unavailable(name, &place, error)))
    }
}

/// The error of file work that the background runtime could not run.
fn unavailable(name: &str, place: &Path, error: background::BackgroundError) -> RunWideError {
    RunWideError::Backend {
        name: name.to_owned(),
        place: place.display().to_string(),
        action: "run its file work on the background runtime",
        source: std::io::Error::other(error).into(),
    }
}

/// The mark of `name`'s completion in `dir`.
fn done_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.done", file_stem(name)))
}

/// Whether `dir` holds the mark that `name` completed in the run `run_id`. Read without
/// the lock: marks are only ever replaced whole (see [`mark_done`]).
pub(super) fn is_done(dir: &Path, name: &str, run_id: &str) -> Result<bool, RunWideError> {
    let done = done_path(dir, name);
    match fs::read_to_string(&done) {
        Ok(done_for) => Ok(done_for == run_id),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(RunWideError::Backend {
            name: name.to_owned(),
            place: done.display().to_string(),
            action: "read its mark of completion",
            source: error.into(),
        }),
    }
}

/// Marks `name` completed in the run `run_id`, in `dir` (created if needed).
pub(super) fn mark_done(dir: &Path, name: &str, run_id: &str) -> Result<(), RunWideError> {
    let done = done_path(dir, name);
    // Written aside and renamed: a process killed meanwhile leaves no half mark, and a
    // reader sees the old mark or the new one.
    let partial = dir.join(format!("{}.done.{}", file_stem(name), std::process::id()));
    fs::create_dir_all(dir)
        .and_then(|()| fs::write(&partial, run_id))
        .and_then(|()| fs::rename(&partial, &done))
        .map_err(|error| RunWideError::Backend {
            name: name.to_owned(),
            place: done.display().to_string(),
            action: "mark the setup done",
            source: error.into(),
        })
}
