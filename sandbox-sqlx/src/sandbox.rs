//! The sandbox: a pool whose connections are checked out by tests, each inside a
//! transaction that is rolled back at checkin, and owned through an
//! [`Ownership`](ownership_runtime::Ownership) server. This file holds the public type
//! and its methods; the work is done by the engine in `checkout.rs` and `checkin.rs`.

use std::fmt;
use std::sync::{Arc, PoisonError};

use ownership_runtime::{ActorId, Found, Mode};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::driven::Driven;
use crate::error::{SandboxError, SandboxMode, SharedModeRefusal};
use crate::handle::SandboxPool;
use crate::options::{AllowOptions, CheckoutOptions};
use crate::outcome::{Checkin, Checkout};
use crate::state::{Checkouts, State};

/// A database sandbox (see the [crate docs](crate)). Cheap to clone: clones share it.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use sandbox_sqlx::Sandbox;
/// use sqlx::Sqlite;
///
/// static DB: LazyLock<Sandbox<Sqlite>> = LazyLock::new(|| {
///     Sandbox::builder("app-db", "sqlite://target/app.db").build().expect("a valid URL")
/// });
///
/// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
/// // In an owned test (`#[owned_test(sandbox = DB)]` checks out for it):
/// DB.checkout().await?;
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&DB.pool()).await?;
/// assert_eq!(one, 1);
/// # Ok(()) }
/// ```
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
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("billing-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// assert_eq!(sandbox.label(), "billing-db");
    /// assert_eq!(sandbox.clone().label(), "billing-db"); // clones share the sandbox
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn label(&self) -> &str {
        &self.state.label
    }

    /// The sandbox's mode.
    ///
    /// ```
    /// use sandbox_sqlx::{Sandbox, SandboxMode};
    /// use sqlx::MySql;
    ///
    /// let sandbox = Sandbox::<MySql>::builder("app-db", "mysql://root@127.0.0.1:3306/test")
    ///     .build()?;
    /// assert_eq!(sandbox.mode(), SandboxMode::Manual);
    /// assert_eq!(format!("in {} mode", sandbox.mode()), "in manual mode");
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
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

impl<DB: SandboxDatabase> Sandbox<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// The handle app code queries through (see [`SandboxPool`]).
    ///
    /// ```
    /// use sandbox_sqlx::Sandbox;
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// // Hand this to the app: every query on it runs on the caller's test connection.
    /// let db = sandbox.pool();
    /// assert_eq!(format!("{db:?}"), "SandboxPool(sandbox `app-db`)");
    /// # Ok::<(), sandbox_sqlx::SandboxError>(())
    /// ```
    pub fn pool(&self) -> SandboxPool<DB> {
        SandboxPool::sandboxed(self.state.clone())
    }

    /// Switches the sandbox's mode, as DBConnection's `ownership_mode` does:
    /// - to the mode it has: nothing happens (a suite may set it "to be sure");
    /// - to manual or auto: later checkouts follow the new mode; connections checked out
    ///   stay with their owners (no test loses its connection because another switched);
    /// - to shared: every actor then uses `owner`'s connection, which `owner` must have
    ///   checked out itself.
    ///
    /// In a shared test (`#[owned_test(shared)]`) the harness shares every sandbox with
    /// the test on its own: no call needed.
    ///
    /// # Errors
    ///
    /// [`SandboxError::SharedModeRefused`] for shared mode when `owner` holds no
    /// connection, only uses one it was allowed to, has ended, or while another shared
    /// owner still runs.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    /// use sandbox_sqlx::{Sandbox, SandboxError, SandboxMode, SharedModeRefusal};
    /// use sqlx::Postgres;
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test")
    ///     .build()?;
    /// sandbox.set_mode(SandboxMode::Auto).await?;
    /// sandbox.set_mode(SandboxMode::Auto).await?; // already: nothing happens
    /// assert_eq!(sandbox.mode(), SandboxMode::Auto);
    /// // Shared mode needs an owner with a connection of its own.
    /// let test = Actor::named("tests::talks_to_a_global_worker");
    /// let refused = sandbox.set_mode(SandboxMode::Shared(test.id())).await;
    /// assert!(matches!(
    ///     refused,
    ///     Err(SandboxError::SharedModeRefused { reason: SharedModeRefusal::NoConnection, .. })
    /// ));
    /// # Ok::<(), SandboxError>(())
    /// # })?;
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub async fn set_mode(&self, mode: SandboxMode) -> Result<(), SandboxError> {
        let state = &self.state;
        match mode {
            _ if mode == state.mode() => Ok(()),
            SandboxMode::Shared(owner) => {
                let refused = |reason| SandboxError::SharedModeRefused {
                    label: state.label.to_string(),
                    owner,
                    reason,
                };
                if let Mode::Shared(shared_owner) = state.owners.mode()
                    && shared_owner.is_alive()
                {
                    return Err(refused(SharedModeRefusal::AlreadyShared { shared_owner }));
                }
                if state.owners.metadata(owner, &()).is_none() {
                    return Err(refused(match state.owners.fetch_owner(&[owner], &()) {
                        Some(Found::Owner(connection_owner)) if connection_owner != owner => {
                            SharedModeRefusal::OnlyAllowed { connection_owner }
                        }
                        _ => SharedModeRefusal::NoConnection,
                    }));
                }
                state
                    .owners
                    .set_mode(Mode::Shared(owner))
                    .map_err(|_| refused(SharedModeRefusal::OwnerEnded))
            }
            SandboxMode::Manual | SandboxMode::Auto => {
                *state
                    .checkouts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = if mode == SandboxMode::Auto {
                    Checkouts::Auto
                } else {
                    Checkouts::Manual
                };
                // Back to private mode, if shared: that can't fail.
                let _ = state.owners.set_mode(Mode::Private);
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
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkout, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
    /// // At the start of an owned test (what `#[owned_test(sandbox = ..)]` does for it):
    /// assert_eq!(sandbox.checkout().await?, Checkout::Ok);
    /// assert_eq!(sandbox.checkout().await?, Checkout::AlreadyOwner); // one per actor
    /// # Ok(()) }
    /// ```
    pub async fn checkout(&self) -> Result<Checkout, SandboxError> {
        let actor = self.state.current_actor()?;
        self.checkout_for(actor, self.state.defaults.clone()).await
    }

    /// Checks a connection out for `actor`, with `options`.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::checkout`].
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkout, CheckoutOptions, IsolationLevel, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// use ownership_runtime::Actor;
    ///
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
    /// // A worker with a connection (and a transaction) of its own, next to the test's.
    /// let worker = Actor::named("report-builder");
    /// let options = CheckoutOptions::default().isolation(IsolationLevel::RepeatableRead);
    /// assert_eq!(sandbox.checkout_for(worker.id(), options).await?, Checkout::Ok);
    /// # Ok(()) }
    /// ```
    pub async fn checkout_for(
        &self,
        actor: ActorId,
        options: CheckoutOptions<DB>,
    ) -> Result<Checkout, SandboxError> {
        self.checkout_driven(actor, options, Driven::Spawned).await
    }

    pub(crate) async fn checkout_driven(
        &self,
        actor: ActorId,
        options: CheckoutOptions<DB>,
        driven: Driven,
    ) -> Result<Checkout, SandboxError> {
        if self.state.owners.metadata(actor, &()).is_some() {
            return Ok(Checkout::AlreadyOwner);
        }
        if matches!(self.state.owners.fetch_owner(&[actor], &()), Some(Found::Owner(owner)) if owner != actor)
        {
            return Ok(Checkout::AlreadyAllowed);
        }
        self.state.checkout(actor, options, driven).await?;
        Ok(Checkout::Ok)
    }

    /// Checks the current actor's connection in: rolls its transaction back and returns it
    /// to the pool.
    ///
    /// # Errors
    ///
    /// When the sandbox's transaction had ended before checkin (what the test wrote may
    /// have been committed), or the database failed.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{Checkin, Sandbox};
    /// # use sqlx::Postgres;
    /// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), Box<dyn std::error::Error>> {
    /// sandbox.checkout().await?;
    /// sqlx::query("INSERT INTO orders DEFAULT VALUES").execute(&sandbox.pool()).await?;
    /// assert_eq!(sandbox.checkin().await?, Checkin::Ok); // rolled back
    /// // A fresh checkout sees none of it.
    /// sandbox.checkout().await?;
    /// let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
    ///     .fetch_one(&sandbox.pool())
    ///     .await?;
    /// assert_eq!(orders, 0);
    /// # Ok(()) }
    /// ```
    pub async fn checkin(&self) -> Result<Checkin, SandboxError> {
        let actor = self.state.current_actor()?;
        self.state.checkin(actor, Driven::Spawned).await
    }

    /// Allows `actor` to use the connection that `owner_or_allowed` owns or is allowed to
    /// use (allowances are transitive: they point at the connection's owner). Allowing an
    /// actor again to the connection it uses already succeeds. In shared mode it succeeds
    /// and changes nothing: every actor uses the shared owner's connection already (as
    /// with DBConnection and Mox), so suite helpers may call it in both modes.
    ///
    /// An actor already allowed to use another test's connection stays with it (an error);
    /// see [`Sandbox::allow_with`] to move it.
    ///
    /// # Errors
    ///
    /// [`SandboxError::AllowRefused`], saying why: `owner_or_allowed` has no connection,
    /// `actor` owns one of its own, or uses another owner's already, or one of them has
    /// ended.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    /// use sandbox_sqlx::{AllowRefusal, Sandbox, SandboxError};
    /// use sqlx::Postgres;
    ///
    /// let sandbox = Sandbox::<Postgres>::builder("app-db", "postgres://root@127.0.0.1/test").build()?;
    /// let (test, worker) = (Actor::named("tests::no_checkout"), Actor::named("worker"));
    /// // The test checked nothing out: there is no connection to let the worker use.
    /// let refused = sandbox.allow(test.id(), worker.id());
    /// assert!(matches!(
    ///     refused,
    ///     Err(SandboxError::AllowRefused { reason: AllowRefusal::NoConnection, .. })
    /// ));
    /// # Ok::<(), SandboxError>(())
    /// ```
    pub fn allow(&self, owner_or_allowed: ActorId, actor: ActorId) -> Result<(), SandboxError> {
        self.allow_with(owner_or_allowed, actor, AllowOptions::default())
    }

    /// [`Sandbox::allow`], with options: `unallow_existing` first takes back an allowance
    /// `actor` has to another owner's connection (a long-lived worker moving from one
    /// test to the next).
    ///
    /// # Errors
    ///
    /// As [`Sandbox::allow`].
    ///
    /// ```no_run
    /// # use sandbox_sqlx::{AllowOptions, Sandbox, SandboxError};
    /// # use sqlx::Postgres;
    /// # use ownership_runtime::ActorId;
    /// # fn example(sandbox: Sandbox<Postgres>, previous_test: ActorId, test: ActorId, worker: ActorId) -> Result<(), SandboxError> {
    /// sandbox.allow(previous_test, worker)?;
    /// assert!(sandbox.allow(test, worker).is_err()); // it serves the previous test
    /// sandbox.allow_with(test, worker, AllowOptions::default().unallow_existing(true))?;
    /// # Ok(()) }
    /// ```
    pub fn allow_with(
        &self,
        owner_or_allowed: ActorId,
        actor: ActorId,
        options: AllowOptions,
    ) -> Result<(), SandboxError> {
        let owners = &self.state.owners;
        if matches!(owners.mode(), Mode::Shared(_)) {
            return Ok(());
        }
        if options.unallow_existing
            && let Some(Found::Owner(root)) = owners.fetch_owner(&[owner_or_allowed], &())
            && let Some(Found::Owner(current)) = owners.fetch_owner(&[actor], &())
            && current != actor
            && current != root
        {
            owners.disallow(actor, &());
        }
        self.state.allow_on_connection(owner_or_allowed, actor)
    }
}
