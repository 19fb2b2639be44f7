//! [`Failure`]: what a [`TestResource`](super::TestResource) found wrong with a test; it
//! fails the test and is listed in its report, with its causes.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A cause of a failure, shared by its clones.
type Cause = Arc<dyn Error + Send + Sync>;

/// Where a failure's message and causes come from.
#[derive(Debug, Clone)]
enum Causes {
    /// The message alone.
    None,
    /// The message, caused by this error.
    Source(Cause),
    /// This error's message and causes (the failure is the error).
    Of(Cause),
}

/// Something a resource found wrong with a test (an unmet expectation, a connection not
/// returned). It fails the test and is listed in its report, under the resource's name,
/// followed by its causes (its [`source`](Error::source) chain, see
/// [`error_chain`](crate::error_chain)).
///
/// ```
/// use ownership_runtime::harness::Failure;
///
/// let failure = Failure::new("MockClock::now: expected 1 call, got 0");
/// assert_eq!(failure.message(), "MockClock::now: expected 1 call, got 0");
/// ```
#[must_use = "a Failure fails the test only when a resource returns it"]
#[derive(Debug, Clone)]
pub struct Failure {
    message: String,
    causes: Causes,
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
            causes: Causes::None,
            unavailable: false,
        }
    }

    /// A failure that is `error`: its message is the error's, and its causes the error's
    /// causes. For a resource whose operation failed with an error that already says what
    /// went wrong and how to fix it.
    ///
    /// ```
    /// use ownership_runtime::error_chain;
    /// use ownership_runtime::harness::Failure;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("could not empty the outbox")]
    /// struct Outbox(#[source] std::io::Error);
    ///
    /// let failure = Failure::from_error(Outbox(std::io::Error::other("disk full")));
    /// assert_eq!(failure.message(), "could not empty the outbox");
    /// assert_eq!(error_chain(&failure).to_string(), "could not empty the outbox: disk full");
    /// ```
    pub fn from_error(error: impl Error + Send + Sync + 'static) -> Failure {
        Failure {
            message: error.to_string(),
            causes: Causes::Of(Arc::new(error)),
            unavailable: false,
        }
    }

    /// This failure, caused by `source`: the report shows the message, then the source's
    /// chain (`message: cause: cause`). Keep the cause out of the message.
    ///
    /// ```
    /// use ownership_runtime::error_chain;
    /// use ownership_runtime::harness::Failure;
    ///
    /// let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder");
    /// let failure = Failure::new("could not remove the uploads").with_source(missing);
    /// assert_eq!(failure.message(), "could not remove the uploads");
    /// assert_eq!(error_chain(&failure).to_string(), "could not remove the uploads: no such folder");
    /// ```
    pub fn with_source(mut self, source: impl Into<Box<dyn Error + Send + Sync>>) -> Failure {
        self.causes = Causes::Source(Arc::from(source.into()));
        self
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
            causes: Causes::None,
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

    /// The message, without its causes (see [`error_chain`](crate::error_chain) for both).
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

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.causes {
            Causes::None => None,
            Causes::Source(source) => Some(&**source),
            Causes::Of(error) => error.source(),
        }
    }
}
