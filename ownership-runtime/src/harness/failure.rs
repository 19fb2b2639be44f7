//! [`Failure`]: what a [`TestResource`](super::TestResource) found wrong with a test; it
//! fails the test and is listed in its report.

use std::fmt;

/// Something a resource found wrong with a test (an unmet expectation, a connection not
/// returned). It fails the test and is listed in its report, under the resource's name.
///
/// ```
/// use ownership_runtime::harness::Failure;
///
/// let failure = Failure::new("MockClock::now: expected 1 call, got 0");
/// assert_eq!(failure.message(), "MockClock::now: expected 1 call, got 0");
/// ```
#[must_use = "a Failure fails the test only when a resource returns it"]
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
