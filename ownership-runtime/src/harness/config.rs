//! What `#[owned_test]` tells the harness about one test.

use std::fmt;
use std::time::Duration;

use super::resource::TestResource;

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

/// What the harness does about tasks a test leaves running on its runtime
/// (`#[owned_test(leftover_tasks = "..")]`): tasks still alive when it shuts the runtime
/// down, after the test's [grace](TestConfig::leftover_grace).
///
/// Either way the runtime is shut down: the tasks are cancelled at their next `.await`,
/// and `spawn_blocking` closures still running are left to finish on their own (tokio
/// can't cancel them).
///
/// ```
/// use ownership_runtime::harness::{LeftoverTasks, TestConfig};
///
/// assert_eq!(LeftoverTasks::default(), LeftoverTasks::Fail);
/// const SERVER_TEST: TestConfig =
///     TestConfig::new("api::tests::serves").leftover_tasks(LeftoverTasks::Cancel);
/// assert_eq!(SERVER_TEST.leftover_tasks, LeftoverTasks::Cancel);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LeftoverTasks {
    /// Fail the test, naming how many were left (the default, `"fail"`). The harness first
    /// waits up to the grace ([`DEFAULT_LEFTOVER_GRACE`] unless set) for them to end.
    #[default]
    Fail,
    /// Cancel them, as `#[tokio::test]` does, and print a note on standard error naming
    /// the test and how many were cancelled (`"cancel"`): for a test that starts a server
    /// or a poller and never stops it. The harness doesn't wait for them unless the test
    /// sets a grace.
    Cancel,
}

/// How long the harness waits, by default, for the tasks a test left running to end
/// before it fails the test for them (`leftover_tasks = "fail"`): one second of real
/// time, also when the runtime's clock is paused.
///
/// A passing test never waits: the harness goes on as soon as no task is left, so the
/// grace only costs a test that leaves a task running for good, once. It is long enough
/// that a task that ends shortly after the body on an idle machine (a confirmation sent,
/// a cache written back: a few to some tens of milliseconds) still ends within it when the
/// machine is saturated and the task runs many times slower, and short enough that a test
/// that leaks a task fails at once to a person watching. Set it per test with
/// `#[owned_test(leftover_grace = "5s")]` ([`TestConfig::leftover_grace`]).
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::harness::DEFAULT_LEFTOVER_GRACE;
///
/// assert_eq!(DEFAULT_LEFTOVER_GRACE, Duration::from_secs(1));
/// ```
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::from_secs(1);

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
#[must_use = "a TestConfig does nothing on its own, and its methods return a changed copy: \
              pass it to `run_async` or `run_sync`"]
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
    /// What to do about tasks left running on the test's runtime.
    pub leftover_tasks: LeftoverTasks,
    /// How long to wait for tasks left running to end (`None`: the default of
    /// [`leftover_tasks`](Self::leftover_tasks); see [`TestConfig::grace`]).
    pub leftover_grace: Option<Duration>,
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
            .field("leftover_tasks", &self.leftover_tasks)
            .field("leftover_grace", &self.leftover_grace)
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
    /// current-thread runtime, with no timeout, failed for tasks it leaves running.
    ///
    /// ```
    /// use ownership_runtime::harness::{Flavor, LeftoverTasks, TestConfig};
    ///
    /// let config = TestConfig::new("orders::tests::lists_orders");
    /// assert_eq!(config.flavor, Flavor::CurrentThread);
    /// assert_eq!(config.leftover_tasks, LeftoverTasks::Fail);
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
            leftover_tasks: LeftoverTasks::Fail,
            leftover_grace: None,
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

    /// What to do about tasks the test leaves running: fail it (the default) or cancel
    /// them with a note.
    ///
    /// ```
    /// use ownership_runtime::harness::{LeftoverTasks, TestConfig, run_async};
    ///
    /// // A server that is never stopped: cancelled when the test ends, as in
    /// // `#[tokio::test]`, with a note on standard error.
    /// let config = TestConfig::new("docs::serves").leftover_tasks(LeftoverTasks::Cancel);
    /// run_async(config, || async {
    ///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    /// });
    /// ```
    pub const fn leftover_tasks(mut self, leftover_tasks: LeftoverTasks) -> TestConfig {
        self.leftover_tasks = leftover_tasks;
        self
    }

    /// How long the harness waits, in real time (also when the clock is paused), for the
    /// tasks and `spawn_blocking` closures the test left running to end before it counts
    /// them as left over. It goes on as soon as none is left, so a test whose tasks all
    /// ended pays nothing; the grace never runs past the test's
    /// [`timeout`](Self::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// // A task that ends 20 ms after the body: well within a grace of 10 s.
    /// let config = TestConfig::new("docs::flushes").leftover_grace(Duration::from_secs(10));
    /// run_async(config, || async {
    ///     tokio::spawn(tokio::time::sleep(Duration::from_millis(20)));
    /// });
    /// ```
    pub const fn leftover_grace(mut self, grace: Duration) -> TestConfig {
        self.leftover_grace = Some(grace);
        self
    }

    /// The grace that applies to this test, before its timeout caps it: the
    /// [`leftover_grace`](Self::leftover_grace) if set, otherwise
    /// [`DEFAULT_LEFTOVER_GRACE`] when leftover tasks fail the test and none when they are
    /// cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::harness::{
    ///     DEFAULT_LEFTOVER_GRACE, LeftoverTasks, TestConfig,
    /// };
    ///
    /// let failing = TestConfig::new("docs::a");
    /// assert_eq!(failing.grace(), DEFAULT_LEFTOVER_GRACE);
    /// let cancelling = failing.leftover_tasks(LeftoverTasks::Cancel);
    /// assert_eq!(cancelling.grace(), Duration::ZERO);
    /// let patient = cancelling.leftover_grace(Duration::from_millis(300));
    /// assert_eq!(patient.grace(), Duration::from_millis(300));
    /// ```
    pub const fn grace(&self) -> Duration {
        match (self.leftover_grace, self.leftover_tasks) {
            (Some(grace), _) => grace,
            (None, LeftoverTasks::Fail) => DEFAULT_LEFTOVER_GRACE,
            (None, LeftoverTasks::Cancel) => Duration::ZERO,
        }
    }

    /// Resources to prepare for the test, in order, before its body
    /// ([`TestResource::before_test`]): a database sandbox checks a connection out for it, say.
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
