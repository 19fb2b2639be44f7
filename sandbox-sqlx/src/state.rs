//! The state one sandbox and its clones share: its pool, its owners, its mode and what
//! its checkouts need; the engine (`checkout.rs`, `checkin.rs`) works on it.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ownership_runtime::{ActorId, Mode, Ownership, OwnershipError, callers};
use sqlx::Pool;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use tokio::sync::OnceCell;

use crate::backend::SandboxDatabase;
use crate::conn::{OwnedConnection, release_in_background};
use crate::error::{AllowRefusal, SandboxError, SandboxMode};
use crate::options::CheckoutOptions;
use crate::reach::Reach;
use crate::spare_pools::SparePools;
use crate::timeouts::Timeouts;
use crate::turns::Turns;
use crate::url::DatabaseUrl;

/// The mode [`Sandbox::set_mode`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checkouts {
    Manual,
    Auto,
}

pub(crate) struct State<DB: SandboxDatabase> {
    pub(crate) label: Arc<str>,
    pub(crate) pool: Pool<DB>,
    pub(crate) url: DatabaseUrl,
    /// Whether the server was reached, and the failure to reach it if not.
    pub(crate) reach: Arc<Reach>,
    pub(crate) owners: Ownership<(), Arc<OwnedConnection<DB>>>,
    pub(crate) checkouts: RwLock<Checkouts>,
    pub(crate) defaults: CheckoutOptions<DB>,
    pub(crate) migrator: Option<&'static Migrator>,
    /// How long to wait for another process's migrations.
    pub(crate) migrations_wait: Duration,
    /// Whether tests that name the sandbox are skipped when its server can't be reached.
    pub(crate) skip_if_unreachable: bool,
    pub(crate) migrated: OnceCell<()>,
    /// Checkouts waiting for a free connection.
    pub(crate) waiting: AtomicUsize,
    /// The ownership timeouts of checked-out connections.
    pub(crate) timeouts: Timeouts<DB>,
    /// How many per-test databases may exist at once (`max_connections`), for backends
    /// that copy a template per test.
    pub(crate) copies: Arc<tokio::sync::Semaphore>,
    /// A connection the migrations check left for the first checkout, so that a process
    /// that runs one test (nextest) opens one connection, not two.
    pub(crate) spare: Arc<Mutex<Option<PoolConnection<DB>>>>,
    /// The turns of serialized tests (see [`SandboxBuilder::serialize_tests`]); `None`
    /// when tests run at once.
    pub(crate) turns: Option<Turns<DB>>,
    /// The test pools (of tests that take a pool as an argument) that wait for their next
    /// test.
    pub(crate) spare_pools: SparePools<DB>,
}

impl<DB: SandboxDatabase> Drop for State<DB> {
    fn drop(&mut self) {
        // A pooled connection goes back to its pool inside the background runtime, which
        // a sandbox dropped outside any runtime (a local one, in a plain test) lacks.
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(connection) = spare {
            release_in_background(connection, false);
        }
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

    pub(crate) fn defaults(&self) -> CheckoutOptions<DB> {
        self.defaults.clone()
    }

    /// Allows `actor` on the connection that `owner_or_allowed` owns or is allowed to
    /// use, or says why not.
    pub(crate) fn allow_on_connection(
        &self,
        owner_or_allowed: ActorId,
        actor: ActorId,
    ) -> Result<(), SandboxError> {
        let reason = match self.owners.allow(owner_or_allowed, actor, ()) {
            Ok(()) | Err(OwnershipError::CantAllowInSharedMode { .. }) => return Ok(()),
            Err(OwnershipError::AlreadyAnOwner { .. }) => AllowRefusal::AlreadyOwner,
            Err(OwnershipError::AlreadyAllowed { owner, .. }) => {
                AllowRefusal::AlreadyAllowed { owner }
            }
            Err(OwnershipError::ActorDown { .. }) => AllowRefusal::ActorEnded,
            Err(_) => AllowRefusal::NoConnection,
        };
        Err(SandboxError::AllowRefused {
            label: self.label.to_string(),
            actor,
            owner_or_allowed,
            reason,
        })
    }

    pub(crate) fn current_actor(&self) -> Result<ActorId, SandboxError> {
        callers()
            .first()
            .copied()
            .ok_or_else(|| SandboxError::NoActor {
                label: self.label.to_string(),
            })
    }
}
