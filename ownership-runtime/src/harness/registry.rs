//! The one registry of the resources tests use, and the only place that switches them for
//! shared tests.
//!
//! A resource joins it when it is registered ([`register_resource`], what an adapter does
//! as it makes a sandbox or a facade) or first named by a test. While a shared test runs,
//! every registered resource is in shared mode owned by the test, including one registered
//! in the middle of the test (a `LazyLock` the test touches first): it is switched as it
//! registers, so a resource a shared test is the first to use is shared before the test's
//! body runs. When the test ends, the harness switches every resource back to private
//! mode, and reports a switch that failed (the shared owner gone) in the test's report.
//!
//! The registry holds made resources weakly (a dropped resource leaves it) and named ones
//! by their `'static` reference. Nothing of a resource's own code runs under its lock but
//! `switch_mode`, which must not register resources.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::resource::{ResourceKey, TestResource};
use crate::actor_id::ActorId;
use crate::error::SharedOwnerDown;
use crate::ownership::Mode;

/// How the registry holds a resource.
enum Held {
    /// Registered by the code that made it: alive while someone else holds it.
    Made(Weak<dyn TestResource>),
    /// Named by a test: alive for the whole process.
    Named(&'static dyn TestResource),
}

/// A resource of the registry, alive while this is held.
pub(super) enum Live {
    Made(Arc<dyn TestResource>),
    Named(&'static dyn TestResource),
}

impl Deref for Live {
    type Target = dyn TestResource;

    fn deref(&self) -> &Self::Target {
        match self {
            Live::Made(resource) => &**resource,
            Live::Named(resource) => *resource,
        }
    }
}

impl Held {
    fn upgrade(&self) -> Option<Live> {
        match self {
            Held::Made(resource) => resource.upgrade().map(Live::Made),
            Held::Named(resource) => Some(Live::Named(*resource)),
        }
    }

    fn is_alive(&self) -> bool {
        match self {
            Held::Made(resource) => resource.strong_count() > 0,
            Held::Named(_) => true,
        }
    }
}

/// The registered resources, and the shared test running, if any.
struct Registry {
    /// In the order they registered, each once, with its key.
    resources: Vec<(ResourceKey, Held)>,
    /// The shared test that runs now (shared tests run alone: the harness's gate).
    shared: Option<ActorId>,
    /// Switches that failed during the shared test (the resource's name, the error), for
    /// its report.
    problems: Vec<(String, SharedOwnerDown)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    resources: Vec::new(),
    shared: None,
    problems: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // Every change is a single step that doesn't panic.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// Adds a resource not yet known, switching it if a shared test runs.
    fn add(&mut self, key: ResourceKey, held: Held) {
        self.resources.retain(|(_, held)| held.is_alive());
        if self.resources.iter().any(|(known, _)| *known == key) {
            return;
        }
        if let (Some(owner), Some(live)) = (self.shared, held.upgrade()) {
            self.switch(&*live, Mode::Shared(owner));
        }
        self.resources.push((key, held));
    }

    /// Switches one resource, keeping a failure for the report.
    fn switch(&mut self, resource: &dyn TestResource, mode: Mode) {
        if let Err(error) = resource.switch_mode(mode) {
            self.problems.push((resource.name(), error));
        }
    }

    fn live(&mut self) -> Vec<Live> {
        self.resources.retain(|(_, held)| held.is_alive());
        self.resources
            .iter()
            .filter_map(|(_, held)| held.upgrade())
            .collect()
    }

    /// Switches every live resource.
    fn switch_all(&mut self, mode: Mode) {
        for resource in self.live() {
            self.switch(&*resource, mode);
        }
    }
}

/// Registers a resource the code has just made, so that it takes part in every test of
/// the process from now on: its [`after_test`](TestResource::after_test) after each test,
/// and shared mode for the whole of every shared test (at once, if one runs now). The
/// registry holds it weakly: a resource that is dropped leaves it. Registering a resource
/// twice (or one a test named) changes nothing.
///
/// ```
/// use std::sync::{Arc, LazyLock, Mutex};
/// use ownership_runtime::harness::{register_resource, run_sync, TestConfig, TestContext, TestResource};
///
/// /// Counts the tests it finished.
/// #[derive(Default)]
/// struct Counter(Mutex<usize>);
/// impl TestResource for Counter {
///     fn name(&self) -> String {
///         "counter".to_owned()
///     }
///     fn after_test(&self, _: &TestContext) -> Vec<ownership_runtime::harness::Failure> {
///         *self.0.lock().unwrap() += 1;
///         Vec::new()
///     }
/// }
///
/// let counter = Arc::new(Counter::default());
/// let resource: Arc<dyn TestResource> = counter.clone();
/// register_resource(Arc::downgrade(&resource));
/// run_sync(TestConfig::new("docs::counted"), || ()); // names nothing
/// assert_eq!(*counter.0.lock().unwrap(), 1);
/// drop((resource, counter)); // leaves the registry
/// ```
pub fn register_resource(resource: Weak<dyn TestResource>) {
    let key = ResourceKey::of_weak(&resource);
    registry().add(key, Held::Made(resource));
}

/// Registers a resource a test names (known from now on, like a registered one).
pub(super) fn name(resource: &'static dyn TestResource) {
    // Its key may make it (a `LazyLock`), which registers it: outside the lock.
    let key = resource.key();
    registry().add(key, Held::Named(resource));
}

/// The live resources, newest first: the order their after halves run in. Called outside
/// the lock's hold: their code runs without it.
pub(super) fn newest_first() -> Vec<Live> {
    let mut resources = registry().live();
    resources.reverse();
    resources
}

/// Starts a shared test: every registered resource, and every one registered until
/// [`leave`], is shared with `test`.
pub(super) fn enter(test: ActorId) {
    let mut registry = registry();
    registry.shared = Some(test);
    registry.problems.clear();
    registry.switch_all(Mode::Shared(test));
}

/// Ends the shared test `test`: every resource back to private mode. Returns the switches
/// that failed meanwhile.
pub(super) fn leave(test: ActorId) -> Vec<(String, SharedOwnerDown)> {
    let mut registry = registry();
    if registry.shared != Some(test) {
        return Vec::new();
    }
    registry.shared = None;
    registry.switch_all(Mode::Private);
    std::mem::take(&mut registry.problems)
}
