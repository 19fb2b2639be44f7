//! The facades' part in every owned test, registered with the harness through
//! `inventory`:
//!
//! - in a shared test (`#[owned_test(shared)]`) every facade is in shared mode, owned by
//!   the test, so that every actor (known or not) uses the test's mocks: the harness
//!   switches them, through its registry, which each facade joins at its first install
//!   (so a facade a shared test is the first to use is shared too);
//! - **after** every test (on the test's own thread, once its runtime has stopped and
//!   before its actor ends), each mock the test installed is taken out of its facade and
//!   dropped, which is when mockall checks its expectations; unmet expectations fail the
//!   test, listed in its report as "mockall-bridge (after the test): facade `NAME`: ...".
//!
//! The hook finds the facades through a process-wide registry: each facade registers its
//! mocks at its first install. The registry holds them weakly, so a facade that is not a
//! `static` (a local in a test) leaves it when it drops.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
use ownership_runtime::{ActorId, ModeSwitch};

use crate::mocks::{Mocks, TAKE_WAIT, Unverified};
use crate::slot::Leave;

/// The name the hook reports failures under.
pub(crate) const ADAPTER: &str = "mockall-bridge";

/// A facade's mocks, whatever the facade's trait.
pub(crate) trait RegisteredMocks: Send + Sync {
    /// Verifies the mock `owner` installed, if any, and marks its slot ended. Returns the
    /// failure to report, if any.
    fn verify_at_end(&self, owner: ActorId) -> Option<String>;
}

impl<T: ?Sized + Send + Sync + 'static> RegisteredMocks for Mocks<T> {
    fn verify_at_end(&self, owner: ActorId) -> Option<String> {
        match self.take_and_verify(owner, Leave::Ended)? {
            Ok(()) => None,
            Err(Unverified::Unsatisfied { at, verdict }) => Some(format!(
                "facade `{}`: the mock installed at {at} was not satisfied: {verdict}",
                self.facade
            )),
            Err(Unverified::Busy) => Some(format!(
                "facade `{}`: the test's mock could not be verified: a call through the facade \
                 still held it {} ms after the test ended (a call that blocks, or a guard from \
                 `get()` kept alive by a thread that outlived the test). Join such threads \
                 before the test returns.",
                self.facade,
                TAKE_WAIT.as_millis()
            )),
        }
    }
}

/// Every facade that has had a mock installed.
struct Registry {
    facades: Vec<Weak<dyn RegisteredMocks>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    facades: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // The registry is changed by single operations that don't panic.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    fn live(&mut self) -> Vec<Arc<dyn RegisteredMocks>> {
        self.facades.retain(|facade| facade.strong_count() > 0);
        self.facades.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Registers a facade's mocks (at its first install), with `switch` (its ownership
/// server) for the harness's shared mode: inside a shared test, they start in shared
/// mode.
pub(crate) fn register(mocks: Arc<dyn RegisteredMocks>, switch: Weak<dyn ModeSwitch>) {
    ownership_runtime::harness::register_server(switch);
    let mut registry = registry();
    registry.facades.retain(|facade| facade.strong_count() > 0);
    registry.facades.push(Arc::downgrade(&mocks));
}

fn after(test: &TestContext) -> Vec<Failure> {
    // Verify outside the registry's lock: dropping a mock runs its code.
    let facades = registry().live();
    facades
        .iter()
        .filter_map(|facade| facade.verify_at_end(test.actor()))
        .map(Failure::new)
        .collect()
}

ownership_runtime::inventory::submit! {
    AdapterHook::new(ADAPTER).after(after)
}
