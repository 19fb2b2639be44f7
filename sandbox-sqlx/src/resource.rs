//! The sandbox's part in every owned test, as a [`TestResource`]: before a test that names
//! it (`#[owned_test(sandbox = DB)]`), a connection is checked out for the test; after
//! every test, the connections the test owns are checked in (rolled back), and a sandbox
//! transaction that had ended is reported; in a shared test, the sandbox is in shared
//! mode, owned by the test; [`allow_all`](ownership_runtime::allow_all) allows an actor
//! on the connection the test holds, as [`Sandbox::allow`] does.
//!
//! Each sandbox's state registers with the harness when it is built; the [`Sandbox`]
//! handle a test names is the same resource (its key is the state's).

use ownership_runtime::harness::{Failure, ResourceKey, TestContext, TestResource};
use ownership_runtime::{ActorId, Mode, SharedOwnerDown};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::driven::Driven;
use crate::error::SandboxError;
use crate::sandbox::Sandbox;
use crate::state::State;

impl<DB: SandboxDatabase> TestResource for State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn name(&self) -> String {
        format!("sandbox `{}`", self.label)
    }

    /// Checks in what the test owns: on the harness's thread, which waits anyway.
    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        if self.owners.metadata(test.actor(), &()).is_none() {
            return Vec::new();
        }
        match self.drive_here(self.checkin(test.actor(), Driven::Here)) {
            Ok(_) => Vec::new(),
            Err(error) => vec![self.failure(error)],
        }
    }

    /// Allows `actor` on the connection `owner` reaches here (for `allow_all`); nothing to
    /// do if it reaches none, or in shared mode (everyone uses the shared connection).
    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        if matches!(self.owners.mode(), Mode::Shared(_))
            || self.owners.fetch_owner(&[owner], &()).is_none()
        {
            return Ok(());
        }
        self.allow_on_connection(owner, actor)
            .map_err(|error| self.failure(error))
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.owners.set_mode(mode)
    }
}

impl<DB: SandboxDatabase> State<DB> {
    /// A failure for the test's report, which names the sandbox already: the error's
    /// message without the sandbox's name, and its causes.
    pub(crate) fn failure(&self, error: SandboxError) -> Failure {
        failure_of(&self.label, self.skip_if_unreachable, error)
    }
}

/// A failure for the report of a test, under a resource that names the sandbox `label`
/// already: the error's message without the sandbox's name, and its causes; a server that
/// can't be reached skips the test if `skip_if_unreachable`.
pub(crate) fn failure_of(label: &str, skip_if_unreachable: bool, error: SandboxError) -> Failure {
    let unavailable = matches!(error, SandboxError::Unreachable { .. }) && skip_if_unreachable;
    let message = error.to_string();
    let prefix = format!("sandbox `{label}`: ");
    let message = message.strip_prefix(&prefix).unwrap_or(&message).to_owned();
    let failure = if unavailable {
        Failure::unavailable(message)
    } else {
        Failure::new(message)
    };
    match CausesOf(error).into_source() {
        Some(causes) => failure.with_source(causes),
        None => failure,
    }
}

/// The causes of a sandbox's error, for a [`Failure`] whose message is the error's own.
#[derive(Debug)]
struct CausesOf(SandboxError);

impl CausesOf {
    /// The error's first cause and the rest of its chain, if it has one.
    fn into_source(self) -> Option<CausesOf> {
        std::error::Error::source(&self.0).is_some().then_some(self)
    }
}

/// Shows the error's first cause, and goes on with that cause's causes.
impl std::fmt::Display for CausesOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::error::Error::source(&self.0) {
            Some(cause) => write!(f, "{cause}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for CausesOf {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)?.source()
    }
}

impl<DB: SandboxDatabase> TestResource for Sandbox<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn name(&self) -> String {
        self.state.name()
    }

    /// Checks a connection out for the test (`#[owned_test(sandbox = DB)]`). A server
    /// that can't be reached skips the test if the sandbox was built with
    /// [`skip_if_unreachable`](crate::SandboxBuilder::skip_if_unreachable).
    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        // The harness's thread waits here anyway: drive the checkout on it.
        let checkout = self.checkout_driven(test.actor(), self.state.defaults(), Driven::Here);
        self.state
            .drive_here(checkout)
            .map(|_| ())
            .map_err(|error| self.state.failure(error))
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        self.state.after_test(test)
    }

    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        self.state.allow(owner, actor)
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.state.switch_mode(mode)
    }

    /// The state's: naming the sandbox and registering its state are one resource.
    fn key(&self) -> ResourceKey {
        self.state.key()
    }
}

impl<DB: SandboxDatabase> State<DB> {
    /// Drives `work` ([`Driven::Here`]) on the calling thread, which blocks until it ends,
    /// with the background runtime's I/O and timers.
    fn drive_here<T>(
        &self,
        work: impl Future<Output = Result<T, SandboxError>>,
    ) -> Result<T, SandboxError> {
        match ownership_runtime::background::handle() {
            Ok(runtime) => runtime.block_on(work),
            Err(source) => Err(SandboxError::Background {
                label: self.label.to_string(),
                source,
            }),
        }
    }
}
