//! The sandbox: a pool whose connections are checked out by tests, each inside a
//! transaction that is rolled back at checkin, and owned through an
//! [`Ownership`](ownership_runtime::Ownership) server.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ownership_runtime::harness::{Failure, TestContext, TestResource};
use ownership_runtime::{ActorId, Found, Mode, Ownership, OwnershipError, callers};
use sqlx::migrate::Migrator;
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Executor, Pool};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::OnceCell;

use crate::backend::{IsolationLevel, SandboxDatabase};
use crate::conn::{OwnedConnection, release_in_background};
use crate::error::{SandboxError, SandboxMode};
use crate::handle::SandboxPool;
use crate::hook;
use crate::template;

/// The default [`CheckoutOptions::ownership_timeout`].
pub const DEFAULT_OWNERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

/// How a connection is checked out.
///
/// ```
/// use std::time::Duration;
/// use sandbox_sqlx::{CheckoutOptions, IsolationLevel};
///
/// let options = CheckoutOptions::default()
///     .isolation(IsolationLevel::ReadCommitted)
///     .ownership_timeout(Duration::from_secs(300));
/// assert!(options.is_sandboxed());
/// ```
#[derive(Debug, Clone)]
pub struct CheckoutOptions {
    sandboxed: bool,
    isolation: Option<IsolationLevel>,
    ownership_timeout: Duration,
}

impl Default for CheckoutOptions {
    fn default() -> Self {
        CheckoutOptions {
            sandboxed: true,
            isolation: None,
            ownership_timeout: DEFAULT_OWNERSHIP_TIMEOUT,
        }
    }
}

impl CheckoutOptions {
    /// `false`: no wrapping transaction; the test commits for real. Such a test must clean
    /// up what it wrote itself (delete its rows, or truncate its tables, at its end), and
    /// should not run beside tests that read the same tables.
    pub fn sandbox(mut self, sandboxed: bool) -> Self {
        self.sandboxed = sandboxed;
        self
    }

    /// The isolation level of the sandbox's transaction (the database's default if unset).
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// How long an owner may keep the connection: past it, the connection is taken back
    /// and rolled back, and the owner's next query fails naming the timeout.
    pub fn ownership_timeout(mut self, timeout: Duration) -> Self {
        self.ownership_timeout = timeout;
        self
    }

    /// Whether the connection is wrapped in a transaction that is rolled back.
    pub fn is_sandboxed(&self) -> bool {
        self.sandboxed
    }
}

/// What [`Sandbox::checkout`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// A connection was checked out for the actor.
    Ok,
    /// The actor already owns a connection.
    AlreadyOwner,
    /// The actor is already allowed to use another owner's connection.
    AlreadyAllowed,
}

/// What [`Sandbox::checkin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkin {
    /// The connection was rolled back and returned to the pool.
    Ok,
    /// The actor only uses a connection it was allowed to: only the owner checks in.
    NotOwner,
    /// The actor has no connection.
    NotFound,
}

/// What [`Sandbox::allow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// The actor may now use the connection.
    Ok,
    /// The actor already owns a connection, or is allowed to use one.
    Already,
    /// The actor with access has no connection.
    NotFound,
}

/// The mode [`Sandbox::set_mode`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkouts {
    Manual,
    Auto,
}

pub(crate) struct State<DB: SandboxDatabase> {
    pub(crate) label: Arc<str>,
    pub(crate) pool: Pool<DB>,
    url: String,
    pub(crate) owners: Ownership<(), Arc<OwnedConnection<DB>>>,
    checkouts: RwLock<Checkouts>,
    defaults: CheckoutOptions,
    migrator: Option<&'static Migrator>,
    migrated: OnceCell<()>,
    /// Checkouts waiting for a free connection.
    waiting: AtomicUsize,
}

/// A database sandbox (see the [crate docs](crate)). Cheap to clone: clones share it.
pub struct Sandbox<DB: SandboxDatabase> {
    pub(crate) state: Arc<State<DB>>,
}

impl<DB: SandboxDatabase> Clone for Sandbox<DB> {
    fn clone(&self) -> Self {
        Sandbox {
            state: self.state.clone(),
        }
    }
}

impl<DB: SandboxDatabase> Sandbox<DB> {
    /// The sandbox's label.
    pub fn label(&self) -> &str {
        &self.state.label
    }

    /// The sandbox's mode.
    pub fn mode(&self) -> SandboxMode {
        self.state.mode()
    }
}

impl<DB: SandboxDatabase> fmt::Debug for Sandbox<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("label", &self.state.label)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Sandbox`].
///
/// ```no_run
/// use sandbox_sqlx::Sandbox;
/// use sqlx::Postgres;
///
/// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
///     .max_connections(8)
///     .auto()
///     .build()
///     .unwrap();
/// # let _ = sandbox;
/// ```
pub struct SandboxBuilder<DB: SandboxDatabase> {
    label: String,
    url: String,
    options: PoolOptions<DB>,
    checkouts: Checkouts,
    defaults: CheckoutOptions,
    migrator: Option<&'static Migrator>,
}

impl<DB: SandboxDatabase> SandboxBuilder<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// The pool's options (size, timeouts); the default is sqlx's, with at most 10
    /// connections and no ping before each checkout (`test_before_acquire(false)`: a
    /// round trip per test saved; a connection found broken at checkin is closed, not
    /// returned).
    pub fn pool_options(mut self, options: PoolOptions<DB>) -> Self {
        self.options = options;
        self
    }

    /// The pool's `max_connections`: how many tests can hold a connection at once.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.options = self.options.max_connections(max);
        self
    }

    /// How long a checkout waits for a free connection.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.options = self.options.acquire_timeout(timeout);
        self
    }

    /// Migrations to apply once per test run (across processes) before the first checkout.
    pub fn migrations(mut self, migrator: &'static Migrator) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// Auto mode: an actor's first query checks a connection out for it (the default is
    /// manual).
    pub fn auto(mut self) -> Self {
        self.checkouts = Checkouts::Auto;
        self
    }

    /// The options of checkouts that don't give their own (implicit ones, in auto mode).
    pub fn checkout_options(mut self, options: CheckoutOptions) -> Self {
        self.defaults = options;
        self
    }

    /// Builds the sandbox. Connects nothing yet: connections open at the first checkout.
    ///
    /// # Errors
    ///
    /// When the URL can't be parsed, or the background runtime can't start.
    pub fn build(self) -> Result<Sandbox<DB>, SandboxError> {
        let label: Arc<str> = self.label.into();
        let runtime =
            ownership_runtime::background::handle().map_err(|message| SandboxError::Runtime {
                label: label.to_string(),
                message,
            })?;
        // The pool's maintenance tasks and connections belong to the background runtime,
        // which outlives every test's.
        let pool = {
            let _entered = runtime.enter();
            self.options.connect_lazy(&self.url)
        }
        .map_err(|source| SandboxError::Database {
            label: label.to_string(),
            context: "the database URL is not valid",
            source,
        })?;
        let state = Arc::new(State {
            label,
            pool,
            url: self.url,
            owners: Ownership::new(),
            checkouts: RwLock::new(self.checkouts),
            defaults: self.defaults,
            migrator: self.migrator,
            migrated: OnceCell::new(),
            waiting: AtomicUsize::new(0),
        });
        hook::register(&state);
        Ok(Sandbox { state })
    }
}

impl<DB: SandboxDatabase> Sandbox<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Starts building a sandbox labelled `label` (shown in every error) on the database
    /// at `url`.
    pub fn builder(label: impl Into<String>, url: impl Into<String>) -> SandboxBuilder<DB> {
        SandboxBuilder {
            label: label.into(),
            url: url.into(),
            options: PoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false),
            checkouts: Checkouts::Manual,
            defaults: CheckoutOptions::default(),
            migrator: None,
        }
    }

    /// The handle app code queries through (see [`SandboxPool`]).
    pub fn pool(&self) -> SandboxPool<DB> {
        SandboxPool::sandboxed(self.state.clone())
    }

    /// Switches to manual or auto mode, checking in every connection (as DBConnection
    /// does), or to shared mode: every actor then uses `owner`'s connection.
    ///
    /// # Errors
    ///
    /// Shared mode for an owner that has ended.
    pub async fn set_mode(&self, mode: SandboxMode) -> Result<(), SandboxError> {
        match mode {
            SandboxMode::Shared(owner) => {
                self.state
                    .owners
                    .set_mode(Mode::Shared(owner))
                    .map_err(|_| SandboxError::OwnerEnded {
                        label: self.state.label.to_string(),
                        actor: owner,
                    })
            }
            SandboxMode::Manual | SandboxMode::Auto => {
                let _ = self.state.owners.set_mode(Mode::Private);
                *self
                    .state
                    .checkouts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = if mode == SandboxMode::Auto {
                    Checkouts::Auto
                } else {
                    Checkouts::Manual
                };
                let owners: Vec<ActorId> = self.state.owners.snapshot().owned.into_keys().collect();
                for owner in owners {
                    self.state.checkin(owner).await?;
                }
                Ok(())
            }
        }
    }

    /// Checks a connection out for the current actor (the innermost of
    /// [`callers()`](ownership_runtime::callers())), with the sandbox's default options.
    ///
    /// # Errors
    ///
    /// No actor, an actor that has ended, no free connection, the database failed.
    pub async fn checkout(&self) -> Result<Checkout, SandboxError> {
        let actor = self.state.current_actor()?;
        self.checkout_for(actor, self.state.defaults.clone()).await
    }

    /// Checks a connection out for `actor`, with `options`.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::checkout`].
    pub async fn checkout_for(
        &self,
        actor: ActorId,
        options: CheckoutOptions,
    ) -> Result<Checkout, SandboxError> {
        if self.state.owners.metadata(actor, &()).is_some() {
            return Ok(Checkout::AlreadyOwner);
        }
        if matches!(self.state.owners.fetch_owner(&[actor], &()), Some(Found::Owner(owner)) if owner != actor)
        {
            return Ok(Checkout::AlreadyAllowed);
        }
        self.state.checkout(actor, options).await?;
        Ok(Checkout::Ok)
    }

    /// Checks the current actor's connection in: rolls its transaction back and returns it
    /// to the pool.
    ///
    /// # Errors
    ///
    /// When the sandbox's transaction had ended before checkin (what the test wrote may
    /// have been committed), or the database failed.
    pub async fn checkin(&self) -> Result<Checkin, SandboxError> {
        let actor = self.state.current_actor()?;
        self.state.checkin(actor).await
    }

    /// Allows `actor` to use the connection that `owner_or_allowed` owns or is allowed to
    /// use.
    pub fn allow(&self, owner_or_allowed: ActorId, actor: ActorId) -> Allow {
        match self.state.owners.allow(owner_or_allowed, actor, ()) {
            Ok(()) => Allow::Ok,
            Err(OwnershipError::AlreadyAnOwner { .. } | OwnershipError::AlreadyAllowed { .. }) => {
                Allow::Already
            }
            Err(_) => Allow::NotFound,
        }
    }
}

impl<DB: SandboxDatabase> TestResource for Sandbox<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn name(&self) -> String {
        format!("sandbox `{}`", self.state.label)
    }

    /// Checks a connection out for the test (`#[owned_test(sandbox = DB)]`); the
    /// sandbox's harness hook checks it in after the test.
    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        let runtime =
            background(&self.state.label).map_err(|error| Failure::new(error.to_string()))?;
        runtime
            .block_on(self.checkout_for(test.actor(), self.state.defaults()))
            .map(|_| ())
            .map_err(|error| Failure::new(error.to_string()))
    }
}

impl<DB: SandboxDatabase> State<DB> {
    pub(crate) fn mode(&self) -> SandboxMode {
        match self.owners.mode() {
            Mode::Shared(owner) => SandboxMode::Shared(owner),
            Mode::Private => match *self
                .checkouts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
            {
                Checkouts::Manual => SandboxMode::Manual,
                Checkouts::Auto => SandboxMode::Auto,
            },
        }
    }

    pub(crate) fn is_auto(&self) -> bool {
        *self
            .checkouts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            == Checkouts::Auto
    }

    pub(crate) fn defaults(&self) -> CheckoutOptions {
        self.defaults.clone()
    }

    fn current_actor(&self) -> Result<ActorId, SandboxError> {
        callers()
            .first()
            .copied()
            .ok_or_else(|| SandboxError::NoActor {
                label: self.label.to_string(),
            })
    }
}

impl<DB: SandboxDatabase> State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Applies the migrations once per run, on the background runtime.
    async fn migrate(self: &Arc<Self>) -> Result<(), SandboxError> {
        if self.migrator.is_none() && !DB::PER_TEST_DATABASE {
            return Ok(());
        }
        let state = self.clone();
        self.migrated
            .get_or_try_init(|| async move {
                let label = state.label.to_string();
                let runtime = background(&label)?;
                let (pool, migrator) = (state.pool.clone(), state.migrator);
                let template = template::template_file(&state.url);
                let run_wide = DB::run_wide(&state.url);
                let migrate = runtime.spawn(async move {
                    if DB::PER_TEST_DATABASE {
                        let name = format!("sandbox-sqlx template {}", template.display());
                        return run_wide
                            .once(&name, || {
                                template::build_template::<DB>(&template, migrator)
                            })
                            .await
                            .map(|_| ())
                            .map_err(|error| error.to_string());
                    }
                    let Some(migrator) = migrator else {
                        return Ok(());
                    };
                    let name = format!("sandbox-sqlx migrations of {label}");
                    run_wide
                        .once(&name, || async move { migrator.run(&pool).await })
                        .await
                        .map(|_| ())
                        .map_err(|error| error.to_string())
                });
                match migrate.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(message)) => Err(SandboxError::Migrations {
                        label: state.label.to_string(),
                        message,
                    }),
                    Err(error) => Err(SandboxError::Migrations {
                        label: state.label.to_string(),
                        message: error.to_string(),
                    }),
                }
            })
            .await
            .map(|_| ())
    }

    /// Opens (or takes from the pool) a connection for `actor` on the background runtime,
    /// starts its transaction, and records `actor` as its owner.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        actor: ActorId,
        options: CheckoutOptions,
    ) -> Result<Arc<OwnedConnection<DB>>, SandboxError> {
        if !actor.is_alive() {
            return Err(SandboxError::OwnerEnded {
                label: self.label.to_string(),
                actor,
            });
        }
        self.migrate().await?;
        let label = self.label.to_string();
        let runtime = background(&label)?;
        let pool = self.pool.clone();
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        let isolation = options.isolation;
        let sandboxed = options.sandboxed;
        let template = template::template_file(&self.url);
        let opened = runtime
            .spawn(async move {
                if DB::PER_TEST_DATABASE {
                    let (connection, database) = template::open_copy::<DB>(&template).await?;
                    return Ok((connection, Some(database)));
                }
                let mut connection: PoolConnection<DB> = pool.acquire().await?;
                if sandboxed {
                    if let Some(statement) = isolation.and_then(DB::set_isolation) {
                        connection.execute(statement).await?;
                    }
                    DB::TransactionManager::begin(&mut connection, DB::begin_statement(isolation))
                        .await?;
                }
                Ok::<_, sqlx::Error>((connection, None))
            })
            .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (connection, database) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(sqlx::Error::PoolTimedOut)) => {
                return Err(SandboxError::PoolExhausted {
                    label,
                    max_connections: self.pool.options().get_max_connections(),
                    waiting: waiting.saturating_sub(1),
                    waited: started.elapsed(),
                });
            }
            Ok(Err(source)) => {
                return Err(SandboxError::Database {
                    label,
                    context: "could not check out a connection",
                    source,
                });
            }
            Err(error) => {
                return Err(SandboxError::Runtime {
                    label,
                    message: format!("the checkout task failed: {error}"),
                });
            }
        };
        // A per-test database is thrown away whole: no wrapping transaction.
        let sandboxed = sandboxed && !DB::PER_TEST_DATABASE;
        let owned = OwnedConnection::new(actor, self.label.clone(), connection, sandboxed);
        *owned
            .database
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = database;
        let owned = Arc::new(owned);
        let registered = self
            .owners
            .get_and_update(actor, (), |existing| match existing {
                // Another task of the same actor checked out meanwhile: keep that one.
                Some(existing) => (Err(existing.clone()), existing.clone()),
                None => (Ok(()), owned.clone()),
            });
        match registered {
            Ok(Ok(())) => {}
            Ok(Err(existing)) => return Ok(existing),
            Err(OwnershipError::ActorDown { .. }) => {
                return Err(SandboxError::OwnerEnded { label, actor });
            }
            Err(error) => {
                return Err(SandboxError::Runtime {
                    label,
                    message: error.to_string(),
                });
            }
        }
        self.watch_ownership_timeout(&owned, options.ownership_timeout);
        Ok(owned)
    }

    /// Takes the connection back from its owner once `timeout` has passed.
    fn watch_ownership_timeout(
        self: &Arc<Self>,
        owned: &Arc<OwnedConnection<DB>>,
        timeout: Duration,
    ) {
        let Ok(runtime) = ownership_runtime::background::handle() else {
            return;
        };
        let (state, watched) = (Arc::downgrade(self), Arc::downgrade(owned));
        let task = runtime.spawn(async move {
            tokio::time::sleep(timeout).await;
            let (Some(state), Some(owned)) = (state.upgrade(), watched.upgrade()) else {
                return;
            };
            if let Some((connection, sandboxed)) = owned.revoke(timeout).await {
                rollback_and_release(connection, sandboxed).await;
            }
            // The owner keeps the (now empty) entry, so its next query names the timeout;
            // it goes when the owner ends or checks in.
            drop(state);
        });
        *owned.timeout.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
    }

    /// Checks `owner`'s connection in.
    pub(crate) async fn checkin(&self, owner: ActorId) -> Result<Checkin, SandboxError> {
        let Some(owned) = self.owners.metadata(owner, &()) else {
            return Ok(match self.owners.fetch_owner(&[owner], &()) {
                Some(Found::Owner(_)) => Checkin::NotOwner,
                _ => Checkin::NotFound,
            });
        };
        self.owners.cleanup_owner(owner);
        let database = owned.take_database();
        let Some((connection, sandboxed)) = owned.take().await else {
            return Ok(Checkin::Ok); // taken back by the ownership timeout already
        };
        if let Some(database) = database {
            release_in_background(connection, false);
            background(&self.label)?
                .spawn(template::discard(database))
                .await
                .map_err(|error| SandboxError::Runtime {
                    label: self.label.to_string(),
                    message: error.to_string(),
                })?;
            return Ok(Checkin::Ok);
        }
        let label = self.label.to_string();
        let runtime = background(&label)?;
        // One task on the background runtime: check the transaction, roll back, return.
        let checked = runtime
            .spawn(async move {
                let mut connection = connection;
                let open = if sandboxed {
                    match DB::in_transaction(&mut connection).await {
                        Ok(open) => open,
                        Err(error) => {
                            // A broken connection (killed by the server, say) is closed, not
                            // returned: the next test gets a fresh one.
                            connection.close_on_drop();
                            return Err(error);
                        }
                    }
                } else {
                    true
                };
                rollback_and_release(connection, sandboxed).await;
                Ok(open)
            })
            .await;
        match checked {
            Ok(Ok(true)) => Ok(Checkin::Ok),
            Ok(Ok(false)) => Err(SandboxError::TransactionEnded {
                label,
                owner,
                cause: DB::ENDED_BY,
            }),
            Ok(Err(source)) => Err(SandboxError::Database {
                label,
                context: "could not check the connection in",
                source,
            }),
            Err(error) => Err(SandboxError::Runtime {
                label,
                message: error.to_string(),
            }),
        }
    }
}

/// Rolls a connection's transaction back and returns it to the pool; a connection that
/// can't be rolled back is closed instead.
async fn rollback_and_release<DB: SandboxDatabase>(
    mut connection: PoolConnection<DB>,
    sandboxed: bool,
) where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if sandboxed {
        while DB::TransactionManager::get_transaction_depth(&connection) > 0 {
            if DB::TransactionManager::rollback(&mut connection)
                .await
                .is_err()
            {
                connection.close_on_drop();
                break;
            }
        }
    }
    release_in_background(connection, false);
}

fn background(label: &str) -> Result<&'static tokio::runtime::Handle, SandboxError> {
    ownership_runtime::background::handle().map_err(|message| SandboxError::Runtime {
        label: label.to_owned(),
        message,
    })
}
