//! A facade's part in every owned test, as a [`TestResource`] registered with the harness
//! when the facade's first mock is installed:
//!
//! - in a shared test (`#[owned_test(shared)]`) the facade is in shared mode, owned by the
//!   test, so that every actor (known or not) uses the test's mocks: the harness switches
//!   it, also when a shared test is the first to install into it;
//! - **after** every test (on the test's own thread, once its runtime has stopped and
//!   before its actor ends), the mock the test installed is taken out of the facade and
//!   dropped, which is when mockall checks its expectations; unmet expectations fail the
//!   test, listed in its report as "facade `NAME` (after the test): ...".
//!
//! - [`allow_all`](ownership_runtime::allow_all) allows an actor to use the mock of the
//!   test that calls it, as [`Facade::allow`](crate::Facade::allow) does.
//!
//! The harness holds the registration weakly, so a facade that is not a `static` (a local
//! in a test) leaves it when it drops.

use ownership_runtime::harness::{Failure, TestContext, TestResource};
use ownership_runtime::{ActorId, Mode, SharedOwnerDown};

use crate::mocks::{Mocks, TAKE_WAIT, Unverified};
use crate::slot::Leave;

impl<T: ?Sized + Send + Sync + 'static> TestResource for Mocks<T> {
    fn name(&self) -> String {
        format!("facade `{}`", self.facade)
    }

    /// Verifies the mock the test installed, if any, and marks its slot ended.
    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        let message = match self.take_and_verify(test.actor(), Leave::Ended) {
            None | Some(Ok(())) => return Vec::new(),
            Some(Err(Unverified::Unsatisfied { at, verdict })) => {
                format!("the mock installed at {at} was not satisfied: {verdict}")
            }
            Some(Err(Unverified::Busy)) => format!(
                "the test's mock could not be verified: a call through the facade still held it \
                 {} ms after the test ended (a call that blocks, or a guard from `get()` kept \
                 alive by a thread that outlived the test). Join such threads before the test \
                 returns.",
                TAKE_WAIT.as_millis()
            ),
        };
        vec![Failure::new(message)]
    }

    /// Allows `actor` to use the mock `owner` reaches here (for `allow_all`); nothing to do
    /// if it reaches none.
    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        match self.allow_from(&[owner], actor.into()) {
            None | Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(Failure::from_error(error)),
        }
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.owners.set_mode(mode)
    }
}
