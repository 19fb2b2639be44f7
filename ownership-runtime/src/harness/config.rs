//! What `#[owned_test]` tells the harness about one test.

use std::fmt;
use std::time::Duration;

use super::hooks::TestResource;

/// The flavor of a test's tokio runtime, as in `#[tokio::test]`.
///
/// ```
/// use ownership_runtime::harness::Flavor;
///
/// assert_eq!(Flavor::default(), Flavor::CurrentThread);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// One thread: the test's own (the default).
    #[default]
    CurrentThread,
    /// A pool of worker threads.
    MultiThread,
}

/// How to run one test: what `#[owned_test(..)]`'s options say. Built with `const`
/// methods, so the macro's expansion stays one expression.
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::harness::{Flavor, TestConfig};
///
/// const CONFIG: TestConfig = TestConfig::new("orders::tests::heavy")
///     .flavor(Flavor::MultiThread)
///     .worker_threads(2)
///     .timeout(Duration::from_secs(30));
/// assert_eq!(CONFIG.name, "orders::tests::heavy");
/// assert_eq!(CONFIG.worker_threads, Some(2));
/// assert!(!CONFIG.shared);
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct TestConfig {
    /// The test's name: its module path and function name.
    pub name: &'static str,
    /// Whether the test runs in shared mode.
    pub shared: bool,
    /// The runtime's flavor.
    pub flavor: Flavor,
    /// The number of worker threads of a multi-thread runtime (tokio's default if `None`).
    pub worker_threads: Option<usize>,
    /// Whether the runtime's clock starts paused.
    pub start_paused: bool,
    /// The longest the test may run.
    pub timeout: Option<Duration>,
    /// Resources prepared for the test before its body (`#[owned_test(sandbox = DB)]`).
    pub resources: &'static [&'static dyn TestResource],
}

impl fmt::Debug for TestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestConfig")
            .field("name", &self.name)
            .field("shared", &self.shared)
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("start_paused", &self.start_paused)
            .field("timeout", &self.timeout)
            .field(
                "resources",
                &self
                    .resources
                    .iter()
                    .map(|resource| resource.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TestConfig {
    /// A private test named `name` (its module path and function name) on a
    /// current-thread runtime, with no timeout.
    ///
    /// ```
    /// use ownership_runtime::harness::{Flavor, TestConfig};
    ///
    /// let config = TestConfig::new("orders::tests::lists_orders");
    /// assert_eq!(config.flavor, Flavor::CurrentThread);
    /// assert!(!config.shared && config.timeout.is_none() && config.resources.is_empty());
    /// ```
    pub const fn new(name: &'static str) -> TestConfig {
        TestConfig {
            name,
            shared: false,
            flavor: Flavor::CurrentThread,
            worker_threads: None,
            start_paused: false,
            timeout: None,
            resources: &[],
        }
    }

    /// Runs the test in shared mode: alone in its process, with every registered ownership
    /// server in shared mode, so every actor sees the test's resources.
    ///
    /// ```
    /// use ownership_runtime::harness::TestConfig;
    ///
    /// const CONFIG: TestConfig = TestConfig::new("mailer::tests::global_worker").shared(true);
    /// assert!(CONFIG.shared);
    /// ```
    pub const fn shared(mut self, shared: bool) -> TestConfig {
        self.shared = shared;
        self
    }

    /// The runtime's flavor.
    ///
    /// ```
    /// use ownership_runtime::harness::{Flavor, TestConfig, run_async};
    /// use tokio::runtime::{Handle, RuntimeFlavor};
    ///
    /// run_async(TestConfig::new("docs::flavor").flavor(Flavor::MultiThread), || async {
    ///     assert_eq!(Handle::current().runtime_flavor(), RuntimeFlavor::MultiThread);
    /// });
    /// ```
    pub const fn flavor(mut self, flavor: Flavor) -> TestConfig {
        self.flavor = flavor;
        self
    }

    /// The number of worker threads of a multi-thread runtime.
    ///
    /// ```
    /// use ownership_runtime::harness::{Flavor, TestConfig, run_async};
    ///
    /// let config = TestConfig::new("docs::workers")
    ///     .flavor(Flavor::MultiThread)
    ///     .worker_threads(3);
    /// run_async(config, || async {
    ///     assert_eq!(tokio::runtime::Handle::current().metrics().num_workers(), 3);
    /// });
    /// ```
    pub const fn worker_threads(mut self, threads: usize) -> TestConfig {
        self.worker_threads = Some(threads);
        self
    }

    /// Starts the runtime's clock paused (current-thread flavor only, as in tokio).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// run_async(TestConfig::new("docs::paused").start_paused(true), || async {
    ///     let start = tokio::time::Instant::now();
    ///     // The paused clock jumps ahead: an hour's sleep takes no time.
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    ///     assert!(start.elapsed() >= Duration::from_secs(3600));
    /// });
    /// ```
    pub const fn start_paused(mut self, paused: bool) -> TestConfig {
        self.start_paused = paused;
        self
    }

    /// Fails the test if it runs longer than `timeout` (wall-clock time, also when the
    /// runtime's clock is paused).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// let failed = std::panic::catch_unwind(|| {
    ///     let config = TestConfig::new("docs::hangs").timeout(Duration::from_millis(50));
    ///     run_async(config, || tokio::time::sleep(Duration::from_secs(60)))
    /// });
    /// let report = failed.expect_err("the test times out").downcast::<String>();
    /// assert!(report.is_ok_and(|report| report.contains("the test timed out after 50ms")));
    /// ```
    pub const fn timeout(mut self, timeout: Duration) -> TestConfig {
        self.timeout = Some(timeout);
        self
    }

    /// Resources to prepare for the test, in order, before its body (after the adapters'
    /// `before` hooks): a database sandbox checks a connection out for it, say.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use ownership_runtime::harness::{Failure, TestConfig, TestContext, TestResource, run_sync};
    ///
    /// struct Seed(AtomicBool);
    /// impl TestResource for Seed {
    ///     fn name(&self) -> String {
    ///         "seed data".to_owned()
    ///     }
    ///     fn before_test(&self, _: &TestContext) -> Result<(), Failure> {
    ///         self.0.store(true, Ordering::SeqCst);
    ///         Ok(())
    ///     }
    /// }
    /// static SEED: Seed = Seed(AtomicBool::new(false));
    /// static RESOURCES: [&dyn TestResource; 1] = [&SEED];
    ///
    /// run_sync(TestConfig::new("docs::seeded").resources(&RESOURCES), || {
    ///     assert!(SEED.0.load(Ordering::SeqCst)); // prepared before the body
    /// });
    /// ```
    pub const fn resources(
        mut self,
        resources: &'static [&'static dyn TestResource],
    ) -> TestConfig {
        self.resources = resources;
        self
    }
}
