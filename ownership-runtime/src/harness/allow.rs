//! [`allow_all`]: one call that allows an actor (a worker) on everything the calling test
//! owns, sandboxes and facades alike, through the harness's one registry of resources and
//! each resource's [`TestResource::allow`](super::TestResource::allow).

use std::fmt;

use super::failure::Failure;
use super::registry;
use crate::actor_id::ActorId;
use crate::callers::callers;

/// Allows `actor` to use everything the calling code's owner (the innermost actor of
/// [`callers()`]: in a test's body and its tasks, the test) owns in every registered
/// resource: a connection of each sandbox, the mock of each facade. A resource in which
/// the owner holds nothing is left alone. Like each resource's own `allow`, the allowance
/// ends with the test.
///
/// # Errors
///
/// - [`AllowAllError::NoActor`]: the calling code runs for no actor;
/// - [`AllowAllError::Refused`]: resources refused (each is named, with its reason); the
///   others allowed the actor all the same.
///
/// ```
/// use ownership_runtime::harness::{TestConfig, run_async};
/// use ownership_runtime::{Worker, allow_all};
///
/// run_async(TestConfig::new("docs::allow_all"), || async {
///     let worker = Worker::start("app::mailer", std::future::pending()).unwrap();
///     // Nothing owned yet: there is nothing to refuse.
///     allow_all(worker.id()).unwrap();
/// });
/// // Outside any test there is no owner.
/// let worker = Worker::start("app::mailer", std::future::pending()).unwrap();
/// assert!(allow_all(worker.id()).is_err());
/// ```
pub fn allow_all(actor: ActorId) -> Result<(), AllowAllError> {
    let Some(&owner) = callers().first() else {
        return Err(AllowAllError::NoActor { actor });
    };
    let refusals: Vec<(String, Failure)> = registry::newest_first()
        .iter()
        .filter_map(|resource| {
            resource
                .allow(owner, actor)
                .err()
                .map(|failure| (resource.name(), failure))
        })
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(AllowAllError::Refused {
            owner,
            actor,
            refusals: Refusals(refusals),
        })
    }
}

/// Why [`allow_all`] did not allow an actor everywhere.
///
/// ```
/// use ownership_runtime::harness::AllowAllError;
/// use ownership_runtime::{Actor, allow_all};
///
/// let worker = Actor::named("app::worker");
/// let error = allow_all(worker.id()).unwrap_err();
/// assert!(matches!(error, AllowAllError::NoActor { .. }));
/// assert!(error.to_string().contains("runs for no actor"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AllowAllError {
    /// The calling code runs for no actor, so it owns nothing to allow on.
    #[error(
        "cannot allow {actor} on everything: the calling code runs for no actor \
         (`ownership_runtime::callers()` is empty), so it owns nothing. Call `allow_all` from \
         the test (its body, or a task or thread it started)."
    )]
    NoActor {
        /// The actor to allow.
        actor: ActorId,
    },
    /// Resources refused the allowance; the others allowed it.
    #[error("{actor} was not allowed on everything {owner} owns: {refusals}")]
    Refused {
        /// The owner (usually the test).
        owner: ActorId,
        /// The actor to allow.
        actor: ActorId,
        /// Each resource that refused (its name) and why.
        refusals: Refusals,
    },
}

/// The resources that refused an allowance, with their reasons: see
/// [`AllowAllError::Refused`].
///
/// ```
/// use ownership_runtime::harness::{Failure, Refusals};
///
/// let refusals = Refusals::from(vec![("sandbox `db`".to_owned(), Failure::new("no connection"))]);
/// assert_eq!(refusals.to_string(), "1 resource refused:\n  - sandbox `db`: no connection");
/// assert_eq!(refusals.iter().next().unwrap().0, "sandbox `db`");
/// ```
#[derive(Debug, Clone)]
pub struct Refusals(Vec<(String, Failure)>);

impl Refusals {
    /// Each refusing resource's name, and its failure.
    ///
    /// ```
    /// use ownership_runtime::harness::{Failure, Refusals};
    ///
    /// let refusals = Refusals::from(vec![("facade `app::CLOCK`".to_owned(), Failure::new("busy"))]);
    /// assert_eq!(refusals.iter().count(), 1);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &(String, Failure)> {
        self.0.iter()
    }
}

impl From<Vec<(String, Failure)>> for Refusals {
    fn from(refusals: Vec<(String, Failure)>) -> Refusals {
        Refusals(refusals)
    }
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        let noun = if count == 1 { "resource" } else { "resources" };
        write!(f, "{count} {noun} refused:")?;
        for (resource, failure) in &self.0 {
            write!(f, "\n  - {resource}: {failure}")?;
        }
        Ok(())
    }
}
