//! How a connection is checked out and how actors are allowed on it: [`CheckoutOptions`]
//! (with its [`ConnectionHook`]s and the [`DEFAULT_OWNERSHIP_TIMEOUT`]) and
//! [`AllowOptions`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::Database;

use crate::backend::IsolationLevel;

/// The default [`CheckoutOptions::ownership_timeout`].
///
/// ```
/// use std::time::Duration;
/// use sandbox_sqlx::{CheckoutOptions, DEFAULT_OWNERSHIP_TIMEOUT};
/// use sqlx::Postgres;
///
/// assert_eq!(DEFAULT_OWNERSHIP_TIMEOUT, Duration::from_secs(120));
/// // A slow suite's checkouts may hold their connection five times as long.
/// let patient = CheckoutOptions::<Postgres>::default()
///     .ownership_timeout(DEFAULT_OWNERSHIP_TIMEOUT * 5);
/// assert!(format!("{patient:?}").contains("ownership_timeout: 600s"));
/// ```
pub const DEFAULT_OWNERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

/// A function run on a test's connection by the sandbox: see
/// [`CheckoutOptions::post_checkout`] and [`CheckoutOptions::pre_checkin`].
///
/// ```
/// use std::sync::Arc;
/// use futures_core::future::BoxFuture;
/// use sandbox_sqlx::{CheckoutOptions, ConnectionHook};
/// use sqlx::{Executor, PgConnection, Postgres};
///
/// fn seed(connection: &mut PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
///     Box::pin(async move {
///         connection.execute("INSERT INTO plans (name) VALUES ('basic')").await?;
///         Ok(())
///     })
/// }
///
/// // One hook, kept to be shared by several sets of options.
/// let hook: ConnectionHook<Postgres> = Arc::new(seed);
/// let shared = hook.clone();
/// let options = CheckoutOptions::<Postgres>::default().post_checkout(move |c| shared(c));
/// assert!(format!("{options:?}").contains("post_checkout: true"));
/// ```
pub type ConnectionHook<DB> = Arc<
    dyn for<'c> Fn(&'c mut <DB as Database>::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
        + Send
        + Sync,
>;

/// How a connection is checked out.
///
/// ```
/// use std::time::Duration;
/// use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
/// use sqlx::{Executor, Postgres};
///
/// let options = CheckoutOptions::<Postgres>::default()
///     .isolation(IsolationLevel::ReadCommitted)
///     .ownership_timeout(Duration::from_secs(300))
///     .post_checkout(|connection| {
///         Box::pin(async move {
///             connection.execute("SET LOCAL statement_timeout = '5s'").await?;
///             Ok(())
///         })
///     });
/// assert!(options.is_sandboxed());
/// ```
#[must_use = "options do nothing until they are passed on (`checkout_for`, `SandboxBuilder::checkout_options`)"]
pub struct CheckoutOptions<DB: Database> {
    pub(crate) sandboxed: bool,
    pub(crate) isolation: Option<IsolationLevel>,
    pub(crate) ownership_timeout: Duration,
    pub(crate) post_checkout: Option<ConnectionHook<DB>>,
    pub(crate) pre_checkin: Option<ConnectionHook<DB>>,
}

impl<DB: Database> Default for CheckoutOptions<DB> {
    fn default() -> Self {
        CheckoutOptions {
            sandboxed: true,
            isolation: None,
            ownership_timeout: DEFAULT_OWNERSHIP_TIMEOUT,
            post_checkout: None,
            pre_checkin: None,
        }
    }
}

impl<DB: Database> Clone for CheckoutOptions<DB> {
    fn clone(&self) -> Self {
        CheckoutOptions {
            sandboxed: self.sandboxed,
            isolation: self.isolation,
            ownership_timeout: self.ownership_timeout,
            post_checkout: self.post_checkout.clone(),
            pre_checkin: self.pre_checkin.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for CheckoutOptions<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckoutOptions")
            .field("sandboxed", &self.sandboxed)
            .field("isolation", &self.isolation)
            .field("ownership_timeout", &self.ownership_timeout)
            .field("post_checkout", &self.post_checkout.is_some())
            .field("pre_checkin", &self.pre_checkin.is_some())
            .finish()
    }
}

impl<DB: Database> CheckoutOptions<DB> {
    /// `false`: no wrapping transaction; the test commits for real. Such a test must clean
    /// up what it wrote itself (delete its rows, or truncate its tables, at its end: a
    /// [`pre_checkin`](CheckoutOptions::pre_checkin) hook is a good place), and should not
    /// run beside tests that read the same tables. Has no effect on SQLite, where each
    /// test's database is deleted whole.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::MySql;
    ///
    /// let committing = CheckoutOptions::<MySql>::default().sandbox(false);
    /// assert!(!committing.is_sandboxed());
    /// ```
    pub fn sandbox(mut self, sandboxed: bool) -> Self {
        self.sandboxed = sandboxed;
        self
    }

    /// The isolation level of the sandbox's transaction (the database's default if unset;
    /// on MySQL/MariaDB the sandbox's default is `READ COMMITTED`, see the crate docs).
    ///
    /// ```
    /// use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
    /// use sqlx::MySql;
    ///
    /// // Back to InnoDB's own default, for a test of gap locking.
    /// let options = CheckoutOptions::<MySql>::default().isolation(IsolationLevel::RepeatableRead);
    /// assert!(format!("{options:?}").contains("isolation: Some(RepeatableRead)"));
    /// ```
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// How long an owner may keep the connection: past it, the connection is taken back
    /// and rolled back, and the owner's next query fails naming the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Sqlite;
    ///
    /// let quick = CheckoutOptions::<Sqlite>::default().ownership_timeout(Duration::from_secs(10));
    /// assert!(format!("{quick:?}").contains("ownership_timeout: 10s"));
    /// ```
    pub fn ownership_timeout(mut self, timeout: Duration) -> Self {
        self.ownership_timeout = timeout;
        self
    }

    /// Runs `hook` on the connection right after checkout, inside the sandbox's
    /// transaction (so what it writes is rolled back with the test's rows): session
    /// settings, `SET LOCAL`, seed rows. If it fails, the checkout fails with
    /// [`SandboxError::Hook`](crate::SandboxError::Hook) and the connection goes back.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::{Executor, Sqlite};
    ///
    /// let options = CheckoutOptions::<Sqlite>::default().post_checkout(|connection| {
    ///     Box::pin(async move {
    ///         connection.execute("PRAGMA foreign_keys = ON").await?;
    ///         Ok(())
    ///     })
    /// });
    /// assert!(format!("{options:?}").contains("post_checkout: true"));
    /// ```
    pub fn post_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DB::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        self.post_checkout = Some(Arc::new(hook));
        self
    }

    /// Runs `hook` on the connection when it is checked in (the test ended, an explicit
    /// checkin, a mode switch), before the rollback: clean up after an unsandboxed test,
    /// check an invariant of the data. Not run when the ownership timeout takes the
    /// connection back, nor on a connection the server closed. If it fails, the
    /// connection is still rolled back, and checkin reports
    /// [`SandboxError::Hook`](crate::SandboxError::Hook) (failing the test).
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Postgres;
    ///
    /// // Fails the test if it left order lines without an order.
    /// let options = CheckoutOptions::<Postgres>::default().pre_checkin(|connection| {
    ///     Box::pin(async move {
    ///         let orphans: i64 = sqlx::query_scalar(
    ///             "SELECT count(*) FROM lines WHERE order_id NOT IN (SELECT id FROM orders)",
    ///         )
    ///         .fetch_one(&mut *connection)
    ///         .await?;
    ///         match orphans {
    ///             0 => Ok(()),
    ///             n => Err(sqlx::Error::Protocol(format!("{n} order lines have no order"))),
    ///         }
    ///     })
    /// });
    /// assert!(format!("{options:?}").contains("pre_checkin: true"));
    /// ```
    pub fn pre_checkin<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DB::Connection) -> BoxFuture<'c, Result<(), sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        self.pre_checkin = Some(Arc::new(hook));
        self
    }

    /// Whether the connection is wrapped in a transaction that is rolled back.
    ///
    /// ```
    /// use sandbox_sqlx::CheckoutOptions;
    /// use sqlx::Postgres;
    ///
    /// fn fate<DB: sqlx::Database>(options: &CheckoutOptions<DB>) -> &'static str {
    ///     if options.is_sandboxed() { "rolled back" } else { "committed" }
    /// }
    /// assert_eq!(fate(&CheckoutOptions::<Postgres>::default()), "rolled back");
    /// ```
    pub fn is_sandboxed(&self) -> bool {
        self.sandboxed
    }
}

/// How [`Sandbox::allow_with`] allows.
///
/// ```
/// use sandbox_sqlx::AllowOptions;
///
/// let options = AllowOptions::default().unallow_existing(true);
/// assert!(options.unallows_existing());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "options do nothing until they are passed to `Sandbox::allow_with`"]
pub struct AllowOptions {
    pub(crate) unallow_existing: bool,
}

impl AllowOptions {
    /// Whether an allowance the actor has to another owner's connection is taken back
    /// first, instead of the call failing with [`AllowRefusal::AlreadyAllowed`].
    ///
    /// ```
    /// use sandbox_sqlx::AllowOptions;
    ///
    /// let moving = AllowOptions::default().unallow_existing(true);
    /// assert_ne!(moving, AllowOptions::default());
    /// assert_eq!(moving.unallow_existing(false), AllowOptions::default());
    /// ```
    pub fn unallow_existing(mut self, unallow: bool) -> Self {
        self.unallow_existing = unallow;
        self
    }

    /// Whether [`AllowOptions::unallow_existing`] is set.
    ///
    /// ```
    /// use sandbox_sqlx::AllowOptions;
    ///
    /// // By default an actor allowed elsewhere stays where it is.
    /// assert!(!AllowOptions::default().unallows_existing());
    /// ```
    pub fn unallows_existing(&self) -> bool {
        self.unallow_existing
    }
}
