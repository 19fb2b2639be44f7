//! Stress: 8 threads x 10,000 mixed operations on one server, with actors created and
//! dropped all along, allowances across threads, and mode switches. At the end the
//! server's state must be consistent with which actors are still alive.

use std::sync::{Barrier, Mutex};

use ownership_runtime::{Actor, ActorId, Mode, Ownership, Snapshot, ToAllow, callers};

const THREADS: u64 = 8;
const OPERATIONS: usize = 10_000;
const KEYS: u64 = 4;
const CHECK_EVERY: usize = 1_000;

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Checks the invariants against which actors are alive. Only meaningful when no actor
/// can go down meanwhile (a snapshot and the liveness checks are not one atomic step).
fn check_invariants(snapshot: &Snapshot<u64>) {
    for owner in snapshot.owned.keys() {
        assert!(
            owner.is_alive() || snapshot.manual_cleanup.contains(owner),
            "{owner} is down but still owns keys"
        );
    }
    for (actor, keys) in &snapshot.allowed {
        assert!(actor.is_alive(), "{actor} is down but still has allowances");
        for (key, owner) in keys {
            assert!(
                owner.is_alive() || snapshot.manual_cleanup.contains(owner),
                "{actor} is allowed {key} through {owner}, which is down"
            );
            assert!(
                snapshot
                    .owned
                    .get(owner)
                    .is_some_and(|owned| owned.contains(key)),
                "{actor} is allowed {key} through {owner}, which doesn't own it"
            );
        }
    }
    for (key, owner) in &snapshot.lazy {
        assert!(
            owner.is_alive() || snapshot.manual_cleanup.contains(owner),
            "a lazy allowance of {key} points to {owner}, which is down"
        );
    }
    if let Mode::Shared(owner) = snapshot.mode {
        assert!(owner.is_alive(), "the shared owner {owner} is down");
    }
}

#[test]
fn eight_threads_of_mixed_operations_leave_a_consistent_server() {
    let server: Ownership<u64, u64> = Ownership::new();
    // Actor ids published by all threads, so allowances cross threads (some are down).
    let published: Mutex<Vec<ActorId>> = Mutex::new(Vec::new());
    let manual_owners: Mutex<Vec<ActorId>> = Mutex::new(Vec::new());
    // Every CHECK_EVERY operations all threads pause and one checks the invariants.
    let pause = Barrier::new(THREADS as usize);

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (server, published, manual_owners, pause) =
                (&server, &published, &manual_owners, &pause);
            scope.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (thread + 1));
                let mut actors: Vec<Actor> = (0..4).map(|_| Actor::new()).collect();
                let mut successes = 0_usize;
                for operation in 0..OPERATIONS {
                    if operation % CHECK_EVERY == 0 {
                        if pause.wait().is_leader() {
                            check_invariants(&server.snapshot());
                        }
                        pause.wait();
                    }
                    let mine = actors[rng.below(actors.len() as u64) as usize].id();
                    let key = rng.below(KEYS);
                    let someone = {
                        let published = published.lock().unwrap();
                        if published.is_empty() {
                            mine
                        } else {
                            published[rng.below(published.len() as u64) as usize]
                        }
                    };
                    let done = match rng.below(100) {
                        0..=24 => server
                            .get_and_update(mine, key, |old| ((), old.map_or(1, |v| v + 1)))
                            .is_ok(),
                        25..=44 => server.allow(mine, someone, key).is_ok(),
                        45..=49 => {
                            let target = someone;
                            server
                                .allow(mine, ToAllow::lazy(move || [target]), key)
                                .is_ok()
                        }
                        50..=79 => {
                            let _entered = actors[0].enter();
                            server
                                .fetch_owner(&callers().pushed_front(mine), &key)
                                .is_some()
                        }
                        80..=89 => {
                            // An actor ends and a new one takes its place.
                            let index = rng.below(actors.len() as u64) as usize;
                            actors[index] = Actor::new();
                            published.lock().unwrap().push(actors[index].id());
                            true
                        }
                        90..=93 => {
                            server.set_owner_to_manual_cleanup(mine);
                            manual_owners.lock().unwrap().push(mine);
                            true
                        }
                        94..=96 => {
                            server.cleanup_owner(someone);
                            true
                        }
                        97 => {
                            let shared = server.set_mode(Mode::Shared(mine)).is_ok();
                            server.set_mode(Mode::Private).unwrap();
                            shared
                        }
                        _ => !server.get_owned(someone).is_empty(),
                    };
                    successes += usize::from(done);
                }
                assert!(
                    successes > OPERATIONS / 10,
                    "too few operations succeeded: {successes}"
                );
                // The thread's actors end here.
            });
        }
    });

    let snapshot = server.snapshot();
    check_invariants(&snapshot);
    // Every actor has ended: no allowance is left, and only manual-cleanup owners hold keys.
    assert!(snapshot.allowed.is_empty(), "{snapshot:?}");
    assert!(
        snapshot
            .owned
            .keys()
            .all(|owner| snapshot.manual_cleanup.contains(owner))
    );

    for owner in manual_owners.into_inner().unwrap() {
        server.cleanup_owner(owner);
    }
    let snapshot = server.snapshot();
    assert!(snapshot.owned.is_empty(), "{snapshot:?}");
    assert!(snapshot.allowed.is_empty(), "{snapshot:?}");
    assert!(snapshot.lazy.is_empty(), "{snapshot:?}");
    assert!(snapshot.manual_cleanup.is_empty(), "{snapshot:?}");
    assert_eq!(snapshot.mode, Mode::Private);
}
