//! The sandbox's part in every owned test: in shared tests, every sandbox is put in
//! shared mode owned by the test; after every test, the connections the test owns are
//! checked in (rolled back), and a sandbox transaction that had ended is reported.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
use ownership_runtime::{ActorId, Mode};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::sandbox::{Driven, State};

/// A sandbox, whatever its database.
pub(crate) trait AnySandbox: Send + Sync {
    fn set_shared(&self, owner: Option<ActorId>);
    fn checkin_blocking(&self, owner: ActorId) -> Option<String>;
}

impl<DB: SandboxDatabase> AnySandbox for State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn set_shared(&self, owner: Option<ActorId>) {
        let _ = self
            .owners
            .set_mode(owner.map_or(Mode::Private, Mode::Shared));
    }

    fn checkin_blocking(&self, owner: ActorId) -> Option<String> {
        self.owners.metadata(owner, &())?;
        let runtime = match ownership_runtime::background::handle() {
            Ok(runtime) => runtime,
            Err(message) => return Some(message),
        };
        runtime
            .block_on(self.checkin(owner, Driven::Here))
            .err()
            .map(|error| error.to_string())
    }
}

/// Every sandbox alive in the process.
static SANDBOXES: Mutex<Vec<Weak<dyn AnySandbox>>> = Mutex::new(Vec::new());

fn live() -> Vec<Arc<dyn AnySandbox>> {
    let mut sandboxes = SANDBOXES.lock().unwrap_or_else(PoisonError::into_inner);
    sandboxes.retain(|sandbox| sandbox.strong_count() > 0);
    sandboxes.iter().filter_map(Weak::upgrade).collect()
}

pub(crate) fn register<DB: SandboxDatabase>(state: &Arc<State<DB>>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    register_any(state.clone());
}

/// Registers anything that holds per-test database resources, for the hook.
pub(crate) fn register_any(state: Arc<dyn AnySandbox>) {
    SANDBOXES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::downgrade(&state));
}

fn before(test: &TestContext) -> Result<(), Failure> {
    if test.is_shared() {
        for sandbox in live() {
            sandbox.set_shared(Some(test.actor()));
        }
    }
    Ok(())
}

fn after(test: &TestContext) -> Vec<Failure> {
    let mut failures = Vec::new();
    for sandbox in live() {
        if let Some(message) = sandbox.checkin_blocking(test.actor()) {
            failures.push(Failure::new(message));
        }
        if test.is_shared() {
            sandbox.set_shared(None);
        }
    }
    failures
}

ownership_runtime::inventory::submit! {
    AdapterHook::new("sandbox-sqlx").before(before).after(after)
}
