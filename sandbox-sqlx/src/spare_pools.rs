//! Test pools between tests, and who may use a test pool.
//!
//! Opening a connection costs more than most tests (a PostgreSQL backend starts for it,
//! and every statement is prepared again on it), so a test's own pool (`async fn t(pool:
//! PgPool)`) is not closed when its test ends cleanly: its transaction is rolled back, a
//! new one begun at once (so that nothing it runs while it waits is ever committed), and
//! the pool waits here for the next test of the process. A process that runs one test
//! (nextest's process-per-test mode) has no next test: its pools are closed.
//!
//! A clone of a pool that outlived its test (kept in a `static`, or by a worker that runs
//! longer than the test) would then reach the next test's transaction. Each pool's
//! [`PoolWatch`] therefore knows the test it serves and the actors that test allowed,
//! and checks, as each connection is acquired, who is acquiring it: code that runs for
//! another actor (another test, or a worker the test did not allow) is recorded, fails
//! the test whose pool it used, and the pool is closed instead of kept. Code that runs
//! for no actor at all (a plain `std::thread` of the test's) is let through, as it is on
//! a `#[sqlx::test]` pool.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use ownership_runtime::{ActorId, callers};
use sqlx::Pool;

use crate::backend::SandboxDatabase;

/// The test that runs in shared mode, if one does: every actor may use its pool.
static SHARED_OWNER: Mutex<Option<ActorId>> = Mutex::new(None);

/// Records the test that runs in shared mode (`None` when it ends).
pub(crate) fn set_shared_owner(owner: Option<ActorId>) {
    *SHARED_OWNER.lock().unwrap_or_else(PoisonError::into_inner) = owner;
}

/// What a test pool's hooks see and check, shared by the pool's hooks and its test.
#[derive(Default)]
pub(crate) struct PoolWatch {
    /// The pool opened its connection (a second one is refused).
    pub(crate) connected: AtomicBool,
    /// A release found the sandbox's transaction ended.
    pub(crate) ended: AtomicBool,
    /// The pool's connection goes through the run's relay, which rolls back what the
    /// connection left when it closes.
    pub(crate) relayed: AtomicBool,
    /// Who may use the pool, and who used it without being allowed.
    users: Mutex<Users>,
}

/// Who may use a test pool.
#[derive(Default)]
struct Users {
    /// The test the pool serves (`None` between tests).
    owner: Option<ActorId>,
    /// The actors the test allowed (`allow_all`).
    allowed: Vec<ActorId>,
    /// The first actor that used the pool while it was not theirs.
    intruder: Option<ActorId>,
}

impl PoolWatch {
    fn users(&self) -> std::sync::MutexGuard<'_, Users> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives the pool to `test`.
    pub(crate) fn serve(&self, test: ActorId) {
        let mut users = self.users();
        users.owner = Some(test);
        users.allowed.clear();
    }

    /// Lets `actor` use the pool of `test`; `false` if the pool isn't `test`'s.
    pub(crate) fn allow(&self, test: ActorId, actor: ActorId) -> bool {
        let mut users = self.users();
        if users.owner != Some(test) {
            return false;
        }
        users.allowed.push(actor);
        true
    }

    /// Checks the code acquiring a connection of the pool: running for the pool's test,
    /// an actor it allowed, the shared test, or no actor at all, it may; running for
    /// anyone else, it is recorded as the pool's intruder.
    pub(crate) fn check_caller(&self) {
        let chain = callers();
        let Some(&first) = chain.first() else {
            return; // no actor: a plain thread of the test's, or code outside tests
        };
        let mut users = self.users();
        let shared = *SHARED_OWNER.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = |actor: &ActorId| {
            Some(*actor) == users.owner || Some(*actor) == shared || users.allowed.contains(actor)
        };
        if !chain.iter().any(mine) && users.intruder.is_none() {
            users.intruder = Some(first);
        }
    }

    /// The actor that used the pool while it was not theirs, if one did.
    pub(crate) fn intruder(&self) -> Option<ActorId> {
        self.users().intruder
    }

    /// Takes the pool back from its test: it serves nobody until the next.
    pub(crate) fn retire(&self) {
        let mut users = self.users();
        users.owner = None;
        users.allowed.clear();
    }
}

/// A test pool that waits for its next test, in a new transaction.
pub(crate) struct SparePool<DB: SandboxDatabase> {
    pub(crate) pool: Pool<DB>,
    pub(crate) watch: Arc<PoolWatch>,
}

/// The spare test pools of one sandbox.
pub(crate) struct SparePools<DB: SandboxDatabase> {
    spares: Mutex<Vec<SparePool<DB>>>,
}

impl<DB: SandboxDatabase> Default for SparePools<DB> {
    fn default() -> Self {
        SparePools {
            spares: Mutex::new(Vec::new()),
        }
    }
}

impl<DB: SandboxDatabase> SparePools<DB> {
    /// A spare pool that nobody used while it waited, if there is one; one that was used
    /// is closed (in the background) and skipped.
    pub(crate) fn take(&self) -> Option<SparePool<DB>> {
        loop {
            let spare = self
                .spares
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()?;
            if spare.watch.intruder().is_none() && !spare.pool.is_closed() {
                return Some(spare);
            }
            let pool = spare.pool;
            ownership_runtime::background::spawn_detached(async move { pool.close().await });
        }
    }

    /// Keeps `spare` for the next test.
    pub(crate) fn put(&self, spare: SparePool<DB>) {
        spare.watch.retire();
        self.spares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(spare);
    }
}
