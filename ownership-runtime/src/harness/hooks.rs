//! Adapter hooks: how adapters (`sandbox-sqlx`, `mockall-bridge`, your own) take part in
//! every owned test without the macro knowing them by name.
//!
//! An adapter registers one [`AdapterHook`] with [`inventory::submit!`]; a test binary
//! gets the hooks of exactly the adapters it links.
//!
//! # Order
//!
//! Hooks are ordered by name (then by registration order for equal names, which is
//! unspecified): `before` runs in that order before the test body, `after` in the reverse
//! order after it, like constructors and destructors. `after` runs for every hook whose
//! `before` succeeded, also when the body panicked, timed out or a later `before` failed.

use std::fmt;

use crate::actor::ActorId;

/// What a hook knows of the test it runs for.
///
/// ```
/// use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
///
/// fn before(test: &TestContext) -> Result<(), Failure> {
///     assert!(test.actor().is_alive());
///     println!("{} starts (shared: {})", test.name(), test.is_shared());
///     Ok(())
/// }
/// # let _ = before;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TestContext {
    pub(crate) name: &'static str,
    pub(crate) actor: ActorId,
    pub(crate) shared: bool,
}

impl TestContext {
    /// The test's name: its module path and function name.
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, TestConfig, TestContext, TestResource, run_sync};
    ///
    /// struct Fixtures;
    /// impl TestResource for Fixtures {
    ///     fn name(&self) -> String {
    ///         "fixtures".to_owned()
    ///     }
    ///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
    ///         // Say, load `fixtures/lists_orders.sql`.
    ///         assert_eq!(test.name().rsplit("::").next(), Some("lists_orders"));
    ///         Ok(())
    ///     }
    /// }
    /// static FIXTURES: [&dyn TestResource; 1] = [&Fixtures];
    /// run_sync(TestConfig::new("orders::tests::lists_orders").resources(&FIXTURES), || ());
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The test's actor: the owner of what the test owns.
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, TestConfig, TestContext, TestResource, run_sync};
    /// use ownership_runtime::callers;
    ///
    /// struct Checker;
    /// impl TestResource for Checker {
    ///     fn name(&self) -> String {
    ///         "checker".to_owned()
    ///     }
    ///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
    ///         // Resources are prepared as the test's actor, named after the test.
    ///         assert_eq!(callers().first(), Some(&test.actor()));
    ///         assert_eq!(test.actor().name(), Some("docs::as_the_test"));
    ///         Ok(())
    ///     }
    /// }
    /// static CHECKER: [&dyn TestResource; 1] = [&Checker];
    /// run_sync(TestConfig::new("docs::as_the_test").resources(&CHECKER), || ());
    /// ```
    pub fn actor(&self) -> ActorId {
        self.actor
    }

    /// Whether the test runs in shared mode.
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, TestConfig, TestContext, TestResource, run_sync};
    ///
    /// struct PrivateOnly;
    /// impl TestResource for PrivateOnly {
    ///     fn name(&self) -> String {
    ///         "a per-test resource".to_owned()
    ///     }
    ///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
    ///         match test.is_shared() {
    ///             true => Err(Failure::new("shared tests can't use it")),
    ///             false => Ok(()),
    ///         }
    ///     }
    /// }
    /// static RESOURCES: [&dyn TestResource; 1] = [&PrivateOnly];
    /// let failed = std::panic::catch_unwind(|| {
    ///     run_sync(TestConfig::new("docs::shared").shared(true).resources(&RESOURCES), || ())
    /// });
    /// let report = failed.expect_err("fails before its body").downcast::<String>();
    /// assert!(report.is_ok_and(|report| report.contains("shared tests can't use it")));
    /// ```
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

/// Something a hook found wrong with a test (an unmet expectation, a connection not
/// returned). It fails the test and is listed in its report, under the adapter's name.
///
/// ```
/// use ownership_runtime::harness::Failure;
///
/// let failure = Failure::new("MockClock::now: expected 1 call, got 0");
/// assert_eq!(failure.message(), "MockClock::now: expected 1 call, got 0");
/// ```
#[must_use = "a Failure fails the test only when a hook returns it"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    message: String,
    /// Whether the resource's service can't be reached, so that the test is skipped.
    unavailable: bool,
}

impl Failure {
    /// A failure with this message. Say what went wrong and how to fix it.
    ///
    /// ```
    /// use ownership_runtime::harness::Failure;
    ///
    /// let left = 2;
    /// let failure = Failure::new(format!("{left} uploads left behind: delete them in the test"));
    /// assert_eq!(failure.to_string(), "2 uploads left behind: delete them in the test");
    /// ```
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            unavailable: false,
        }
    }

    /// A resource's service can't be reached (a database server that is down), and the
    /// test should be skipped rather than failed: its body doesn't run, the test passes,
    /// and the process's standard error says `skipped <test>: <message>`, with one line at
    /// exit summing the skips up. Under `CI=true` the test fails with the message instead.
    /// Only a [`TestResource`]'s `before_test` can skip a test; a resource should do it
    /// only when its user asked for it (`skip_if_unreachable` of a sandbox).
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, TestConfig, TestContext, TestResource, run_sync};
    ///
    /// struct MailServer;
    /// impl TestResource for MailServer {
    ///     fn name(&self) -> String {
    ///         "the mail server".to_owned()
    ///     }
    ///     fn before_test(&self, _: &TestContext) -> Result<(), Failure> {
    ///         Err(Failure::unavailable("no SMTP server at 127.0.0.1:2525"))
    ///     }
    /// }
    /// static MAIL: [&dyn TestResource; 1] = [&MailServer];
    /// # if std::env::var("CI").as_deref() != Ok("true") {
    /// // Skipped: the body doesn't run, and the test passes.
    /// run_sync(TestConfig::new("docs::sends_mail").resources(&MAIL), || {
    ///     let ran = true;
    ///     assert!(!ran, "the body doesn't run");
    /// });
    /// # }
    /// assert!(Failure::unavailable("down").is_unavailable());
    /// ```
    pub fn unavailable(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            unavailable: true,
        }
    }

    /// Whether this failure is a service that can't be reached (see
    /// [`Failure::unavailable`]).
    ///
    /// ```
    /// use ownership_runtime::harness::Failure;
    ///
    /// assert!(!Failure::new("mock not called").is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The message.
    ///
    /// ```
    /// use ownership_runtime::harness::Failure;
    ///
    /// let failures = [Failure::new("mock not called"), Failure::new("connection kept")];
    /// let summary: Vec<&str> = failures.iter().map(Failure::message).collect();
    /// assert_eq!(summary.join("; "), "mock not called; connection kept");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A resource a test names in `#[owned_test(sandbox = DB)]` (or
/// [`TestConfig::resources`](super::TestConfig::resources)): prepared for that test
/// before its body, as the test's actor. A sandbox checks a connection out; releasing it
/// is the job of the adapter's [`AdapterHook`].
///
/// ```
/// use ownership_runtime::harness::{Failure, TestContext, TestResource};
///
/// struct Clock;
///
/// impl TestResource for Clock {
///     fn name(&self) -> String {
///         "the fake clock".to_owned()
///     }
///
///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
///         assert!(test.actor().is_alive());
///         Ok(())
///     }
/// }
/// ```
pub trait TestResource: Sync {
    /// The resource's name, for failure reports.
    fn name(&self) -> String;

    /// Prepares the resource for `test`.
    ///
    /// # Errors
    ///
    /// A failure stops the test before its body; it is listed in the test's report.
    fn before_test(&self, test: &TestContext) -> Result<(), Failure>;
}

impl<T: TestResource + Send> TestResource for std::sync::LazyLock<T> {
    fn name(&self) -> String {
        std::sync::LazyLock::force(self).name()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        std::sync::LazyLock::force(self).before_test(test)
    }
}

/// An adapter's part in every owned test. Register it once per adapter with
/// [`inventory::submit!`]. An adapter whose ownership servers should follow shared
/// tests registers them with [`register_server`](super::register_server).
///
/// ```
/// use std::sync::LazyLock;
/// use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
/// use ownership_runtime::Ownership;
///
/// static CLOCKS: LazyLock<Ownership<&'static str, u64>> = LazyLock::new(Ownership::new);
///
/// fn after(test: &TestContext) -> Vec<Failure> {
///     if CLOCKS.get_owned(test.actor()).is_empty() {
///         Vec::new()
///     } else {
///         vec![Failure::new("the fake clock was never read")]
///     }
/// }
///
/// ownership_runtime::inventory::submit! {
///     AdapterHook::new("fake-clock").after(after)
/// }
/// ```
#[must_use = "a hook runs only once submitted: `inventory::submit! { AdapterHook::new(..) }`"]
pub struct AdapterHook {
    name: &'static str,
    before: fn(&TestContext) -> Result<(), Failure>,
    after: fn(&TestContext) -> Vec<Failure>,
}

impl AdapterHook {
    /// A hook named `name` (shown in failure reports) that does nothing yet.
    ///
    /// ```
    /// use ownership_runtime::harness::AdapterHook;
    ///
    /// const HOOK: AdapterHook = AdapterHook::new("audit-log");
    /// assert_eq!(HOOK.name(), "audit-log");
    /// ```
    pub const fn new(name: &'static str) -> AdapterHook {
        AdapterHook {
            name,
            before: |_| Ok(()),
            after: |_| Vec::new(),
        }
    }

    /// Runs `before` before each test's body, as the test's actor. An error fails the
    /// test without running its body.
    ///
    /// ```
    /// use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
    ///
    /// fn before(test: &TestContext) -> Result<(), Failure> {
    ///     match test.is_shared() {
    ///         true => Err(Failure::new("the audit log can't run beside a shared test")),
    ///         false => Ok(()),
    ///     }
    /// }
    /// // Registered with `inventory::submit!`, as the `AdapterHook` example shows.
    /// const HOOK: AdapterHook = AdapterHook::new("audit-log").before(before);
    /// assert_eq!(HOOK.name(), "audit-log");
    /// ```
    pub const fn before(mut self, before: fn(&TestContext) -> Result<(), Failure>) -> AdapterHook {
        self.before = before;
        self
    }

    /// Runs `after` after each test's body (also when it panicked), once the test's tasks
    /// have been stopped and before its actor ends: verify, release, report.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use ownership_runtime::harness::{AdapterHook, Failure, TestContext};
    ///
    /// // Removes the folder each test uploads to; a folder that won't go fails the test.
    /// fn after(test: &TestContext) -> Vec<Failure> {
    ///     let dir = std::env::temp_dir().join(format!("uploads-{}", test.actor().as_u64()));
    ///     match std::fs::remove_dir_all(&dir) {
    ///         Err(error) if error.kind() != ErrorKind::NotFound => {
    ///             vec![Failure::new(format!("could not remove {}: {error}", dir.display()))]
    ///         }
    ///         _ => Vec::new(),
    ///     }
    /// }
    /// const HOOK: AdapterHook = AdapterHook::new("uploads").after(after);
    /// assert_eq!(HOOK.name(), "uploads");
    /// ```
    pub const fn after(mut self, after: fn(&TestContext) -> Vec<Failure>) -> AdapterHook {
        self.after = after;
        self
    }

    /// The hook's name.
    ///
    /// ```
    /// use ownership_runtime::harness::AdapterHook;
    ///
    /// // Hooks run in the order of their names.
    /// let mut hooks = [AdapterHook::new("sandbox-sqlx"), AdapterHook::new("mockall-bridge")];
    /// hooks.sort_by_key(AdapterHook::name);
    /// assert_eq!(hooks.map(|hook| hook.name()), ["mockall-bridge", "sandbox-sqlx"]);
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn run_before(&self, test: &TestContext) -> Result<(), Failure> {
        (self.before)(test)
    }

    pub(crate) fn run_after(&self, test: &TestContext) -> Vec<Failure> {
        (self.after)(test)
    }
}

impl fmt::Debug for AdapterHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterHook")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

inventory::collect!(AdapterHook);

/// The registered hooks, in their documented order.
pub(crate) fn registered() -> Vec<&'static AdapterHook> {
    let mut hooks: Vec<&'static AdapterHook> = inventory::iter::<AdapterHook>.into_iter().collect();
    hooks.sort_by_key(|hook| hook.name);
    hooks
}
