//! The sandbox's part in every owned test: after every test, the connections the test
//! owns are checked in (rolled back), and a sandbox transaction that had ended is
//! reported. (Shared tests switch every sandbox to shared mode through the harness's
//! registry, which each sandbox joins when it is built.)

use std::sync::{Arc, Mutex, PoisonError, Weak};

use ownership_runtime::ActorId;
use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::sandbox::{Driven, State};

/// A sandbox, whatever its database.
pub(crate) trait AnySandbox: Send + Sync {
    fn checkin_blocking(&self, owner: ActorId) -> Option<String>;
}

impl<DB: SandboxDatabase> AnySandbox for State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
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

/// Registers a sandbox: with the hook, which checks its connections in after each test,
/// and with the harness, which shares it with every shared test.
pub(crate) fn register<DB: SandboxDatabase>(state: &Arc<State<DB>>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    ownership_runtime::harness::register_server(state.owners.mode_switch());
    register_any(state.clone());
}

/// Registers anything that holds per-test database resources, for the hook.
pub(crate) fn register_any(state: Arc<dyn AnySandbox>) {
    SANDBOXES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::downgrade(&state));
}

fn after(test: &TestContext) -> Vec<Failure> {
    let mut failures = Vec::new();
    for sandbox in live() {
        if let Some(message) = sandbox.checkin_blocking(test.actor()) {
            failures.push(Failure::new(message));
        }
    }
    failures
}

ownership_runtime::inventory::submit! {
    AdapterHook::new("sandbox-sqlx").after(after)
}
