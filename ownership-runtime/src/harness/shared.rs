//! Shared mode for every ownership server of the process: the one registry of servers
//! made at run time, and the only place that switches them for shared tests.
//!
//! Adapters (a sandbox, a mock facade, your own) register each server when they make it
//! ([`register_server`]). While a shared test runs, every registered server is in shared
//! mode owned by the test, including a server made in the middle of the test (a
//! `LazyLock` the test touches first): it is switched as it registers, so a resource a
//! shared test is the first to use is shared before the test's body runs. When the test
//! ends, the harness switches every server back to private mode, and reports a switch
//! that failed in the test's report.

use std::sync::{Mutex, MutexGuard, PoisonError, Weak};

use crate::actor::ActorId;
use crate::ownership::{Mode, ModeSwitch};

/// The registered servers, and the shared test running, if any.
struct Registry {
    servers: Vec<Weak<dyn ModeSwitch>>,
    /// The shared test that runs now (shared tests run alone: the harness's gate).
    shared: Option<ActorId>,
    /// Switches that failed during the shared test, for its report.
    problems: Vec<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    servers: Vec::new(),
    shared: None,
    problems: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // Every change is a single step that doesn't panic.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// Switches one server, keeping a failure for the report.
    fn switch(&mut self, server: &dyn ModeSwitch, mode: Mode) {
        if let Err(error) = server.switch_mode(mode) {
            self.problems.push(error.to_string());
        }
    }

    /// Switches every live server (forgetting the dead ones).
    fn switch_all(&mut self, mode: Mode) {
        self.servers.retain(|server| server.strong_count() > 0);
        let live: Vec<_> = self.servers.iter().filter_map(Weak::upgrade).collect();
        for server in live {
            self.switch(&*server, mode);
        }
    }
}

/// Registers an ownership server to follow shared tests: from now on it is in shared mode
/// for the whole of every shared test of the process (at once, if one runs now), and back
/// in private mode after it. The registry holds it weakly: a server that is dropped
/// leaves it.
///
/// ```
/// use std::sync::LazyLock;
/// use ownership_runtime::harness::{register_server, run_async, TestConfig};
/// use ownership_runtime::{callers, Mode, Ownership};
///
/// // Made at first use, which may be inside a shared test: registered as it is made.
/// static CLOCKS: LazyLock<Ownership<&'static str, u64>> = LazyLock::new(|| {
///     let clocks = Ownership::new();
///     register_server(clocks.mode_switch());
///     clocks
/// });
///
/// run_async(TestConfig::new("docs::shared_clock").shared(true), || async {
///     // First touched here, and shared with the test already.
///     assert_eq!(CLOCKS.mode(), Mode::Shared(callers()[0]));
/// });
/// assert_eq!(CLOCKS.mode(), Mode::Private);
/// ```
pub fn register_server(server: Weak<dyn ModeSwitch>) {
    let mut registry = registry();
    registry.servers.retain(|server| server.strong_count() > 0);
    if let (Some(owner), Some(live)) = (registry.shared, server.upgrade()) {
        registry.switch(&*live, Mode::Shared(owner));
    }
    registry.servers.push(server);
}

/// Starts a shared test: every registered server, and every one registered until
/// [`leave`], is shared with `test`.
pub(super) fn enter(test: ActorId) {
    let mut registry = registry();
    registry.shared = Some(test);
    registry.problems.clear();
    registry.switch_all(Mode::Shared(test));
}

/// Ends the shared test `test`: every server back to private mode. Returns the switches
/// that failed meanwhile.
pub(super) fn leave(test: ActorId) -> Vec<String> {
    let mut registry = registry();
    if registry.shared != Some(test) {
        return Vec::new();
    }
    registry.shared = None;
    registry.switch_all(Mode::Private);
    std::mem::take(&mut registry.problems)
}
