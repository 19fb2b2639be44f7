//! One owner's slot in a facade: what it holds (the owner's mock, or why there is none),
//! lent to calls through owned [`Lease`]s, and taken out once the leases are returned.
//!
//! A lease owns a clone of the mock's `Arc` and counts as one reader of the slot until it
//! drops. No lock is held while a call runs, so a lease may live across `.await`s and move
//! between threads (a facade's guard is `Send`) without any lock guard being sent: the
//! slot's mutex is only taken for a moment, to lend, to return, to look, or to take.
//!
//! Taking the mock out ([`Slot::take`]) waits, up to a deadline, until no lease is out. By
//! then the slot's `Arc` is the only one left, so the mock is dropped (and a mockall mock
//! verified) by whoever took it out, on that thread: never by the last call to return.
//! A lease taken while a taker waits is granted (a fake whose method calls its facade again
//! doesn't deadlock with a verification that waits); the taker waits for it too.

use std::ops::Deref;
use std::panic::Location;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The slot of one owner: its state, and the leases out on its mock.
pub(crate) struct Slot<T: ?Sized> {
    lending: Mutex<Lending<T>>,
    /// Signalled when the last lease is returned while a taker waits.
    returned: Condvar,
}

/// A slot's state under its mutex.
struct Lending<T: ?Sized> {
    holds: Holds<T>,
    /// How many leases are out. Leases exist only while the slot holds a mock: the mock
    /// is replaced only once this is zero.
    leases: usize,
    /// How many takers wait for the leases to be returned (they are the only ones the
    /// last lease needs to wake).
    takers: usize,
}

/// What a slot holds.
pub(crate) enum Holds<T: ?Sized> {
    /// The owner's mock, and where it was installed.
    Mock {
        implementation: Arc<T>,
        at: &'static Location<'static>,
    },
    /// The owner took its mock out with `uninstall` and has not installed another.
    Uninstalled,
    /// The owner's test has ended: its mock was verified and dropped.
    Ended,
}

/// What a slot holds, without the mock: for the checks of an install.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Status {
    /// A mock installed at this place.
    Mock(&'static Location<'static>),
    /// See [`Holds::Uninstalled`].
    Uninstalled,
    /// See [`Holds::Ended`].
    Ended,
}

/// Why a slot lent no mock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vacant {
    /// See [`Holds::Uninstalled`].
    Uninstalled,
    /// See [`Holds::Ended`].
    Ended,
}

/// What a slot holds once its mock was taken out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leave {
    /// The owner uninstalled it and may install another.
    Uninstalled,
    /// The owner's test has ended.
    Ended,
}

/// What [`Slot::take`] did.
pub(crate) enum Taken<T: ?Sized> {
    /// The mock, taken out: its `Arc` is the only one, so dropping it drops the mock.
    Mock {
        implementation: Arc<T>,
        at: &'static Location<'static>,
    },
    /// The slot held no mock (it holds what it was asked to leave, unless it had ended).
    Nothing,
    /// Leases were still out when the wait was over; the mock stays in place.
    Busy,
}

/// A mock lent to one call: derefs to it, and returns itself to its slot when dropped.
pub(crate) struct Lease<T: ?Sized> {
    // Fields drop in declaration order: the lease's clone of the mock goes before the lease
    // is counted as returned, so a taker that sees no lease out holds the last `Arc`.
    implementation: Arc<T>,
    _counted: Counted<T>,
}

/// One lease counted in its slot, until dropped.
struct Counted<T: ?Sized>(Arc<Slot<T>>);

impl<T: ?Sized> Slot<T> {
    /// A slot that holds `implementation`, installed at `at`.
    pub(crate) fn new(implementation: Box<T>, at: &'static Location<'static>) -> Slot<T> {
        Slot {
            lending: Mutex::new(Lending {
                holds: Holds::Mock {
                    implementation: Arc::from(implementation),
                    at,
                },
                leases: 0,
                takers: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lending<T>> {
        // Nothing panics under this lock (no user code runs there: a mock that is taken
        // out is dropped after the lock is released).
        self.lending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the slot holds now.
    pub(crate) fn status(&self) -> Status {
        match &self.lock().holds {
            Holds::Mock { at, .. } => Status::Mock(at),
            Holds::Uninstalled => Status::Uninstalled,
            Holds::Ended => Status::Ended,
        }
    }

    /// Lends the slot's mock, or says why there is none.
    pub(crate) fn lend(self: &Arc<Self>) -> Result<Lease<T>, Vacant> {
        let mut lending = self.lock();
        let implementation = match &lending.holds {
            Holds::Mock { implementation, .. } => Arc::clone(implementation),
            Holds::Uninstalled => return Err(Vacant::Uninstalled),
            Holds::Ended => return Err(Vacant::Ended),
        };
        lending.leases += 1;
        Ok(Lease {
            implementation,
            _counted: Counted(Arc::clone(self)),
        })
    }

    /// Takes the mock out, once no lease is out (waiting at most `wait` for that), and
    /// leaves `leave` in its place. A slot that holds no mock is left as it is by
    /// [`Leave::Uninstalled`], and marked ended by [`Leave::Ended`].
    pub(crate) fn take(&self, leave: Leave, wait: Duration) -> Taken<T> {
        let mut lending = self.lock();
        if lending.leases > 0 {
            lending.takers += 1;
            let (waited, _) = self
                .returned
                .wait_timeout_while(lending, wait, |lending| lending.leases > 0)
                .unwrap_or_else(PoisonError::into_inner);
            lending = waited;
            lending.takers -= 1;
            if lending.leases > 0 {
                return Taken::Busy;
            }
        }
        let taken = match (&lending.holds, leave) {
            (Holds::Uninstalled | Holds::Ended, Leave::Uninstalled) => return Taken::Nothing,
            (_, Leave::Uninstalled) => std::mem::replace(&mut lending.holds, Holds::Uninstalled),
            (_, Leave::Ended) => std::mem::replace(&mut lending.holds, Holds::Ended),
        };
        drop(lending);
        match taken {
            Holds::Mock { implementation, at } => Taken::Mock { implementation, at },
            Holds::Uninstalled | Holds::Ended => Taken::Nothing,
        }
    }
}

impl<T: ?Sized> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.implementation
    }
}

impl<T: ?Sized> Drop for Counted<T> {
    fn drop(&mut self) {
        let slot = &self.0;
        let mut lending = slot.lock();
        lending.leases -= 1;
        if lending.leases == 0 && lending.takers > 0 {
            slot.returned.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::Instant;

    use super::*;

    /// Records on which thread it was dropped.
    struct Recorder(Arc<Mutex<Option<thread::ThreadId>>>);

    impl Drop for Recorder {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(thread::current().id());
        }
    }

    fn slot_of(value: u32) -> Arc<Slot<u32>> {
        Arc::new(Slot::new(Box::new(value), Location::caller()))
    }

    #[test]
    fn a_lease_derefs_to_the_mock_and_is_send_across_threads() {
        let slot = slot_of(7);
        let lease = slot.lend().unwrap();
        let seen = thread::spawn(move || *lease).join().unwrap();
        assert_eq!(seen, 7);
        assert!(matches!(slot.status(), Status::Mock(_)));
    }

    #[test]
    fn take_waits_for_the_leases_and_the_mock_drops_on_the_taking_thread() {
        let dropped_on = Arc::new(Mutex::new(None));
        let slot = Arc::new(Slot::new(
            Box::new(Recorder(Arc::clone(&dropped_on))),
            Location::caller(),
        ));
        let lease = slot.lend().unwrap();
        let returned = Arc::new(AtomicBool::new(false));
        let caller = {
            let returned = Arc::clone(&returned);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                returned.store(true, Ordering::SeqCst);
                drop(lease);
            })
        };
        let taken = slot.take(Leave::Ended, Duration::from_secs(10));
        assert!(
            returned.load(Ordering::SeqCst),
            "take returned before the lease did"
        );
        let Taken::Mock { implementation, .. } = taken else {
            panic!("the slot held a mock");
        };
        assert_eq!(Arc::strong_count(&implementation), 1);
        drop(implementation);
        assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
        caller.join().unwrap();
        assert!(matches!(slot.status(), Status::Ended));
        assert!(matches!(slot.lend(), Err(Vacant::Ended)));
    }

    #[test]
    fn a_lease_kept_past_the_wait_leaves_the_mock_in_place() {
        let slot = slot_of(1);
        let lease = slot.lend().unwrap();
        let started = Instant::now();
        assert!(matches!(
            slot.take(Leave::Uninstalled, Duration::from_millis(50)),
            Taken::Busy
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(*lease, 1);
        drop(lease);
        assert!(matches!(
            slot.take(Leave::Uninstalled, Duration::ZERO),
            Taken::Mock { .. }
        ));
        assert!(matches!(slot.lend(), Err(Vacant::Uninstalled)));
    }

    #[test]
    fn a_lease_is_granted_while_a_taker_waits() {
        let slot = slot_of(3);
        let first = slot.lend().unwrap();
        let taker = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                matches!(
                    slot.take(Leave::Ended, Duration::from_secs(10)),
                    Taken::Mock { .. }
                )
            })
        };
        thread::sleep(Duration::from_millis(50));
        // Nested call: the taker waits, yet a second lease is lent at once.
        let second = slot.lend().unwrap();
        assert_eq!(*first + *second, 6);
        drop(first);
        drop(second);
        assert!(taker.join().unwrap());
    }

    #[test]
    fn taking_from_a_slot_without_a_mock() {
        let slot = slot_of(5);
        assert!(matches!(
            slot.take(Leave::Uninstalled, Duration::ZERO),
            Taken::Mock { .. }
        ));
        assert!(matches!(
            slot.take(Leave::Uninstalled, Duration::ZERO),
            Taken::Nothing
        ));
        assert!(matches!(slot.status(), Status::Uninstalled));
        assert!(matches!(
            slot.take(Leave::Ended, Duration::ZERO),
            Taken::Nothing
        ));
        assert!(matches!(slot.status(), Status::Ended));
    }
}
