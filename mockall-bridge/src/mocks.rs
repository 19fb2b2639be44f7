//! The mocks installed in one facade: an ownership server whose metadata, for each owner,
//! is the *slot* that holds the owner's mock.
//!
//! A slot is an `Arc<RwLock<SlotState<T>>>`. Calls only ever *borrow* the mock, under the
//! slot's read lock, for as long as their guard lives; nobody else gets an owned handle to
//! the mock. So the mock can be taken out at any moment (under the write lock, once the
//! calls in progress have returned) and dropped right there, which is when mockall checks
//! its expectations: verification never waits for the last clone of an `Arc` to go.
//!
//! Each facade has its own server (key `()`), created at the facade's first install and
//! registered with the harness as a test resource (see `resource.rs`).

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ownership_runtime::{ActorId, Callers, Found, Ownership};
use parking_lot::{RawRwLock, RwLock, lock_api::ArcRwLockReadGuard};

use crate::error::{CallError, FacadeError};
use crate::verify;

/// How long taking a mock out of its slot waits for the calls in progress to return.
pub(crate) const TAKE_WAIT: Duration = Duration::from_secs(2);

/// How many times a lookup retries when it finds an owner whose slot is being replaced at
/// that instant (an install in progress on another thread).
const LOOKUP_RETRIES: usize = 1_000;

/// The slot of one owner.
pub(crate) type Slot<T> = RwLock<SlotState<T>>;

/// A read lock on a slot that holds a mock (checked when the guard was taken).
pub(crate) type SlotGuard<T> = ArcRwLockReadGuard<RawRwLock, SlotState<T>>;

/// What an owner's slot holds.
pub(crate) enum SlotState<T: ?Sized> {
    /// The owner's mock, and where it was installed.
    Installed {
        implementation: Box<T>,
        at: &'static Location<'static>,
    },
    /// The owner took its mock out with `uninstall` and has not installed another.
    Uninstalled,
    /// The owner's test has ended: its mock was verified and dropped.
    Ended,
}

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
    /// A mock, borrowed under its slot's read lock, and its owner.
    Installed(SlotGuard<T>, ActorId),
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
    /// allowances, or shared mode), borrowed under the slot's read lock.
    ///
    /// The read lock is taken recursively: a fake whose methods call the facade again
    /// doesn't deadlock with a verification waiting for the write lock.
    pub(crate) fn lookup(&self, chain: &Callers) -> Result<Lookup<T>, CallError> {
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
            let guard = slot.read_arc_recursive();
            return match &*guard {
                SlotState::Installed { .. } => Ok(Lookup::Installed(guard, owner)),
                SlotState::Uninstalled => Err(CallError::Uninstalled {
                    facade: self.facade,
                    owner,
                }),
                SlotState::Ended => Err(CallError::Ended {
                    facade: self.facade,
                    actor: owner,
                    callers: chain.clone(),
                }),
            };
        }
        Ok(Lookup::Miss)
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
    ) -> Result<(), (FacadeError, Option<Box<T>>)> {
        let slot = Arc::new(RwLock::new(SlotState::Installed { implementation, at }));
        let candidate = Arc::clone(&slot);
        let installing = Installing::start(&self.installing);
        let outcome = self.owners.get_and_update(owner, (), move |current| {
            let Some(current) = current else {
                return (Ok(()), candidate);
            };
            // Read recursively: this thread may hold a guard on it.
            let refused = match &*current.read_recursive() {
                SlotState::Installed { at: first, .. } => Some(Refused::Installed(first)),
                SlotState::Ended => Some(Refused::Ended),
                SlotState::Uninstalled => None,
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
        // seen; take the mock back out.
        let rejected = match std::mem::replace(&mut *slot.write(), SlotState::Uninstalled) {
            SlotState::Installed { implementation, .. } => Some(implementation),
            SlotState::Uninstalled | SlotState::Ended => None,
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
        let Some(mut state) = slot.try_write_for(TAKE_WAIT) else {
            return Some(Err(Unverified::Busy));
        };
        let taken = match (&*state, leave) {
            (SlotState::Installed { .. }, Leave::Uninstalled) => {
                std::mem::replace(&mut *state, SlotState::Uninstalled)
            }
            (_, Leave::Ended) => std::mem::replace(&mut *state, SlotState::Ended),
            (SlotState::Uninstalled | SlotState::Ended, Leave::Uninstalled) => return None,
        };
        // Release the lock before the mock's `Drop` runs: it may call the facade.
        drop(state);
        match taken {
            SlotState::Installed { implementation, at } => Some(
                verify::drop_catching_verdict(implementation)
                    .map_err(|verdict| Unverified::Unsatisfied { at, verdict }),
            ),
            SlotState::Uninstalled | SlotState::Ended => None,
        }
    }
}

/// What a slot holds once its mock was taken out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leave {
    /// The owner uninstalled it and may install another.
    Uninstalled,
    /// The owner's test has ended.
    Ended,
}

/// Why `take_and_verify` could not report a clean verification.
pub(crate) enum Unverified {
    /// The mock's drop panicked with this verdict.
    Unsatisfied {
        at: &'static Location<'static>,
        verdict: String,
    },
    /// Calls kept the slot's read lock for longer than [`TAKE_WAIT`].
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
