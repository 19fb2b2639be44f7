//! One test per rule of the ownership server, with real actors: downs come from real
//! guard drops and from panics unwinding through them.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ownership_runtime::{
    Actor, ActorId, Found, Mode, Ownership, OwnershipError, SharedOwnerDown, ToAllow, callers,
};

type Server = Ownership<&'static str, u32>;

fn own(server: &Server, owner: &Actor, key: &'static str, value: u32) {
    server
        .get_and_update(owner.id(), key, |_| ((), value))
        .expect("owning a key");
}

fn owner_of(server: &Server, chain: &[ActorId], key: &'static str) -> Option<ActorId> {
    server.fetch_owner(chain, &key).map(Found::id)
}

#[test]
fn get_and_update_creates_then_updates_the_owners_metadata() {
    let server = Server::new();
    let test = Actor::named("tests::update");
    let seen_first = server
        .get_and_update(test.id(), "db", |old| (old.copied(), 10))
        .unwrap();
    let seen_second = server
        .get_and_update(test.id(), "db", |old| (old.copied(), old.unwrap() + 1))
        .unwrap();
    assert_eq!((seen_first, seen_second), (None, Some(10)));
    assert_eq!(server.get_owned(test.id())["db"], 11);
    assert_eq!(owner_of(&server, &[test.id()], "db"), Some(test.id()));
}

#[test]
fn an_allowed_actor_cannot_own_the_key() {
    let server = Server::new();
    let (test, worker) = (Actor::named("test"), Actor::named("worker"));
    own(&server, &test, "db", 1);
    server.allow(test.id(), worker.id(), "db").unwrap();
    let error = server
        .get_and_update(worker.id(), "db", |_| ((), 2))
        .unwrap_err();
    assert_eq!(
        error,
        OwnershipError::AlreadyAllowed {
            key: "db",
            actor: worker.id(),
            owner: test.id()
        }
    );
    // Other keys are fine.
    own(&server, &worker, "clock", 3);
}

#[test]
fn in_shared_mode_only_the_shared_owner_can_own() {
    let server = Server::new();
    let (shared, other) = (Actor::named("shared"), Actor::named("other"));
    server.set_mode(Mode::Shared(shared.id())).unwrap();
    let error = server
        .get_and_update(other.id(), "db", |_| ((), 1))
        .unwrap_err();
    assert_eq!(
        error,
        OwnershipError::NotSharedOwner {
            key: "db",
            actor: other.id(),
            shared_owner: shared.id()
        }
    );
    own(&server, &shared, "db", 1);
    let stranger = Actor::new();
    assert_eq!(
        server.fetch_owner(&[stranger.id()], &"anything"),
        Some(Found::SharedOwner(shared.id()))
    );
}

#[test]
fn allow_checks_its_rules_in_order() {
    let server = Server::new();
    let (owner, stranger, target, other_owner) =
        (Actor::new(), Actor::new(), Actor::new(), Actor::new());
    own(&server, &owner, "db", 1);
    own(&server, &other_owner, "db", 2);

    // The target owns the key: reported before the allower's lack of access.
    let error = server
        .allow(stranger.id(), other_owner.id(), "db")
        .unwrap_err();
    assert!(
        matches!(error, OwnershipError::AlreadyAnOwner { actor, .. } if actor == other_owner.id())
    );

    // The allower has no access.
    let error = server.allow(stranger.id(), target.id(), "db").unwrap_err();
    assert!(matches!(error, OwnershipError::NotAllowed { actor, .. } if actor == stranger.id()));

    // Allowed through one owner, then through another: refused, naming the first.
    server.allow(owner.id(), target.id(), "db").unwrap();
    let error = server
        .allow(other_owner.id(), target.id(), "db")
        .unwrap_err();
    assert_eq!(
        error,
        OwnershipError::AlreadyAllowed {
            key: "db",
            actor: target.id(),
            owner: owner.id()
        }
    );

    // The same owner again: a no-op.
    server.allow(owner.id(), target.id(), "db").unwrap();
    assert_eq!(
        server.snapshot().allowed[&target.id()],
        vec![("db", owner.id())]
    );

    // Shared mode comes before everything, even an allower without access.
    server.set_mode(Mode::Shared(owner.id())).unwrap();
    let error = server.allow(stranger.id(), owner.id(), "db").unwrap_err();
    assert_eq!(
        error,
        OwnershipError::CantAllowInSharedMode {
            key: "db",
            shared_owner: owner.id()
        }
    );
}

#[test]
fn allowances_are_transitive_and_survive_the_actor_in_between() {
    let server = Server::new();
    let test = Actor::named("test");
    let (pool, worker) = (Actor::named("pool"), Actor::named("worker"));
    own(&server, &test, "db", 1);
    server.allow(test.id(), pool.id(), "db").unwrap();
    server.allow(pool.id(), worker.id(), "db").unwrap();
    assert_eq!(
        server.snapshot().allowed[&worker.id()],
        vec![("db", test.id())]
    );
    drop(pool);
    assert_eq!(owner_of(&server, &[worker.id()], "db"), Some(test.id()));
}

#[test]
fn an_owner_with_empty_metadata_can_allow() {
    let server: Ownership<&str, Option<u32>> = Ownership::new();
    let (test, worker) = (Actor::new(), Actor::new());
    server
        .get_and_update(test.id(), "db", |_| ((), None))
        .unwrap();
    server.allow(test.id(), worker.id(), "db").unwrap();
    assert_eq!(
        server.fetch_owner(&[worker.id()], &"db"),
        Some(Found::Owner(test.id()))
    );
}

#[test]
fn fetch_owner_takes_the_first_actor_of_the_chain_that_has_access() {
    let server = Server::new();
    let (outer, inner, nobody) = (Actor::new(), Actor::new(), Actor::new());
    own(&server, &outer, "db", 1);
    own(&server, &inner, "db", 2);
    assert_eq!(
        owner_of(&server, &[nobody.id(), inner.id(), outer.id()], "db"),
        Some(inner.id())
    );
    assert_eq!(
        owner_of(&server, &[nobody.id(), outer.id(), inner.id()], "db"),
        Some(outer.id())
    );
    assert_eq!(owner_of(&server, &[nobody.id()], "db"), None);
    assert_eq!(owner_of(&server, &[], "db"), None);
    // Through callers(): an entered actor is found.
    let _entered = inner.enter();
    assert_eq!(owner_of(&server, &callers(), "db"), Some(inner.id()));
}

#[test]
fn lazy_allowances_run_only_on_a_miss_of_their_key_and_only_until_resolved() {
    let server = Server::new();
    let test = Actor::named("test");
    own(&server, &test, "db", 1);
    own(&server, &test, "clock", 2);

    let runs = Arc::new(AtomicUsize::new(0));
    let worker_slot: Arc<Mutex<Option<ActorId>>> = Arc::default();
    let (counter, slot) = (runs.clone(), worker_slot.clone());
    server
        .allow(
            test.id(),
            ToAllow::lazy(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                *slot.lock().unwrap()
            }),
            "db",
        )
        .unwrap();

    // Hits and lookups of other keys don't run it.
    assert_eq!(owner_of(&server, &[test.id()], "db"), Some(test.id()));
    let worker = Actor::named("worker");
    assert_eq!(owner_of(&server, &[worker.id()], "clock"), None);
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // A miss of its key runs it; it names nobody yet, so it stays.
    assert_eq!(owner_of(&server, &[worker.id()], "db"), None);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(server.snapshot().lazy, vec![("db", test.id())]);

    // Now it names the worker: resolved, allowed, and never run again.
    *worker_slot.lock().unwrap() = Some(worker.id());
    assert_eq!(owner_of(&server, &[worker.id()], "db"), Some(test.id()));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let stranger = Actor::new();
    assert_eq!(owner_of(&server, &[stranger.id()], "db"), None);
    assert_eq!(owner_of(&server, &[stranger.id()], "db"), None);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(server.snapshot().lazy.is_empty());
}

#[test]
fn lazy_allowances_ignore_ended_actors_and_go_with_their_owner() {
    let server = Server::new();
    let test = Actor::new();
    own(&server, &test, "db", 1);
    let ended = Actor::new().id();
    let resolver_alive = Arc::new(());
    let held = resolver_alive.clone();
    server
        .allow(
            test.id(),
            ToAllow::lazy(move || {
                let _ = &held;
                [ended]
            }),
            "db",
        )
        .unwrap();
    let stranger = Actor::new();
    assert_eq!(owner_of(&server, &[stranger.id()], "db"), None);
    assert_eq!(
        server.snapshot().lazy.len(),
        1,
        "an ended actor doesn't resolve it"
    );

    drop(test);
    assert!(server.snapshot().lazy.is_empty());
    assert_eq!(
        Arc::strong_count(&resolver_alive),
        1,
        "the resolver was dropped"
    );
}

#[test]
fn a_lazily_allowed_actor_cannot_become_an_owner() {
    let server = Server::new();
    let (test, worker) = (Actor::new(), Actor::new());
    own(&server, &test, "db", 1);
    let worker_id = worker.id();
    server
        .allow(test.id(), ToAllow::lazy(move || [worker_id]), "db")
        .unwrap();
    let error = server
        .get_and_update(worker.id(), "db", |_| ((), 2))
        .unwrap_err();
    assert!(matches!(error, OwnershipError::AlreadyAllowed { owner, .. } if owner == test.id()));
}

#[test]
fn a_lazy_resolver_may_call_the_server() {
    let server = Server::new();
    let (test, worker) = (Actor::new(), Actor::new());
    own(&server, &test, "db", 1);
    let (inner, worker_id, test_id) = (server.clone(), worker.id(), test.id());
    server
        .allow(
            test.id(),
            ToAllow::lazy(move || {
                // Re-enters the server from inside the resolver.
                assert!(inner.fetch_owner(&[test_id], &"db").is_some());
                [worker_id]
            }),
            "db",
        )
        .unwrap();
    assert_eq!(owner_of(&server, &[worker.id()], "db"), Some(test.id()));
}

#[test]
fn an_owner_going_down_releases_its_keys_and_the_allowances_to_them() {
    let server = Server::new();
    let (test, worker) = (Actor::new(), Actor::new());
    own(&server, &test, "db", 1);
    own(&server, &worker, "clock", 2);
    server.allow(test.id(), worker.id(), "db").unwrap();
    let test_id = test.id();
    drop(test);
    assert!(server.get_owned(test_id).is_empty());
    assert_eq!(owner_of(&server, &[worker.id()], "db"), None);
    // The worker keeps what it owns itself.
    assert_eq!(
        owner_of(&server, &[worker.id()], "clock"),
        Some(worker.id())
    );
    let snapshot = server.snapshot();
    assert!(snapshot.allowed.is_empty());
    assert_eq!(snapshot.owned.len(), 1);
}

#[test]
fn an_allowed_actor_going_down_loses_only_its_own_allowances() {
    let server = Server::new();
    let (test, worker, other) = (Actor::new(), Actor::new(), Actor::new());
    own(&server, &test, "db", 1);
    server.allow(test.id(), worker.id(), "db").unwrap();
    server.allow(test.id(), other.id(), "db").unwrap();
    let worker_id = worker.id();
    drop(worker);
    let snapshot = server.snapshot();
    assert!(!snapshot.allowed.contains_key(&worker_id));
    assert_eq!(snapshot.allowed[&other.id()], vec![("db", test.id())]);
    assert_eq!(server.get_owned(test.id())["db"], 1);
}

#[test]
fn a_panic_unwinding_through_the_guard_releases_everything() {
    let server = Server::new();
    let worker = Actor::new();
    let (inside, worker_id) = (server.clone(), worker.id());
    let outcome = panic::catch_unwind(move || {
        let test = Actor::named("tests::panics");
        inside.get_and_update(test.id(), "db", |_| ((), 1)).unwrap();
        inside.allow(test.id(), worker_id, "db").unwrap();
        inside.set_mode(Mode::Shared(test.id())).unwrap();
        panic!("the test body failed");
    });
    assert!(outcome.is_err());
    let snapshot = server.snapshot();
    assert_eq!(snapshot.mode, Mode::Private);
    assert!(snapshot.owned.is_empty());
    assert!(snapshot.allowed.is_empty());
}

#[test]
fn a_panic_in_a_task_releases_what_the_task_owned() {
    let server = Server::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let inside = server.clone();
    let joined = runtime.block_on(runtime.spawn(async move {
        let actor = Actor::named("task");
        actor
            .scope(async {
                inside
                    .get_and_update(actor.id(), "db", |_| ((), 1))
                    .unwrap();
                tokio::task::yield_now().await;
                panic!("task failed");
            })
            .await
    }));
    assert!(joined.unwrap_err().is_panic());
    assert!(server.snapshot().owned.is_empty());
}

#[test]
fn the_shared_owner_going_down_returns_the_server_to_private_mode() {
    let server = Server::new();
    let shared = Actor::new();
    own(&server, &shared, "db", 1);
    server.set_mode(Mode::Shared(shared.id())).unwrap();
    drop(shared);
    let snapshot = server.snapshot();
    assert_eq!(snapshot.mode, Mode::Private);
    assert!(snapshot.owned.is_empty(), "its keys are released too");
    let error = server
        .set_mode(Mode::Shared(snapshot_owner_ended()))
        .unwrap_err();
    assert!(error.to_string().contains("has ended"));
}

fn snapshot_owner_ended() -> ActorId {
    Actor::new().id()
}

#[test]
fn setting_shared_mode_for_an_ended_actor_fails_and_keeps_the_mode() {
    let server = Server::new();
    let ended = Actor::named("tests::ended").id();
    assert_eq!(
        server.set_mode(Mode::Shared(ended)),
        Err(SharedOwnerDown { actor: ended })
    );
    assert_eq!(server.mode(), Mode::Private);
}

#[test]
fn manual_cleanup_keeps_keys_and_allowances_until_cleanup_owner() {
    let server = Server::new();
    let (test, worker) = (Actor::new(), Actor::new());
    own(&server, &test, "mock", 5);
    server.allow(test.id(), worker.id(), "mock").unwrap();
    server.set_owner_to_manual_cleanup(test.id());
    let test_id = test.id();
    drop(test);
    assert_eq!(server.get_owned(test_id)["mock"], 5);
    assert_eq!(owner_of(&server, &[worker.id()], "mock"), Some(test_id));

    server.cleanup_owner(test_id);
    assert!(server.get_owned(test_id).is_empty());
    assert_eq!(owner_of(&server, &[worker.id()], "mock"), None);
    let snapshot = server.snapshot();
    assert!(snapshot.manual_cleanup.is_empty());
    assert!(snapshot.allowed.is_empty());
}

#[test]
fn cleanup_owner_of_a_live_owner_keeps_its_own_allowances() {
    let server = Server::new();
    let (test, helper) = (Actor::new(), Actor::new());
    own(&server, &test, "db", 1);
    own(&server, &helper, "clock", 2);
    server.allow(test.id(), helper.id(), "db").unwrap();
    server.cleanup_owner(helper.id());
    assert!(server.get_owned(helper.id()).is_empty());
    assert_eq!(owner_of(&server, &[helper.id()], "db"), Some(test.id()));
}

#[test]
fn an_ended_actor_can_neither_own_nor_be_allowed() {
    let server = Server::new();
    let test = Actor::new();
    own(&server, &test, "db", 1);
    let ended = Actor::named("tests::leaked_task").id();
    let error = server.get_and_update(ended, "db", |_| ((), 2)).unwrap_err();
    assert_eq!(
        error,
        OwnershipError::ActorDown {
            key: "db",
            actor: ended
        }
    );
    let error = server.allow(test.id(), ended, "db").unwrap_err();
    assert!(matches!(error, OwnershipError::ActorDown { actor, .. } if actor == ended));
    assert!(server.snapshot().allowed.is_empty());
    assert_eq!(server.snapshot().owned.len(), 1);
}

#[test]
fn the_update_function_may_call_the_same_server() {
    let server = Server::new();
    let (test, worker) = (Actor::new(), Actor::new());
    own(&server, &test, "clock", 1);
    let result = server
        .get_and_update(test.id(), "db", |old| {
            assert_eq!(old, None);
            // The key being updated counts as owned meanwhile.
            assert_eq!(owner_of(&server, &[test.id()], "db"), Some(test.id()));
            // Other keys of the same owner, allowances, and reads all work.
            own(&server, &test, "cache", 3);
            server.allow(test.id(), worker.id(), "clock").unwrap();
            let owned = server.get_owned(test.id());
            assert!(
                !owned.contains_key("db"),
                "the key being updated is left out"
            );
            // The same key again is refused, not a deadlock.
            let again = server.get_and_update(test.id(), "db", |_| ((), 0));
            assert!(matches!(again, Err(OwnershipError::ReentrantUpdate { .. })));
            ("done", 2)
        })
        .unwrap();
    assert_eq!(result, "done");
    let owned = server.get_owned(test.id());
    assert_eq!((owned["db"], owned["clock"], owned["cache"]), (2, 1, 3));
    assert_eq!(owner_of(&server, &[worker.id()], "clock"), Some(test.id()));
}

#[test]
fn a_panicking_update_function_leaves_the_metadata_as_it_was() {
    let server = Server::new();
    let test = Actor::new();
    own(&server, &test, "db", 1);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        server.get_and_update(test.id(), "db", |_| -> ((), u32) {
            panic!("update failed")
        })
    }));
    assert!(outcome.is_err());
    assert_eq!(server.get_owned(test.id())["db"], 1);

    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        server.get_and_update(test.id(), "new", |_| -> ((), u32) {
            panic!("update failed")
        })
    }));
    assert!(outcome.is_err());
    assert!(
        !server.get_owned(test.id()).contains_key("new"),
        "no key was created"
    );
    own(&server, &test, "new", 2); // and the slot is usable again
}

#[test]
fn concurrent_updates_of_one_key_are_serialized() {
    let server = Server::new();
    let test = Actor::new();
    own(&server, &test, "hits", 0);
    let id = test.id();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..500 {
                    server
                        .get_and_update(id, "hits", |old| ((), old.unwrap() + 1))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(server.get_owned(id)["hits"], 4000);
}

/// Metadata that owns an actor guard: dropping it ends that actor, which calls back into
/// the server. This must not deadlock.
#[test]
fn dropping_metadata_that_ends_another_actor_does_not_deadlock() {
    let server: Ownership<&str, Option<Actor>> = Ownership::new();
    let test = Actor::new();
    let helper = Actor::new();
    let helper_id = helper.id();
    server
        .get_and_update(helper_id, "clock", |_| ((), None))
        .unwrap();
    server
        .get_and_update(test.id(), "db", |_| ((), Some(helper)))
        .unwrap();
    drop(test);
    assert!(!helper_id.is_alive());
    assert!(server.snapshot().owned.is_empty());
}

/// Metadata whose drop panics (as a mockall mock with unmet expectations does): every
/// server is still told, and the panic reaches the code that dropped the actor.
#[test]
fn a_panicking_metadata_drop_still_cleans_every_server() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("expectation not met");
            }
        }
    }
    let first: Ownership<u8, PanicsOnDrop> = Ownership::new();
    let second = Server::new();
    let test = Actor::new();
    first
        .get_and_update(test.id(), 1, |_| ((), PanicsOnDrop))
        .unwrap();
    own(&second, &test, "db", 1);
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(test)));
    let message = *outcome.unwrap_err().downcast::<&str>().unwrap();
    assert_eq!(message, "expectation not met");
    assert!(first.snapshot().owned.is_empty());
    assert!(second.snapshot().owned.is_empty());
}

#[test]
fn error_messages_name_the_actor_the_key_the_owner_and_the_fix() {
    let server = Server::new();
    let test = Actor::named("orders::tests::places_an_order");
    let worker = Actor::named("payments::worker");
    let other = Actor::named("orders::tests::cancels_an_order");
    own(&server, &test, "db", 1);
    own(&server, &other, "db", 2);
    server.allow(test.id(), worker.id(), "db").unwrap();

    let already = server
        .allow(other.id(), worker.id(), "db")
        .unwrap_err()
        .to_string();
    assert!(
        already.contains(&format!("{} is already allowed", worker.id())),
        "{already}"
    );
    assert!(already.contains("\"db\""), "{already}");
    assert!(
        already.contains("(orders::tests::places_an_order)"),
        "{already}"
    );
    assert!(
        already.contains("give each test its own worker Actor"),
        "{already}"
    );

    let stranger = Actor::named("stranger");
    let not_allowed = server
        .allow(stranger.id(), Actor::new().id(), "db")
        .unwrap_err()
        .to_string();
    assert!(
        not_allowed.contains("(stranger) cannot allow"),
        "{not_allowed}"
    );
    assert!(
        not_allowed.contains("call `allow` with the owner"),
        "{not_allowed}"
    );

    server.set_mode(Mode::Shared(test.id())).unwrap();
    let shared = server
        .get_and_update(other.id(), "db", |_| ((), 3))
        .unwrap_err()
        .to_string();
    assert!(shared.contains("shared mode"), "{shared}");
    assert!(
        shared.contains("(orders::tests::places_an_order)"),
        "{shared}"
    );
    assert!(shared.contains("switch back to private mode"), "{shared}");
}
