//! [`TestContext`]: what the harness tells a [`TestResource`](super::TestResource) of the
//! test it prepares or finishes.

use crate::actor_id::ActorId;

/// What a resource knows of the test it is prepared for or finished after.
///
/// ```
/// use ownership_runtime::harness::{run_sync, Failure, TestConfig, TestContext, TestResource};
///
/// struct Announcer;
/// impl TestResource for Announcer {
///     fn name(&self) -> String {
///         "announcer".to_owned()
///     }
///     fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
///         assert!(test.actor().is_alive());
///         println!("{} starts (shared: {})", test.name(), test.is_shared());
///         Ok(())
///     }
/// }
/// static ANNOUNCER: [&dyn TestResource; 1] = [&Announcer];
/// run_sync(TestConfig::new("docs::announced").resources(&ANNOUNCER), || ());
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
