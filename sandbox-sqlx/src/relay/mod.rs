//! Warm PostgreSQL backends for test processes that each run one test (nextest): the
//! run's relay.
//!
//! Under nextest every test is a process, and a process that opens a connection makes
//! the server start a backend for it (a fork, the login, the catalogs read again for
//! every table the test touches): most of a sandboxed test's time. So the first test
//! process of a run that finds no relay starts one: a process of its own (the same test
//! executable, run again with [`SERVE_VARIABLE`] set, so that it serves instead of
//! testing), detached from the test, listening on a Unix socket under the cargo target
//! directory (only this user may connect). Later test processes of the run connect to it
//! and get a backend that an earlier one used, rolled back and `DISCARD ALL`ed (see
//! `server.rs`). A process that finds no relay yet, or whose relay fails it, connects to
//! the server directly, as it would without one.
//!
//! - **When**: PostgreSQL over TCP, in nextest's one-process-per-test mode (told by
//!   `NEXTEST_EXECUTION_MODE`), unless `SANDBOX_SQLX_RELAY=0`; `SANDBOX_SQLX_RELAY=1`
//!   turns it on in any mode. Not for URLs that require TLS (`sslmode=require` and
//!   stricter): the relay speaks to the server in plain TCP.
//! - **Run-wide**: one relay per run (nextest's `NEXTEST_RUN_ID`) and server; it exits
//!   once no test process has come for a few seconds.
//! - **What a test sees**: a connection like any other, which starts with no prepared
//!   statements, no settings and no locks of an earlier test.
//! - **Not behind a pooler**: a relay that finds its server to be PgBouncer (or another
//!   pooler, which keeps backends warm itself) steps aside for the rest of the run.

#[cfg(unix)]
mod server;
#[cfg(unix)]
mod wire;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ownership_runtime::runwide::{RunWide, current_run_id, stable_hash};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::process_mode::process_per_test;

/// Set in the relay's own process, to the socket it serves: the test executable, run
/// again, serves instead of testing.
pub(crate) const SERVE_VARIABLE: &str = "SANDBOX_SQLX_RELAY_SERVE";

/// The server the relay process relays to, as `host:port`.
const UPSTREAM_VARIABLE: &str = "SANDBOX_SQLX_RELAY_UPSTREAM";

/// Turns the relay on (`1`) or off (`0`) whatever the mode.
pub(crate) const SWITCH_VARIABLE: &str = "SANDBOX_SQLX_RELAY";

/// The file whose lock the live relay of a folder holds.
const LOCK_FILE: &str = "relay.lock";

/// The file whose age tells when a relay was last started for a place.
const STARTED_FILE: &str = "started";

/// How long after starting a relay a process may start another one for the same place.
const RESTART_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest socket path a Unix socket address holds, with room to spare.
const LONGEST_SOCKET_PATH: usize = 100;

/// The options that reach the server of `options` through the run's relay, if it is
/// running; otherwise `None` (connect directly), and a relay is started for the test
/// processes to come. In the relay's own process, serves and never returns.
pub(crate) fn route(options: &PgConnectOptions) -> Option<PgConnectOptions> {
    #[cfg(unix)]
    if let Some(socket) = std::env::var_os(SERVE_VARIABLE) {
        become_relay(PathBuf::from(socket));
    }
    let place = Place::of(options)?;
    if place.behind_pooler() {
        return None;
    }
    if place.answers() {
        return Some(options.clone().socket(&place.folder));
    }
    place.start();
    None
}

/// After a connection through the relay of `options` failed: starts a new relay if the
/// one there is dead (its socket left behind).
pub(crate) fn failed(options: &PgConnectOptions) {
    if let Some(place) = Place::of(options) {
        place.start();
    }
}

/// Where the relay for a server lives in this run.
struct Place {
    /// Its folder, which sqlx takes as a socket folder.
    folder: PathBuf,
    /// Its socket, in the folder.
    socket: PathBuf,
    /// The server, as `host:port`.
    upstream: String,
}

impl Place {
    /// The relay's place for the server of `options`; `None` where no relay serves it.
    fn of(options: &PgConnectOptions) -> Option<Place> {
        let switch = std::env::var(SWITCH_VARIABLE).ok();
        let wanted = match switch.as_deref() {
            Some("0" | "false" | "off") => false,
            Some("1" | "true" | "on") => true,
            _ => process_per_test(),
        };
        let plain = matches!(
            options.get_ssl_mode(),
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
        );
        if !wanted || !plain || options.get_socket().is_some() || !cfg!(unix) {
            return None;
        }
        let host = options.get_host();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let upstream = format!("{host}:{}", options.get_port());
        let run = current_run_id();
        let name = format!("relay-{:016x}", stable_hash(&format!("{run}\n{upstream}")));
        let folder = PathBuf::from(RunWide::file().place()).join(name);
        let socket = socket_in(&folder, options.get_port());
        (socket.as_os_str().len() <= LONGEST_SOCKET_PATH).then_some(Place {
            folder,
            socket,
            upstream,
        })
    }

    /// Starts the relay unless one is alive (or starting): the test executable again,
    /// running the test this thread runs, detached, with [`SERVE_VARIABLE`] set.
    fn start(&self) {
        let Some(test) = std::thread::current().name().map(str::to_owned) else {
            return;
        };
        let Ok(executable) = std::env::current_exe() else {
            return;
        };
        if test == "main" || self.behind_pooler() || self.started_lately() || !self.free() {
            return;
        }
        // Tried once per few seconds: a relay that can't start (its test can't be run
        // again, say) costs the run one attempt, not one per process.
        let _ = std::fs::write(self.folder.join(STARTED_FILE), b"started");
        let mut command = Command::new(executable);
        command
            .args([test.as_str(), "--exact", "--include-ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(SERVE_VARIABLE, &self.socket)
            .env(UPSTREAM_VARIABLE, &self.upstream)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        detach(&mut command);
        // Not waited for: it outlives this process, and exits on its own.
        let _ = command.spawn();
    }

    /// Whether a relay listens on the socket: a socket a killed relay left behind refuses
    /// at once (sqlx would retry it until the pool's acquire timeout).
    fn answers(&self) -> bool {
        #[cfg(unix)]
        {
            std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    /// Whether the place's relay found its server to be a pooler (PgBouncer), which keeps
    /// backends warm itself: test processes connect directly.
    fn behind_pooler(&self) -> bool {
        pooler_mark(&self.socket).exists()
    }

    /// Whether a relay was started for this place less than [`RESTART_AFTER`] ago.
    fn started_lately(&self) -> bool {
        std::fs::metadata(self.folder.join(STARTED_FILE))
            .and_then(|started| started.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < RESTART_AFTER))
    }

    /// Whether no relay holds the folder's lock (the folder is made if need be). A socket
    /// left by a dead relay is removed.
    fn free(&self) -> bool {
        if create_private(&self.folder).is_err() {
            return false;
        }
        let Ok(lock) = std::fs::File::create(self.folder.join(LOCK_FILE)) else {
            return false;
        };
        if lock.try_lock().is_err() {
            return false;
        }
        let _ = std::fs::remove_file(&self.socket);
        true
    }
}

/// Makes `folder`, readable by this user only.
fn create_private(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(folder)
    }
}

/// Puts the relay in a process group of its own, so that signals meant for the test's
/// group (nextest's, on a timeout) leave it alone.
fn detach(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// The file that says the server of the relay serving `socket` is a pooler: beside the
/// relay's folder, which goes when the relay exits.
fn pooler_mark(socket: &Path) -> PathBuf {
    socket
        .parent()
        .unwrap_or(Path::new("."))
        .with_extension("pooler")
}

/// Where the relay of `folder` listens for a server on `port`: where sqlx looks for a
/// socket in `folder` (`.s.PGSQL.<port>`).
fn socket_in(folder: &Path, port: u16) -> PathBuf {
    folder.join(format!(".s.PGSQL.{port}"))
}

/// Serves as the relay on `socket` until it is idle, then ends the process.
#[cfg(unix)]
fn become_relay(socket: PathBuf) -> ! {
    let upstream = std::env::var(UPSTREAM_VARIABLE).unwrap_or_default();
    // Off the test's runtime, which this thread is running.
    let served = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(server::serve(&socket, upstream, server::IDLE_EXIT))
    })
    .join();
    std::process::exit(i32::from(!matches!(served, Ok(Ok(())))));
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_dead_relays_socket_is_cleared_and_a_live_relays_lock_is_respected() {
        let folder =
            std::env::temp_dir().join(format!("sandbox-sqlx-place-{}", std::process::id()));
        let place = Place {
            socket: socket_in(&folder, 5432),
            folder: folder.clone(),
            upstream: "127.0.0.1:5432".to_owned(),
        };
        std::fs::create_dir_all(&folder).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&place.socket).unwrap());
        assert!(place.socket.exists(), "a dead relay left its socket");
        assert!(!place.answers(), "which refuses at once");
        assert!(place.free(), "no relay holds the lock");
        assert!(!place.socket.exists(), "the dead relay's socket is gone");
        let live = std::fs::File::create(folder.join(LOCK_FILE)).unwrap();
        live.try_lock().unwrap();
        assert!(!place.free(), "a live relay holds the lock");
        drop(live);
        assert!(!place.started_lately());
        std::fs::write(folder.join(STARTED_FILE), b"started").unwrap();
        assert!(place.started_lately(), "one start per few seconds");
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn the_socket_is_where_sqlx_looks() {
        let socket = socket_in(Path::new("/run/relay"), 5432);
        assert_eq!(socket, Path::new("/run/relay/.s.PGSQL.5432"));
    }
}
