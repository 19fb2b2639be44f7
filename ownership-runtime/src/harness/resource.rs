//! [`TestResource`]: the one trait for a resource tests use (a database sandbox, a mock
//! facade, a fixture of your own), with the two halves of its part in each test: what it
//! does before a test that names it, and what it verifies and releases after every test.

use std::hash::Hash;
use std::sync::{Arc, LazyLock, Weak};

use super::context::TestContext;
use super::failure::Failure;
use crate::actor_id::ActorId;
use crate::error::SharedOwnerDown;
use crate::ownership::{Mode, Ownership, Server};

/// A resource tests use, and its part in each of them.
///
/// - **Before** a test that names it (`#[owned_test(sandbox = DB)]`, or
///   [`TestConfig::resources`](super::TestConfig::resources)), [`before_test`] prepares it
///   for that test, as the test's actor: a sandbox checks a connection out.
/// - **After** every test, once the test's tasks have stopped and while its actor is
///   still alive, [`after_test`] verifies and releases what that test holds: a sandbox
///   rolls the test's connection back, a facade verifies the test's mock. It runs for
///   every test of the process, named or not (code under test may use a resource the test
///   doesn't name), also when the body panicked or setup failed, so it must do nothing
///   for a test that holds nothing.
/// - **Shared tests**: [`switch_mode`] puts the resource's ownership servers in shared
///   mode for a shared test, and back in private mode after it.
///
/// The harness knows a resource once it is registered with
/// [`register_resource`](super::register_resource) (an adapter does it when it makes
/// the resource, so a resource made inside a shared test is shared at once) or named by a
/// test; from then on, until the resource is dropped, it takes part in every test of the
/// process. After halves run newest resource first, like destructors.
///
/// [`before_test`]: TestResource::before_test
/// [`after_test`]: TestResource::after_test
/// [`switch_mode`]: TestResource::switch_mode
///
/// ```
/// use std::sync::{Arc, LazyLock, Mutex};
/// use ownership_runtime::harness::{
///     register_resource, run_sync, Failure, TestConfig, TestContext, TestResource,
/// };
/// use ownership_runtime::ActorId;
///
/// /// Upload folders, one per test that asks for one, removed after the test.
/// #[derive(Default)]
/// struct Uploads {
///     folders: Mutex<Vec<(ActorId, std::path::PathBuf)>>,
/// }
///
/// impl TestResource for Uploads {
///     fn name(&self) -> String {
///         "uploads".to_owned()
///     }
///
///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
///         let folder = std::env::temp_dir().join(format!("uploads-{}", test.actor().as_u64()));
///         std::fs::create_dir_all(&folder)
///             .map_err(|error| Failure::new(format!("could not create {}: {error}", folder.display())))?;
///         self.folders.lock().unwrap().push((test.actor(), folder));
///         Ok(())
///     }
///
///     fn after_test(&self, test: &TestContext) -> Vec<Failure> {
///         let mut folders = self.folders.lock().unwrap();
///         let (mine, others) = folders.drain(..).partition(|(owner, _)| *owner == test.actor());
///         *folders = others;
///         let mine: Vec<(ActorId, std::path::PathBuf)> = mine;
///         mine.into_iter()
///             .filter_map(|(_, folder)| std::fs::remove_dir_all(&folder).err())
///             .map(|error| Failure::new(format!("could not remove an upload folder: {error}")))
///             .collect()
///     }
/// }
///
/// static UPLOADS: LazyLock<Arc<Uploads>> = LazyLock::new(|| {
///     let uploads = Arc::new(Uploads::default());
///     let resource: Arc<dyn TestResource> = uploads.clone();
///     register_resource(Arc::downgrade(&resource));
///     uploads
/// });
/// static NAMED: [&dyn TestResource; 1] = [&UPLOADS];
///
/// run_sync(TestConfig::new("docs::uploads").resources(&NAMED), || {
///     assert_eq!(UPLOADS.folders.lock().unwrap().len(), 1);
/// });
/// assert!(UPLOADS.folders.lock().unwrap().is_empty()); // removed after the test
/// ```
pub trait TestResource: Send + Sync {
    /// The resource's name, for failure reports: "sandbox `app`", "facade `MAILER`".
    ///
    /// ```
    /// use ownership_runtime::harness::TestResource;
    ///
    /// struct Clock;
    /// impl TestResource for Clock {
    ///     fn name(&self) -> String {
    ///         "the fake clock".to_owned()
    ///     }
    /// }
    /// assert_eq!(Clock.name(), "the fake clock");
    /// ```
    fn name(&self) -> String;

    /// Prepares the resource for `test`, which names it, as the test's actor, before the
    /// body runs. Does nothing unless overridden.
    ///
    /// # Errors
    ///
    /// A failure stops the test before its body; it is listed in the test's report. A
    /// [`Failure::unavailable`] skips the test instead.
    ///
    /// ```
    /// use ownership_runtime::harness::{run_sync, Failure, TestConfig, TestContext, TestResource};
    ///
    /// struct Seeds;
    /// impl TestResource for Seeds {
    ///     fn name(&self) -> String {
    ///         "seeds".to_owned()
    ///     }
    ///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
    ///         assert_eq!(test.name(), "docs::seeded");
    ///         Ok(())
    ///     }
    /// }
    /// static SEEDS: [&dyn TestResource; 1] = [&Seeds];
    /// run_sync(TestConfig::new("docs::seeded").resources(&SEEDS), || ());
    /// ```
    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        let _ = test;
        Ok(())
    }

    /// Verifies and releases what `test` holds of the resource, after the test, as the
    /// test's actor (still alive). Runs after every test of the process, so it does
    /// nothing for a test that holds nothing. Does nothing unless overridden.
    ///
    /// Each failure it returns fails the test, listed in its report as
    /// `NAME (after the test): MESSAGE`.
    ///
    /// ```
    /// use ownership_runtime::harness::{run_sync, Failure, TestConfig, TestContext, TestResource};
    ///
    /// struct Strict;
    /// impl TestResource for Strict {
    ///     fn name(&self) -> String {
    ///         "the strict mock".to_owned()
    ///     }
    ///     fn after_test(&self, test: &TestContext) -> Vec<Failure> {
    ///         vec![Failure::new(format!("{} never called it", test.name()))]
    ///     }
    /// }
    /// static STRICT: [&dyn TestResource; 1] = [&Strict];
    /// let failed = std::panic::catch_unwind(|| {
    ///     run_sync(TestConfig::new("docs::lazy").resources(&STRICT), || ())
    /// });
    /// let report = failed.expect_err("fails after its body").downcast::<String>().unwrap();
    /// assert!(report.contains("the strict mock (after the test): docs::lazy never called it"));
    /// ```
    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        let _ = test;
        Vec::new()
    }

    /// Allows `actor` to use what `owner` (or the owner `owner` is allowed through) holds in
    /// this resource: what [`allow_all`](super::allow_all) calls on every registered
    /// resource. A resource in which `owner` holds nothing returns `Ok(())` and changes
    /// nothing. Does nothing unless overridden.
    ///
    /// # Errors
    ///
    /// The resource's refusal (the actor already serves another owner, it has ended, ..),
    /// which `allow_all` reports under the resource's name.
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, TestResource};
    /// use ownership_runtime::{Actor, ActorId, Ownership};
    ///
    /// struct Flags(Ownership<&'static str, bool>);
    /// impl TestResource for Flags {
    ///     fn name(&self) -> String {
    ///         "feature flags".to_owned()
    ///     }
    ///     fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
    ///         if self.0.fetch_owner(&[owner], &"flags").is_none() {
    ///             return Ok(()); // nothing of `owner`'s here
    ///         }
    ///         self.0.allow(owner, actor, "flags").map_err(Failure::from_error)
    ///     }
    /// }
    /// let flags = Flags(Ownership::new());
    /// let (test, worker) = (Actor::named("tests::flags"), Actor::named("worker"));
    /// flags.allow(test.id(), worker.id()).unwrap(); // owns nothing yet
    /// flags.0.get_and_update(test.id(), "flags", |_| ((), true)).unwrap();
    /// flags.allow(test.id(), worker.id()).unwrap();
    /// assert!(flags.0.fetch_owner(&[worker.id()], &"flags").is_some());
    /// ```
    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        let _ = (owner, actor);
        Ok(())
    }

    /// Switches the resource's ownership servers to `mode`: shared with a shared test for
    /// the whole of it, private after it. Only the harness calls it. Does nothing unless
    /// overridden.
    ///
    /// # Errors
    ///
    /// When the shared owner has already ended: the harness reports it in the shared
    /// test's report.
    ///
    /// ```
    /// use ownership_runtime::harness::TestResource;
    /// use ownership_runtime::{Actor, Mode, Ownership, SharedOwnerDown};
    ///
    /// struct Flags(Ownership<&'static str, bool>);
    /// impl TestResource for Flags {
    ///     fn name(&self) -> String {
    ///         "feature flags".to_owned()
    ///     }
    ///     fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
    ///         self.0.set_mode(mode)
    ///     }
    /// }
    /// let flags = Flags(Ownership::new());
    /// let test = Actor::named("tests::shared");
    /// flags.switch_mode(Mode::Shared(test.id()))?;
    /// assert_eq!(flags.0.mode(), Mode::Shared(test.id()));
    /// # Ok::<(), SharedOwnerDown>(())
    /// ```
    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        let _ = mode;
        Ok(())
    }

    /// Which resource this is, for the harness to know it once: a handle that stands for
    /// a registered resource (a cheap clone around an `Arc`) returns the key of what it
    /// stands for, so that naming the handle and registering the state are one resource.
    /// By default, the address of `self`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ownership_runtime::harness::{ResourceKey, TestResource};
    ///
    /// struct State;
    /// impl TestResource for State {
    ///     fn name(&self) -> String {
    ///         "state".to_owned()
    ///     }
    /// }
    /// /// What tests name: a handle to the registered state.
    /// struct Handle(Arc<State>);
    /// impl TestResource for Handle {
    ///     fn name(&self) -> String {
    ///         self.0.name()
    ///     }
    ///     fn key(&self) -> ResourceKey {
    ///         self.0.key()
    ///     }
    /// }
    /// let state = Arc::new(State);
    /// assert_eq!(Handle(state.clone()).key(), state.key());
    /// ```
    fn key(&self) -> ResourceKey {
        ResourceKey::of(self)
    }
}

/// Tells resources apart (see [`TestResource::key`]): the address of what a resource
/// stands for.
///
/// ```
/// use ownership_runtime::harness::ResourceKey;
///
/// let (a, b) = (String::from("a"), String::from("b"));
/// assert_eq!(ResourceKey::of(&a), ResourceKey::of(&a));
/// assert_ne!(ResourceKey::of(&a), ResourceKey::of(&b));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceKey(usize);

impl ResourceKey {
    /// The key of the value at this address.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ownership_runtime::harness::ResourceKey;
    ///
    /// let shared = Arc::new(5);
    /// assert_eq!(ResourceKey::of(&*shared), ResourceKey::of(&*shared.clone()));
    /// ```
    pub fn of<T: ?Sized>(value: &T) -> ResourceKey {
        ResourceKey(std::ptr::from_ref(value).cast::<()>() as usize)
    }

    /// The key of a registered resource, known also once it is gone.
    pub(super) fn of_weak(resource: &Weak<dyn TestResource>) -> ResourceKey {
        ResourceKey(resource.as_ptr().cast::<()>() as usize)
    }
}

/// A resource made at first use: the same resource as what it holds.
impl<T: TestResource> TestResource for LazyLock<T> {
    fn name(&self) -> String {
        LazyLock::force(self).name()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        LazyLock::force(self).before_test(test)
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        LazyLock::force(self).after_test(test)
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        LazyLock::force(self).switch_mode(mode)
    }

    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        LazyLock::force(self).allow(owner, actor)
    }

    fn key(&self) -> ResourceKey {
        LazyLock::force(self).key()
    }
}

/// A shared resource: the same resource as what it points at.
impl<T: TestResource + ?Sized> TestResource for Arc<T> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        (**self).before_test(test)
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        (**self).after_test(test)
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        (**self).switch_mode(mode)
    }

    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        (**self).allow(owner, actor)
    }

    fn key(&self) -> ResourceKey {
        (**self).key()
    }
}

/// A bare ownership server takes part in shared tests; what a test owns in it is released
/// when the test's actor ends.
impl<K, M> TestResource for Server<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn name(&self) -> String {
        format!("ownership server of {}", std::any::type_name::<M>())
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.set_mode(mode)
    }
}

impl<K, M> Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    /// The server as a [`TestResource`], held weakly (it doesn't keep the server alive),
    /// for [`register_resource`](super::register_resource): registered, the server is in
    /// shared mode for the whole of every shared test.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use ownership_runtime::harness::{register_resource, run_async, TestConfig};
    /// use ownership_runtime::{callers, Mode, Ownership};
    ///
    /// // Made at first use, which may be inside a shared test: registered as it is made.
    /// static CLOCKS: LazyLock<Ownership<&'static str, u64>> = LazyLock::new(|| {
    ///     let clocks = Ownership::new();
    ///     register_resource(clocks.as_test_resource());
    ///     clocks
    /// });
    ///
    /// run_async(TestConfig::new("docs::shared_clock").shared(true), || async {
    ///     // First touched here, and shared with the test already.
    ///     assert_eq!(CLOCKS.mode(), Mode::Shared(callers()[0]));
    /// });
    /// assert_eq!(CLOCKS.mode(), Mode::Private);
    /// ```
    pub fn as_test_resource(&self) -> Weak<dyn TestResource> {
        let server: Arc<dyn TestResource> = self.server.clone();
        Arc::downgrade(&server)
    }
}
