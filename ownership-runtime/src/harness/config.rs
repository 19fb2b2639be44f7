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
    pub const fn shared(mut self, shared: bool) -> TestConfig {
        self.shared = shared;
        self
    }

    /// The runtime's flavor.
    pub const fn flavor(mut self, flavor: Flavor) -> TestConfig {
        self.flavor = flavor;
        self
    }

    /// The number of worker threads of a multi-thread runtime.
    pub const fn worker_threads(mut self, threads: usize) -> TestConfig {
        self.worker_threads = Some(threads);
        self
    }

    /// Starts the runtime's clock paused (current-thread flavor only, as in tokio).
    pub const fn start_paused(mut self, paused: bool) -> TestConfig {
        self.start_paused = paused;
        self
    }

    /// Fails the test if it runs longer than `timeout` (wall-clock time, also when the
    /// runtime's clock is paused).
    pub const fn timeout(mut self, timeout: Duration) -> TestConfig {
        self.timeout = Some(timeout);
        self
    }

    /// Resources to prepare for the test, in order, before its body (after the adapters'
    /// `before` hooks): a database sandbox checks a connection out for it, say.
    pub const fn resources(
        mut self,
        resources: &'static [&'static dyn TestResource],
    ) -> TestConfig {
        self.resources = resources;
        self
    }
}
