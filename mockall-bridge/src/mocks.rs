//! The mocks installed in one facade: an ownership server whose metadata, for each owner,
//! is the *slot* that holds the owner's mock (see `slot.rs`).
//!
//! Calls only ever *borrow* the mock, through a lease of its slot that lives as long as
//! their guard; nobody else gets to keep the mock. So the mock can be taken out at any
//! moment (once the calls in progress have returned) and dropped right there, which is
//! when mockall checks its expectations: verification never waits for the last call to
//! drop the mock somewhere else.
//!
//! Each facade has its own server (key `()`), created at the facade's first install and
//! registered with the harness as a test resource (see `resource.rs`).

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ownership_runtime::{ActorId, Callers, Found, Ownership, OwnershipError, ToAllow};

use crate::error::{CallError, FacadeError};
use crate::slot::{Lease, Leave, Slot, Status, Taken, Vacant};
use crate::verify;

/// How long taking a mock out of its slot waits for the calls in progress to return.
pub(crate) const TAKE_WAIT: Duration = Duration::from_secs(2);

/// How many times a lookup retries when it finds an owner whose slot is being replaced at
/// that instant (an install in progress on another thread).
const LOOKUP_RETRIES: usize = 1_000;

/// The mocks of one facade.
pub(crate) struct Mocks<T: ?Sized + 'static> {
    /// The facade's name, for messages.
    pub(crate) facade: &'static str,
    /// Who owns a mock, who may use whose.
    pub(crate) owners: Ownership<(), Arc<Slot<T>>>,
    /// How many installs are running: only they leave a slot without metadata for a
    /// moment, so a lookup that finds none while no install runs need not retry.
    installing: AtomicUsize,
}

/// What a lookup found for a calling chain.
pub(crate) enum Lookup<T: ?Sized + 'static> {
    /// A mock, lent by its slot, and its owner.
    Installed(Lease<T>, ActorId),
    /// No actor of the chain owns a mock or is allowed to use one.
    Miss,
}

impl<T: ?Sized + Send + Sync + 'static> Mocks<T> {
    pub(crate) fn new(facade: &'static str) -> Mocks<T> {
        Mocks {
            facade,
            owners: Ownership::new(),
            installing: AtomicUsize::new(0),
        }
    }

    /// The mock `chain` reaches, if any: its owner's (found through the chain, its
    /// allowances, or shared mode), lent by its slot.
    ///
    /// A lease is granted while a verification waits for the calls in progress: a fake
    /// whose methods call the facade again doesn't deadlock with it.
    /// `at` is where the call was made, for its errors.
    pub(crate) fn lookup(
        &self,
        chain: &Callers,
        at: &'static Location<'static>,
    ) -> Result<Lookup<T>, CallError> {
        for _ in 0..LOOKUP_RETRIES {
            let Some(found) = self.owners.fetch_owner(chain, &()) else {
                return Ok(Lookup::Miss);
            };
            let owner = found.id();
            let Some(slot) = self.owners.metadata(owner, &()) else {
                if matches!(found, Found::SharedOwner(_))
                    && self.installing.load(Ordering::Acquire) == 0
                {
                    // Shared mode, and the shared test installed nothing here.
                    return Ok(Lookup::Miss);
                }
                // The owner's slot is being replaced right now (an install on another
                // thread), or the owner has just ended: look again.
                std::thread::yield_now();
                continue;
            };
            return match slot.lend() {
                Ok(lease) => Ok(Lookup::Installed(lease, owner)),
                Err(Vacant::Uninstalled) => Err(CallError::Uninstalled {
                    facade: self.facade,
                    at,
                    owner,
                }),
                Err(Vacant::Ended) => Err(CallError::Ended {
                    facade: self.facade,
                    at,
                    actor: owner,
                    callers: chain.clone(),
                }),
            };
        }
        Ok(Lookup::Miss)
    }

    /// Allows `to_allow` to use the mock `chain` reaches (its owner's); `None` if the chain
    /// reaches none. In shared mode everyone uses the shared owner's mock already: `Ok`.
    pub(crate) fn allow_from(
        &self,
        chain: &[ActorId],
        to_allow: ToAllow,
    ) -> Option<Result<(), FacadeError>> {
        let owner = match self.owners.fetch_owner(chain, &())? {
            Found::SharedOwner(_) => return Some(Ok(())),
            Found::Owner(owner) => owner,
        };
        Some(match self.owners.allow(owner, to_allow, ()) {
            // The facade went shared in between: the same.
            Ok(()) | Err(OwnershipError::CantAllowInSharedMode { .. }) => Ok(()),
            Err(error) => Err(FacadeError::from_ownership(self.facade, error, Some(owner))),
        })
    }

    /// The actors that own a mock in this facade (for messages).
    pub(crate) fn owner_list(&self) -> Vec<ActorId> {
        self.owners.snapshot().owned.into_keys().collect()
    }

    /// Installs `implementation` as `owner`'s mock. On refusal, the implementation comes
    /// back with the error.
    pub(crate) fn install(
        &self,
        owner: ActorId,
        implementation: Box<T>,
        at: &'static Location<'static>,
    ) -> Result<(), (FacadeError, Option<Arc<T>>)> {
        let slot = Arc::new(Slot::new(implementation, at));
        let candidate = Arc::clone(&slot);
        let installing = Installing::start(&self.installing);
        let outcome = self.owners.get_and_update(owner, (), move |current| {
            let Some(current) = current else {
                return (Ok(()), candidate);
            };
            let refused = match current.status() {
                Status::Mock(first) => Some(Refused::Installed(first)),
                Status::Ended => Some(Refused::Ended),
                Status::Uninstalled => None,
            };
            match refused {
                Some(refused) => (Err(refused), Arc::clone(current)),
                None => (Ok(()), candidate),
            }
        });
        drop(installing);
        let error = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(Refused::Installed(first))) => FacadeError::AlreadyInstalled {
                facade: self.facade,
                owner,
                first,
            },
            Ok(Err(Refused::Ended)) => FacadeError::ActorEnded {
                facade: self.facade,
                actor: owner,
            },
            Err(source) => FacadeError::from_ownership(self.facade, source, None),
        };
        // Refused: the server dropped its copy of the new slot, which nobody else has
        // seen (so no lease is out); take the mock back out.
        let rejected = match slot.take(Leave::Uninstalled, Duration::ZERO) {
            Taken::Mock { implementation, .. } => Some(implementation),
            Taken::Nothing | Taken::Busy => None,
        };
        Err((error, rejected))
    }

    /// Takes `owner`'s mock out of its slot and drops it, catching its verdict; the slot
    /// then holds `leave` (an ended slot stays ended). `None` if `owner` has no slot, or
    /// its slot holds no mock.
    pub(crate) fn take_and_verify(
        &self,
        owner: ActorId,
        leave: Leave,
    ) -> Option<Result<(), Unverified>> {
        let slot = self.owners.metadata(owner, &())?;
        match slot.take(leave, TAKE_WAIT) {
            // The slot's lock is released: the mock's `Drop` may call the facade.
            Taken::Mock { implementation, at } => Some(
                verify::drop_catching_verdict(implementation)
                    .map_err(|verdict| Unverified::Unsatisfied { at, verdict }),
            ),
            Taken::Nothing => None,
            Taken::Busy => Some(Err(Unverified::Busy)),
        }
    }
}

/// Why `take_and_verify` could not report a clean verification.
pub(crate) enum Unverified {
    /// The mock's drop panicked with this verdict.
    Unsatisfied {
        at: &'static Location<'static>,
        verdict: String,
    },
    /// Calls kept the mock lent for longer than [`TAKE_WAIT`].
    Busy,
}

/// Why an install was refused inside the update function.
enum Refused {
    /// The owner has a mock installed (at this place).
    Installed(&'static Location<'static>),
    /// The owner's test has ended.
    Ended,
}

/// Counts one install in progress, until dropped (also if the install panics).
struct Installing<'a>(&'a AtomicUsize);

impl<'a> Installing<'a> {
    fn start(count: &'a AtomicUsize) -> Installing<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Installing(count)
    }
}

impl Drop for Installing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
