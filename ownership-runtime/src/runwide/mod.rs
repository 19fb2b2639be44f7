//! One holder per test run: run-wide setup that runs once across all the test processes
//! of a run, and a run-wide lock for services that only one process may hold.
//!
//! GlobalChild (Elixir) for test processes. `cargo test` runs each test binary as a
//! process; nextest runs one process per test; several CI machines may share one database
//! server. [`RunWide::once`] makes one of them run a setup (migrations, a template
//! database, an expensive fixture) while the others wait, and then lets the others see
//! it done; if the process running it dies (even by `kill -9`), the lock it held is
//! released by the operating system (or the database server) and the next waiting process
//! runs the setup itself. [`RunWide::lock`] is the lock on its own, for holding a service.
//!
//! # Backends
//!
//! - [`RunWide::file`]: an OS file lock (`flock`) under the cargo target directory, for
//!   the processes of one machine;
//! - [`RunWide::postgres`] (feature `postgres`): a PostgreSQL advisory lock and a table
//!   of completed setups, for machines that share one database server.
//!
//! # Which run?
//!
//! A setup counts as done for one *run*, identified by [`current_run_id`]: the
//! `OWNERSHIP_RUN_ID` environment variable if set; else nextest's `NEXTEST_RUN_ID`; else
//! (under `cargo test`, which starts every test binary of one invocation as its child)
//! the parent process's id and start time. The next `cargo test` is a new run, and runs
//! the setup again: make setups idempotent (migrations are).
//!
//! # Known done, with no lock
//!
//! Under nextest every test is a process, and asking the backend whether a setup is done
//! costs each of them a lock (and, on PostgreSQL, a connection). So each machine also
//! keeps a note, in a file, of the setups it saw done in the current run:
//! [`RunWide::once`] reads it before it locks anything, and [`RunWide::note_done`]
//! records a setup found done by other means (every migration already applied, say).
//! Notes are trusted only in a run with an explicit id (`OWNERSHIP_RUN_ID`,
//! `NEXTEST_RUN_ID`, [`RunWide::with_run_id`]): a test binary started by hand from a
//! shell has the shell for parent, which outlives many runs.

mod file;
#[cfg(feature = "postgres")]
mod postgres;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long [`RunWide::once`] and [`RunWide::lock`] wait for another holder by default.
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::runwide::{DEFAULT_TIMEOUT, RunWide};
///
/// assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(600));
/// // A setup known to take long (a big fixture import) may wait for twice as long.
/// let patient = RunWide::file().timeout(DEFAULT_TIMEOUT * 2);
/// # let _ = patient;
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The folder of the run-wide files of this machine: `ownership-runwide/` in the cargo
/// target directory.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn default_dir() -> PathBuf {
    file::default_dir()
}

/// The identity of the current test run (see the [module docs](self)).
///
/// ```
/// let run = ownership_runtime::runwide::current_run_id();
/// assert!(!run.is_empty());
/// assert_eq!(run, ownership_runtime::runwide::current_run_id());
/// ```
pub fn current_run_id() -> String {
    named_run_id().unwrap_or_else(unnamed_run_id)
}

/// The run's id if a variable names it.
fn named_run_id() -> Option<String> {
    ["OWNERSHIP_RUN_ID", "NEXTEST_RUN_ID"]
        .into_iter()
        .find_map(|variable| std::env::var(variable).ok().filter(|id| !id.is_empty()))
}

/// The run's id when no variable names it: the parent process's.
fn unnamed_run_id() -> String {
    #[cfg(not(unix))]
    {
        format!("process-{}", std::process::id())
    }
    #[cfg(unix)]
    run_id_of_parent()
}

/// A hash of `text` that is the same on every machine, platform and toolchain: for
/// naming a run-wide setup after what it depends on (a database URL, a schema) without
/// putting that text, which may hold a password, in a file name or a lock's name.
///
/// ```
/// use ownership_runtime::runwide::stable_hash;
///
/// assert_eq!(stable_hash("postgres://app:secret@db/app"), stable_hash("postgres://app:secret@db/app"));
/// assert_ne!(stable_hash("db-1"), stable_hash("db-2"));
/// ```
pub fn stable_hash(text: &str) -> u64 {
    file::fnv1a(text)
}

/// `url` with its password replaced by `***`, for messages: a run-wide lock's place, a
/// database that can't be reached.
///
/// ```
/// use ownership_runtime::runwide::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cr@t@db:5432/app?sslmode=disable"),
///     "postgres://app:***@db:5432/app?sslmode=disable"
/// );
/// assert_eq!(redact_url("mysql://root@127.0.0.1/test"), "mysql://root@127.0.0.1/test");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(unix)]
fn run_id_of_parent() -> String {
    let parent = std::os::unix::process::parent_id();
    // The parent's start time tells a reused pid apart.
    let started = process_start_time(parent)
        .map(|started| started.to_string())
        .unwrap_or_default();
    format!("parent-{parent}-{started}")
}

/// When process `pid` started, in clock ticks since boot (the 22nd field of
/// `/proc/<pid>/stat`): with the pid, an identity that no later process of the machine
/// shares, though pids are reused. `None` where there is no `/proc` (not Linux), or no such
/// process.
///
/// ```
/// use ownership_runtime::runwide::process_start_time;
///
/// # if cfg!(target_os = "linux") {
/// let me = process_start_time(std::process::id());
/// assert!(me.is_some());
/// assert_eq!(me, process_start_time(std::process::id()));
/// # }
/// ```
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_of_stat(&stat)
}

/// The start time field of a `/proc/<pid>/stat` line (see [`process_start_time`]). The
/// command name, the 2nd field, is in parentheses and may hold spaces and parentheses.
///
/// ```
/// use ownership_runtime::runwide::start_time_of_stat;
///
/// let stat = "42 (my (test) bin) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2";
/// assert_eq!(start_time_of_stat(stat), Some(987_654));
/// assert_eq!(start_time_of_stat("42 (short) S 1"), None);
/// ```
pub fn start_time_of_stat(stat: &str) -> Option<u64> {
    let fields = stat.get(stat.rfind(')')? + 1..)?;
    fields.split_whitespace().nth(19)?.parse().ok()
}

/// What [`RunWide::once`] did.
///
/// ```
/// use ownership_runtime::runwide::Once;
///
/// assert!(Once::RanHere.ran_here());
/// assert!(!Once::AlreadyDone.ran_here());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// This call ran the setup, to completion.
    RanHere,
    /// The setup had already completed in this run (in this process or another).
    AlreadyDone,
}

impl Once {
    /// Whether this call ran the setup.
    ///
    /// ```
    /// use ownership_runtime::runwide::{RunWide, RunWideError};
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("runwide-ran-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let run_wide = RunWide::file_in(&dir);
    /// let outcome = run_wide.once("fixtures", || async { Ok::<_, String>(()) }).await?;
    /// if outcome.ran_here() {
    ///     println!("this process loaded the fixtures");
    /// }
    /// assert!(outcome.ran_here());
    /// assert!(!run_wide.once("fixtures", || async { Ok::<_, String>(()) }).await?.ran_here());
    /// # Ok::<(), RunWideError>(())
    /// # })?;
    /// # Ok::<(), RunWideError>(())
    /// ```
    pub fn ran_here(self) -> bool {
        self == Once::RanHere
    }
}

/// Why a run-wide operation failed.
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::runwide::{RunWide, RunWideError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("runwide-error-doc-{}", std::process::id()));
/// let run_wide = RunWide::file_in(&dir).timeout(Duration::from_millis(50));
/// let _held = run_wide.lock("mail-server").await?;
/// // Another holder (here, another call) gives up after the timeout.
/// let Err(error) = run_wide.lock("mail-server").await else { panic!("taken twice") };
/// assert!(matches!(&error, RunWideError::Timeout { name, .. } if name == "mail-server"));
/// # Ok::<(), RunWideError>(())
/// # })?;
/// # Ok::<(), RunWideError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunWideError {
    /// Another process held the lock for longer than the timeout.
    #[error(
        "waited {waited:?} for the run-wide lock `{name}` ({place}){holder}, and gave up. The \
         holder may hang in its setup: look at that process, or raise the wait with \
         `RunWide::timeout`"
    )]
    Timeout {
        /// The lock's name.
        name: String,
        /// Where the lock lives (a file, a database).
        place: String,
        /// Who held it, if known (`", held by ..."`).
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// The setup returned an error (the source). It is not marked done: the next process
    /// (or call) runs it again.
    #[error(
        "the run-wide setup `{name}` failed (it is not marked done, so the next process that \
         needs it runs it again)"
    )]
    SetupFailed {
        /// The setup's name.
        name: String,
        /// The setup's error, as `Display` shows it: the same error as the source, for
        /// callers that keep messages. Prefer the source (and
        /// [`error_chain`](crate::error_chain)); this field goes once no caller needs it.
        message: String,
        /// The setup's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend failed (a file could not be written, the database could not be
    /// reached); the source says why.
    #[error(
        "the run-wide lock `{name}` could not {action} at {place} (every process of the run \
         needs it: check that the folder is writable, or that the database server is up)"
    )]
    Backend {
        /// The lock's name.
        name: String,
        /// Where (a path, a database).
        place: String,
        /// What it was doing: "create its folder", "connect", ...
        action: &'static str,
        /// What went wrong.
        #[source]
        source: BackendCause,
    },
}

impl RunWideError {
    /// The name of the lock or setup the error is about.
    ///
    /// ```
    /// use ownership_runtime::runwide::RunWide;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let error = RunWide::file_in("/dev/null/locks").lock("mail-server").await.unwrap_err();
    /// assert_eq!(error.name(), "mail-server");
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        match self {
            RunWideError::Timeout { name, .. }
            | RunWideError::SetupFailed { name, .. }
            | RunWideError::Backend { name, .. } => name,
        }
    }
}

/// Why a backend of run-wide locks failed: the file system's error, or the database's.
///
/// ```
/// use ownership_runtime::error_chain;
/// use ownership_runtime::runwide::{BackendCause, RunWide, RunWideError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A folder can't be made inside a file.
/// let error = RunWide::file_in("/dev/null/locks").lock("mail-server").await.unwrap_err();
/// assert!(matches!(
///     &error,
///     RunWideError::Backend { action: "create its folder", source: BackendCause::Io(_), .. }
/// ));
/// assert!(error_chain(&error).to_string().ends_with("Not a directory (os error 20)"));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendCause {
    /// A file could not be made, read, written or locked.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The PostgreSQL server could not be reached, or refused a query.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Where the locks and the marks of completed setups live.
#[derive(Debug, Clone)]
enum Backend {
    File(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

/// Run-wide locks and once-per-run setups (see the [module docs](self)).
///
/// ```
/// use ownership_runtime::runwide::{Once, RunWide};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("runwide-doc-{}", std::process::id()));
/// let run_wide = RunWide::file_in(&dir);
/// let first = run_wide.once("schema", || async { Ok::<_, String>(()) }).await.unwrap();
/// let second = run_wide.once("schema", || async { Ok::<_, String>(()) }).await.unwrap();
/// assert_eq!((first, second), (Once::RanHere, Once::AlreadyDone));
/// # });
/// ```
#[must_use = "a RunWide does nothing on its own, and its methods return a changed one: \
              call `lock`, `once` or `note_done` on it"]
#[derive(Debug, Clone)]
pub struct RunWide {
    backend: Backend,
    run_id: String,
    /// Whether the run id was given (a variable, [`RunWide::with_run_id`]) rather than
    /// guessed from the parent process: only then are notes trusted.
    run_named: bool,
    timeout: Duration,
}

/// A held run-wide lock (see [`RunWide::lock`]). Dropping it releases the lock, and so
/// does the death of the process.
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::runwide::{RunWide, RunWideError, RunWideLock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("runwide-held-doc-{}", std::process::id()));
/// let run_wide = RunWide::file_in(&dir).timeout(Duration::from_millis(50));
/// let smtp: RunWideLock = run_wide.lock("smtp-server").await?;
/// let _ftp = run_wide.lock("ftp-server").await?; // another name: no wait
/// assert!(run_wide.lock("smtp-server").await.is_err()); // held
/// drop(smtp); // dropping releases it
/// assert!(run_wide.lock("smtp-server").await.is_ok());
/// # Ok::<(), RunWideError>(())
/// # })?;
/// # Ok::<(), RunWideError>(())
/// ```
#[must_use = "the lock is released when this is dropped: bind it (`let _lock = ...`) \
              for as long as the section must run alone"]
#[derive(Debug)]
pub struct RunWideLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    File(file::FileLock),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgLock),
}

impl RunWideLock {
    /// Releases the lock now (dropping it does too, without waiting).
    ///
    /// ```
    /// use ownership_runtime::runwide::RunWide;
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("runwide-free-doc-{}", std::process::id()));
    /// let run_wide = RunWide::file_in(&dir);
    /// let held = run_wide.lock("fixture-server").await?;
    /// let waiter = tokio::spawn({
    ///     let run_wide = run_wide.clone();
    ///     async move { run_wide.lock("fixture-server").await.map(|_| "taken") }
    /// });
    /// held.release().await;
    /// assert_eq!(waiter.await??, "taken");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn release(self) {
        match self.held {
            Held::File(lock) => drop(lock),
            #[cfg(feature = "postgres")]
            Held::Postgres(lock) => lock.release().await,
        }
    }
}

impl RunWide {
    /// File locks in `ownership-runwide/` under the cargo target directory (found from the
    /// running executable: the nearest folder above it that holds cargo's
    /// `CACHEDIR.TAG`), or under the system's temporary folder outside a target directory.
    ///
    /// ```
    /// let run_wide = ownership_runtime::runwide::RunWide::file();
    /// assert!(run_wide.place().ends_with("ownership-runwide"));
    /// ```
    pub fn file() -> RunWide {
        RunWide::file_in(file::default_dir())
    }

    /// File locks in `dir` (created if needed). Every process of a run must use the same.
    ///
    /// ```
    /// let run_wide = ownership_runtime::runwide::RunWide::file_in("/tmp/locks");
    /// assert_eq!(run_wide.place(), "/tmp/locks");
    /// ```
    pub fn file_in(dir: impl Into<PathBuf>) -> RunWide {
        RunWide::with_backend(Backend::File(dir.into()))
    }

    /// A PostgreSQL advisory lock, and a table `ownership_runwide_done` of completed
    /// setups, on the server at `url`: for processes on several machines that share it.
    ///
    /// ```no_run
    /// let run_wide = ownership_runtime::runwide::RunWide::postgres("postgres://root@127.0.0.1/test");
    /// # let _ = run_wide;
    /// ```
    #[cfg(feature = "postgres")]
    pub fn postgres(url: impl Into<String>) -> RunWide {
        RunWide::with_backend(Backend::Postgres(url.into()))
    }

    fn with_backend(backend: Backend) -> RunWide {
        let named = named_run_id();
        RunWide {
            backend,
            run_named: named.is_some(),
            run_id: named.unwrap_or_else(unnamed_run_id),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Uses `run_id` instead of [`current_run_id`] (for tests of setups, or runs that
    /// span several commands).
    ///
    /// ```
    /// let run_wide = ownership_runtime::runwide::RunWide::file().with_run_id("ci-4711");
    /// assert_eq!(run_wide.run_id(), "ci-4711");
    /// ```
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> RunWide {
        self.run_id = run_id.into();
        self.run_named = true;
        self
    }

    /// Waits at most `timeout` for another holder of a lock ([`DEFAULT_TIMEOUT`] unless
    /// set).
    ///
    /// ```
    /// use std::time::Duration;
    /// let run_wide = ownership_runtime::runwide::RunWide::file().timeout(Duration::from_secs(30));
    /// # let _ = run_wide;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> RunWide {
        self.timeout = timeout;
        self
    }

    /// The run this instance counts setups for.
    ///
    /// ```
    /// use ownership_runtime::runwide::{RunWide, current_run_id};
    ///
    /// assert_eq!(RunWide::file().run_id(), current_run_id());
    /// ```
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Where the locks live: a folder, or a database URL (its password hidden).
    ///
    /// ```
    /// use ownership_runtime::runwide::RunWide;
    ///
    /// let dir = std::env::temp_dir().join("suite-locks");
    /// let run_wide = RunWide::file_in(&dir);
    /// println!("run-wide locks are in {}", run_wide.place());
    /// assert_eq!(run_wide.place(), dir.display().to_string());
    /// ```
    pub fn place(&self) -> String {
        match &self.backend {
            Backend::File(dir) => dir.display().to_string(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => redact_url(url),
        }
    }

    /// Takes the run-wide lock `name`, waiting while another process (or another call in
    /// this one) holds it, at most for the timeout. Hold it while you run a service only
    /// one process may run.
    ///
    /// # Errors
    ///
    /// [`RunWideError::Timeout`] after the timeout; [`RunWideError::Backend`] when the
    /// lock can't be reached.
    ///
    /// ```
    /// use ownership_runtime::runwide::RunWide;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("runwide-lock-doc-{}", std::process::id()));
    /// let run_wide = RunWide::file_in(&dir);
    /// let held = run_wide.lock("mail-server").await.unwrap();
    /// // ... run the service ...
    /// held.release().await;
    /// # });
    /// ```
    pub async fn lock(&self, name: &str) -> Result<RunWideLock, RunWideError> {
        let deadline = Instant::now() + self.timeout;
        let held = match &self.backend {
            Backend::File(dir) => {
                Held::File(file::FileLock::acquire(dir, name, &self.run_id, deadline).await?)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => {
                Held::Postgres(postgres::PgLock::acquire(url, name, deadline).await?)
            }
        };
        Ok(RunWideLock { held })
    }

    /// Runs `setup` once in this run, across every process of it: the first caller runs
    /// it under the run-wide lock `name` while the others wait, and then finds it done. If
    /// the process running it dies, the next waiting one runs it. A setup that fails is
    /// not marked done.
    ///
    /// # Errors
    ///
    /// [`RunWideError::SetupFailed`] with the setup's error; the errors of
    /// [`RunWide::lock`].
    ///
    /// ```
    /// use ownership_runtime::runwide::{Once, RunWide};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("runwide-once-doc-{}", std::process::id()));
    /// let run_wide = RunWide::file_in(&dir).with_run_id("doc");
    /// let failed = run_wide.once("fixtures", || async { Err("no disk") }).await.unwrap_err();
    /// assert!(ownership_runtime::error_chain(&failed).to_string().ends_with(": no disk"));
    /// let retried = run_wide.once("fixtures", || async { Ok::<_, &str>(()) }).await.unwrap();
    /// assert_eq!(retried, Once::RanHere);
    /// # });
    /// ```
    pub async fn once<F, Fut, E>(&self, name: &str, setup: F) -> Result<Once, RunWideError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if self.noted_done(name) {
            return Ok(Once::AlreadyDone);
        }
        let mut lock = self.lock(name).await?;
        if lock.is_done(name, &self.run_id).await? {
            lock.release().await;
            self.note_beside_backend(name);
            return Ok(Once::AlreadyDone);
        }
        if let Err(error) = setup().await {
            lock.release().await;
            let source = error.into();
            return Err(RunWideError::SetupFailed {
                name: name.to_owned(),
                message: source.to_string(),
                source,
            });
        }
        lock.mark_done(name, &self.run_id).await?;
        lock.release().await;
        self.note_beside_backend(name);
        Ok(Once::RanHere)
    }

    /// Whether this machine noted `name` done in this run (see the [module
    /// docs](self#known-done-with-no-lock)): one file read, no lock, no backend. `false`
    /// when the run has no explicit id.
    ///
    /// ```
    /// use ownership_runtime::runwide::RunWide;
    ///
    /// # let dir = std::env::temp_dir().join(format!("runwide-note-doc-{}", std::process::id()));
    /// let run_wide = RunWide::file_in(&dir).with_run_id("ci-4711");
    /// assert!(!run_wide.noted_done("schema"));
    /// run_wide.note_done("schema").unwrap();
    /// assert!(run_wide.noted_done("schema"));
    /// // The next run starts afresh.
    /// assert!(!run_wide.clone().with_run_id("ci-4712").noted_done("schema"));
    /// ```
    pub fn noted_done(&self, name: &str) -> bool {
        if !self.run_named {
            return false;
        }
        let (dir, note) = self.note(name);
        file::is_done(&dir, &note, &self.run_id).unwrap_or(false)
    }

    /// Notes on this machine that `name` is done in this run, for a setup found done
    /// without [`RunWide::once`] (a check that every migration is applied): later
    /// `once` and [`RunWide::noted_done`] calls in this run then skip it. Does nothing
    /// when the run has no explicit id.
    ///
    /// # Errors
    ///
    /// [`RunWideError::Backend`] when the note can't be written.
    ///
    /// ```
    /// use ownership_runtime::runwide::{Once, RunWide};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("runwide-note-once-doc-{}", std::process::id()));
    /// let run_wide = RunWide::file_in(&dir).with_run_id("ci-4711");
    /// run_wide.note_done("migrations").unwrap();
    /// let once = run_wide.once("migrations", || async { Err("not run again") }).await;
    /// assert_eq!(once.unwrap(), Once::AlreadyDone);
    /// # });
    /// ```
    pub fn note_done(&self, name: &str) -> Result<(), RunWideError> {
        if !self.run_named {
            return Ok(());
        }
        let (dir, note) = self.note(name);
        file::mark_done(&dir, &note, &self.run_id)
    }

    /// After `once` found `name` done or ran it: notes it for later processes, where the
    /// backend's own mark isn't the note already (the file backend's is). A note that
    /// can't be written costs later processes a lock, nothing more.
    fn note_beside_backend(&self, name: &str) {
        if !matches!(self.backend, Backend::File(_)) {
            let _ = self.note_done(name);
        }
    }

    /// Where this machine keeps its note that `name` is done: for the file backend, the
    /// mark that `once` leaves under the lock; for a server, a file named after `name`
    /// and the server.
    fn note(&self, name: &str) -> (PathBuf, String) {
        match &self.backend {
            Backend::File(dir) => (dir.clone(), name.to_owned()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => (
                file::default_dir(),
                format!("{name} on {:016x}", stable_hash(url)),
            ),
        }
    }
}

impl RunWideLock {
    async fn is_done(&mut self, name: &str, run_id: &str) -> Result<bool, RunWideError> {
        match &mut self.held {
            Held::File(lock) => lock.is_done(name, run_id).await,
            #[cfg(feature = "postgres")]
            Held::Postgres(lock) => lock.is_done(name, run_id).await,
        }
    }

    async fn mark_done(&mut self, name: &str, run_id: &str) -> Result<(), RunWideError> {
        match &mut self.held {
            Held::File(lock) => lock.mark_done(name, run_id).await,
            #[cfg(feature = "postgres")]
            Held::Postgres(lock) => lock.mark_done(name, run_id).await,
        }
    }
}

/// The pause between two attempts at a held lock: short at first, then longer.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(10 * u64::from(attempt.min(20)))
}
