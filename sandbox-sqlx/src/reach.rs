//! Reaching the database server: a sandbox's first connection, and what a failure to make
//! it means.
//!
//! sqlx's pool retries a refused connection until its `acquire_timeout` (30 s by default)
//! and then answers "pool timed out", its cause lost; without a server every test would
//! wait that long and say nothing useful. So a sandbox's first connection is watched: if
//! the pool hasn't connected within [`PROBE_AFTER`], one direct connection attempt tells
//! why, and the sandbox fails at once with the cause (refused, unknown host,
//! authentication, unknown database, no answer). The failure is remembered for the
//! process: every later test of the sandbox fails at once with the same message. Once the
//! sandbox has connected, failures are not remembered (a server restarting mid-suite
//! comes back).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Pool};

use crate::backend::SandboxDatabase;
use crate::url::DatabaseUrl;

/// How long a sandbox's first connection may take before a direct attempt asks why.
const PROBE_AFTER: Duration = Duration::from_millis(250);

/// Why a sandbox could not reach its database server.
///
/// ```
/// use sandbox_sqlx::UnreachableCause;
///
/// assert!(UnreachableCause::Refused.to_string().contains("refused"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnreachableCause {
    /// Nothing listens at the URL's host and port.
    Refused,
    /// The URL's host name is not known.
    UnknownHost,
    /// The server refused the user or its password.
    Authentication,
    /// The server has no database of the URL's name.
    UnknownDatabase,
    /// The server did not answer in time.
    NoAnswer,
    /// Another failure (TLS, the protocol, ...): see the error's source.
    Other,
}

impl fmt::Display for UnreachableCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnreachableCause::Refused => "the connection was refused: no server listens there",
            UnreachableCause::UnknownHost => "the host name is not known",
            UnreachableCause::Authentication => "the server refused the user or its password",
            UnreachableCause::UnknownDatabase => "the server has no database of that name",
            UnreachableCause::NoAnswer => "the server did not answer in time",
            UnreachableCause::Other => "the connection failed",
        })
    }
}

impl UnreachableCause {
    /// What to do about it.
    fn fix(self, server: &str, variable: &str) -> String {
        match self {
            UnreachableCause::Refused | UnreachableCause::NoAnswer => format!(
                "start {server} and check it listens on that host and port, or point \
                 {variable} at a server that runs"
            ),
            UnreachableCause::UnknownHost => {
                format!("fix the host in {variable}, or start a server on the host it names")
            }
            UnreachableCause::Authentication => format!(
                "give {variable} a user (and password) the server accepts, or create that user"
            ),
            UnreachableCause::UnknownDatabase => {
                format!("create the database on the server, or name one that exists in {variable}")
            }
            UnreachableCause::Other => format!("check {variable} and the server"),
        }
    }

    /// The cause of a failed connection attempt.
    fn of(error: &sqlx::Error) -> UnreachableCause {
        match error {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                UnreachableCause::Refused
            }
            // What the resolver says is only in the text (tokio's lookup error).
            sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
                UnreachableCause::UnknownHost
            }
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                UnreachableCause::NoAnswer
            }
            sqlx::Error::PoolTimedOut => UnreachableCause::NoAnswer,
            sqlx::Error::Database(database) => match database.code().as_deref() {
                // PostgreSQL: `invalid_password`, `invalid_authorization_specification`
                // (an unknown role); MySQL's "access denied" maps to 28000 too.
                Some(code) if code.starts_with("28") => UnreachableCause::Authentication,
                Some("3D000") => UnreachableCause::UnknownDatabase,
                _ if database.message().contains("Unknown database") => {
                    UnreachableCause::UnknownDatabase
                }
                // PgBouncer refuses a login with `protocol_violation`, whatever the cause,
                // and says it in words: its own ("\"trust\" authentication failed", "no
                // such database: app") or the server's ("database \"app\" does not exist").
                Some("08P01") => {
                    let message = database.message();
                    if message.contains("authentication failed") {
                        UnreachableCause::Authentication
                    } else if message.starts_with("no such database")
                        || (message.starts_with("database \"")
                            && message.ends_with("\" does not exist"))
                    {
                        UnreachableCause::UnknownDatabase
                    } else {
                        UnreachableCause::Other
                    }
                }
                _ => UnreachableCause::Other,
            },
            _ => UnreachableCause::Other,
        }
    }
}

/// A sandbox's failure to reach its server: shared by every test of the process that
/// uses the sandbox (each fails at once with it). Its message says what was tried, why it
/// failed ([`cause`](Unreachable::cause)) and the fix; the connection attempt's
/// `sqlx::Error` is its [`source()`](std::error::Error::source).
#[derive(Debug)]
pub struct Unreachable {
    server: &'static str,
    url: String,
    origin: String,
    cause: UnreachableCause,
    fix: String,
    source: sqlx::Error,
}

impl Unreachable {
    fn new<DB: SandboxDatabase>(url: &DatabaseUrl, source: sqlx::Error) -> Unreachable {
        let cause = UnreachableCause::of(&source);
        Unreachable {
            server: DB::SERVER,
            url: url.redacted(),
            origin: url.origin(),
            cause,
            fix: cause.fix(DB::SERVER, url.variable_to_set()),
            source,
        }
    }

    /// Why the server could not be reached.
    ///
    /// ```no_run
    /// use sandbox_sqlx::{Sandbox, SandboxError, UnreachableCause};
    /// use sqlx::Postgres;
    ///
    /// # async fn example() -> Result<(), SandboxError> {
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1:1/test")
    ///     .build()?;
    /// if let Err(SandboxError::Unreachable { failure, .. }) = sandbox.checkout().await {
    ///     assert_eq!(failure.cause(), UnreachableCause::Refused);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn cause(&self) -> UnreachableCause {
        self.cause
    }

    /// The URL the sandbox tried, its password hidden.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// # async fn example() -> Result<(), SandboxError> {
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://app:secret@127.0.0.1:1/app")
    ///     .build()?;
    /// if let Err(SandboxError::Unreachable { failure, .. }) = sandbox.checkout().await {
    ///     assert_eq!(failure.url(), "postgres://app:***@127.0.0.1:1/app");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not connect to {} at {}{}: {} ({}; every later test of this process that uses \
             this sandbox fails at once with this error)",
            self.server, self.url, self.origin, self.cause, self.fix
        )
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether a sandbox has reached its server yet, and its failure if it could not.
#[derive(Default)]
pub(crate) struct Reach {
    state: Mutex<ReachState>,
}

#[derive(Default)]
enum ReachState {
    #[default]
    NotYet,
    Reached,
    Failed(Arc<Unreachable>),
}

/// What [`Reach::acquire`] failed with.
pub(crate) enum AcquireError {
    /// The server can't be reached (now, or at the sandbox's first connection).
    Unreachable(Arc<Unreachable>),
    /// The pool's own error, once the server was reached.
    Pool(sqlx::Error),
}

impl Reach {
    /// The failure to reach the server, remembered for the process.
    pub(crate) fn failure(&self) -> Option<Arc<Unreachable>> {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            ReachState::Failed(failure) => Some(failure.clone()),
            _ => None,
        }
    }

    fn set(&self, state: ReachState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn reached(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            ReachState::Reached
        )
    }

    /// Records the outcome of a connection attempt to a server of `DB` (through the
    /// pool, or outside it): before the sandbox has ever connected, a failure is the
    /// sandbox's failure to reach its server, remembered for the process.
    pub(crate) fn record<DB: SandboxDatabase, T>(
        &self,
        outcome: Result<T, sqlx::Error>,
        url: &DatabaseUrl,
    ) -> Result<T, AcquireError> {
        match outcome {
            Ok(value) => {
                self.set(ReachState::Reached);
                Ok(value)
            }
            Err(error) if self.reached() => Err(AcquireError::Pool(error)),
            Err(error) => {
                let failure = Arc::new(Unreachable::new::<DB>(url, error));
                self.set(ReachState::Failed(failure.clone()));
                Err(AcquireError::Unreachable(failure))
            }
        }
    }

    /// A connection from `pool`. Run it on the background runtime.
    pub(crate) async fn acquire<DB: SandboxDatabase>(
        &self,
        pool: &Pool<DB>,
        url: &DatabaseUrl,
    ) -> Result<PoolConnection<DB>, AcquireError> {
        // One look at the state: this runs at every checkout.
        let reached = match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            ReachState::Failed(failure) => return Err(AcquireError::Unreachable(failure.clone())),
            ReachState::Reached => true,
            ReachState::NotYet => false,
        };
        if reached {
            return pool.acquire().await.map_err(AcquireError::Pool);
        }
        let acquire = pool.acquire();
        tokio::pin!(acquire);
        let outcome = match tokio::time::timeout(PROBE_AFTER, &mut acquire).await {
            Ok(outcome) => outcome,
            // Slow: ask the server directly why, while the pool keeps trying.
            Err(_) => {
                let options = pool.connect_options();
                let probe = DB::Connection::connect_with(&*options);
                tokio::pin!(probe);
                tokio::select! {
                    outcome = &mut acquire => outcome,
                    probed = &mut probe => match probed {
                        Ok(connection) => {
                            let _ = connection.close().await;
                            acquire.await
                        }
                        Err(error) => Err(error),
                    },
                }
            }
        };
        self.record::<DB, _>(outcome, url)
    }
}
