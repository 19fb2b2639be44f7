//! Propagation of the callers chain across real tokio runtimes and real OS threads.
//!
//! Every test builds its runtimes by hand (no `#[tokio::test]`) so that it controls which
//! threads run for which chain, and asserts the exact chain seen where code runs.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Barrier};
use std::thread::ThreadId;
use std::time::Duration;

use ownership_runtime::{Actor, ActorId, Callers, InCallers, build_runtime, callers};
use tokio::runtime::{Builder, Runtime};

/// A multi_thread runtime NOT built with `build_runtime`: its threads work for nobody.
fn plain_multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("plain multi_thread runtime")
}

/// The chain and the thread where some code ran.
fn here() -> (Callers, ThreadId) {
    (callers(), std::thread::current().id())
}

// Proves: on a current_thread runtime built with `build_runtime`, a plain `tokio::spawn`
// (no wrapper) runs for the runtime's chain; the task runs on the `block_on` thread.
#[test]
fn build_runtime_current_thread_plain_tokio_spawn_sees_chain() {
    let test = Actor::named("propagation::current_thread");
    let runtime = build_runtime(&mut Builder::new_current_thread(), test.chain()).unwrap();
    let caller_thread = std::thread::current().id();

    let (seen, thread) = runtime.block_on(async { tokio::spawn(async { here() }).await.unwrap() });

    assert_eq!(&seen[..], &[test.id()]);
    assert_eq!(seen, test.chain());
    assert_eq!(
        thread, caller_thread,
        "current_thread runs tasks on block_on's thread"
    );
}

// Proves: on a multi_thread runtime (2 workers) built with `build_runtime`, a plain
// `tokio::spawn` runs for the chain on a worker thread (not the `block_on` thread), and
// so does a task spawned through the runtime's handle from outside `block_on`.
#[test]
fn build_runtime_multi_thread_plain_tokio_spawn_sees_chain_on_worker() {
    let test = Actor::named("propagation::multi_thread");
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    let runtime = build_runtime(&mut builder, test.chain()).unwrap();
    let caller_thread = std::thread::current().id();

    let (seen, thread) = runtime.block_on(async { tokio::spawn(async { here() }).await.unwrap() });
    assert_eq!(&seen[..], &[test.id()]);
    assert_ne!(thread, caller_thread, "the task ran on a worker thread");

    // Spawned from the test thread (which works for nobody) through the handle.
    assert!(callers().is_empty());
    let task = runtime.handle().spawn(async { here() });
    let (seen, thread) = runtime.block_on(task).unwrap();
    assert_eq!(&seen[..], &[test.id()]);
    assert_ne!(thread, caller_thread);
}

// Proves: plain `tokio::task::spawn_blocking` on a runtime built with `build_runtime`
// runs for the chain on a blocking-pool thread, for both flavors.
#[test]
fn build_runtime_plain_spawn_blocking_sees_chain() {
    let test = Actor::named("propagation::spawn_blocking");
    let caller_thread = std::thread::current().id();

    let current = build_runtime(&mut Builder::new_current_thread(), test.chain()).unwrap();
    let (seen, thread) = current
        .block_on(async { tokio::task::spawn_blocking(here).await })
        .unwrap();
    assert_eq!(&seen[..], &[test.id()]);
    assert_ne!(thread, caller_thread, "ran on a blocking-pool thread");

    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    let multi = build_runtime(&mut builder, test.chain()).unwrap();
    let (seen, thread) = multi
        .block_on(async { tokio::task::spawn_blocking(here).await })
        .unwrap();
    assert_eq!(&seen[..], &[test.id()]);
    assert_ne!(thread, caller_thread, "ran on a blocking-pool thread");

    // Spawned from inside a task too.
    let seen = multi.block_on(async {
        tokio::spawn(async { tokio::task::spawn_blocking(callers).await.unwrap() })
            .await
            .unwrap()
    });
    assert_eq!(&seen[..], &[test.id()]);
}

// Proves: `tokio::spawn` nested three deep on a helper-built multi_thread runtime still
// runs for the test actor, first in the chain, at every level.
#[test]
fn nested_tokio_spawn_three_deep_sees_test_actor_first() {
    let test = Actor::named("propagation::nested");
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    let runtime = build_runtime(&mut builder, test.chain()).unwrap();

    let levels = runtime.block_on(async {
        tokio::spawn(async {
            let first = callers();
            let (second, third) = tokio::spawn(async {
                let second = callers();
                let third = tokio::spawn(async {
                    tokio::task::yield_now().await;
                    callers()
                })
                .await
                .unwrap();
                (second, third)
            })
            .await
            .unwrap();
            [first, second, third]
        })
        .await
        .unwrap()
    });

    for (depth, seen) in levels.iter().enumerate() {
        assert_eq!(seen.first(), Some(&test.id()), "depth {}", depth + 1);
        assert_eq!(seen, &test.chain(), "depth {}", depth + 1);
    }
}

// Proves: 200 concurrent tasks on a multi_thread runtime, each yielding (so they move
// between workers and interleave), all see the chain at every resumption.
#[test]
fn many_concurrent_yielding_tasks_all_see_chain() {
    const TASKS: usize = 200;
    const YIELDS: usize = 10;

    let test = Actor::named("propagation::many_tasks");
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    let runtime = build_runtime(&mut builder, test.chain()).unwrap();

    let all_seen = runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                tokio::spawn(async {
                    let mut seen = Vec::with_capacity(YIELDS + 1);
                    seen.push(callers());
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                        seen.push(callers());
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::with_capacity(TASKS);
        for task in tasks {
            all.push(task.await.unwrap());
        }
        all
    });

    assert_eq!(all_seen.len(), TASKS);
    let expected = test.chain();
    for (task, seen) in all_seen.iter().enumerate() {
        assert_eq!(seen.len(), YIELDS + 1);
        for (step, chain) in seen.iter().enumerate() {
            assert_eq!(chain, &expected, "task {task}, step {step}");
        }
    }
}

/// Runs on its own std thread: a helper-built multi_thread runtime for `chain`, waits
/// (inside `block_on`) until the other runtime is running too, then returns every chain
/// its tasks and blocking closures saw.
fn run_concurrent_runtime(chain: Callers, both_running: Arc<Barrier>) -> Vec<Callers> {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let runtime = build_runtime(&mut builder, chain).unwrap();
    runtime.block_on(async move {
        // Both runtimes exist and are inside block_on from here on.
        tokio::task::spawn_blocking(move || both_running.wait())
            .await
            .unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|index| {
                tokio::spawn(async move {
                    let mut seen = vec![callers()];
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                        seen.push(callers());
                    }
                    tokio::time::sleep(Duration::from_millis(index % 3)).await;
                    seen.push(callers());
                    seen.push(tokio::task::spawn_blocking(callers).await.unwrap());
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    })
}

// Proves: two helper-built runtimes for two different actors, running at the same time
// on two std threads, keep their chains apart: each one's tasks see only their own actor.
#[test]
fn two_runtimes_for_two_actors_at_once_never_mix() {
    let first = Actor::named("propagation::concurrent_first");
    let second = Actor::named("propagation::concurrent_second");
    let both_running = Arc::new(Barrier::new(2));

    let threads: Vec<_> = [first.chain(), second.chain()]
        .into_iter()
        .map(|chain| {
            let both_running = Arc::clone(&both_running);
            std::thread::spawn(move || run_concurrent_runtime(chain, both_running))
        })
        .collect();
    let results: Vec<Vec<Callers>> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();

    let check = |seen: &[Callers], own: ActorId, other: ActorId| {
        assert_eq!(seen.len(), 50 * 8);
        for chain in seen {
            assert_eq!(&chain[..], &[own], "saw {chain}");
            assert!(!chain.contains(&other), "{other} leaked into {chain}");
        }
    };
    check(&results[0], first.id(), second.id());
    check(&results[1], second.id(), first.id());
}

// Proves: `ownership_runtime::thread::spawn` carries the chain into the new thread (also
// nested), while a plain `std::thread::spawn` starts with an EMPTY chain: the documented
// boundary of automatic propagation.
#[test]
fn thread_spawn_wrapper_carries_chain_std_thread_spawn_does_not() {
    let test = Actor::named("propagation::threads");
    let _test = test.enter();
    assert_eq!(&callers()[..], &[test.id()]);

    let seen = ownership_runtime::thread::spawn(callers).join().unwrap();
    assert_eq!(&seen[..], &[test.id()]);

    let unseen = std::thread::spawn(callers).join().unwrap();
    assert!(unseen.is_empty(), "plain std thread saw {unseen}");

    // Inside a propagated thread: the wrapper carries on, std still carries nothing, and
    // an actor created there runs for the test too.
    let (nested, plain, worker_chain, worker_id) = ownership_runtime::thread::spawn(|| {
        let nested = ownership_runtime::thread::spawn(callers).join().unwrap();
        let plain = std::thread::spawn(callers).join().unwrap();
        let worker = Actor::named("propagation::threads_worker");
        (nested, plain, worker.chain(), worker.id())
    })
    .join()
    .unwrap();
    assert_eq!(&nested[..], &[test.id()]);
    assert!(plain.is_empty(), "plain std thread saw {plain}");
    assert_eq!(&worker_chain[..], &[worker_id, test.id()]);
}

// Proves: on a plain tokio multi_thread runtime (not built with the helper),
// `.in_current_callers()` carries the chain into `tokio::spawn`, whether captured on the
// test thread or inside a scoped task; without it, the task sees an empty chain.
#[test]
fn in_current_callers_carries_chain_on_plain_runtime() {
    let test = Actor::named("propagation::in_current_callers");
    let plain = plain_multi_thread(2);

    // Captured on the test thread, which has the actor entered.
    {
        let _test = test.enter();
        let seen = plain
            .block_on(plain.spawn(async { callers() }.in_current_callers()))
            .unwrap();
        assert_eq!(&seen[..], &[test.id()]);

        let unseen = plain.block_on(plain.spawn(async { callers() })).unwrap();
        assert!(unseen.is_empty(), "unwrapped task saw {unseen}");
    }

    // Captured inside a task that runs as the actor.
    let (wrapped, unwrapped) = plain.block_on(test.scope(async {
        let wrapped = tokio::spawn(async { callers() }.in_current_callers())
            .await
            .unwrap();
        let unwrapped = tokio::spawn(async { callers() }).await.unwrap();
        (wrapped, unwrapped)
    }));
    assert_eq!(&wrapped[..], &[test.id()]);
    assert!(unwrapped.is_empty(), "unwrapped task saw {unwrapped}");

    // `.with_callers(chain)` sets an explicit chain the same way.
    let worker = Actor::named("propagation::with_callers");
    let explicit = plain
        .block_on(plain.spawn(async { callers() }.with_callers(worker.chain())))
        .unwrap();
    assert_eq!(&explicit[..], &[worker.id()]);
}

// Proves: `ownership_runtime::spawn` and `ownership_runtime::spawn_blocking`, called
// inside `actor.scope(...)` on a plain runtime, carry the chain, where the plain tokio
// calls do not; and the blocking-pool thread does not keep the chain afterwards.
#[test]
fn spawn_wrappers_carry_chain_on_plain_runtime() {
    let test = Actor::named("propagation::spawn_wrappers");
    // One blocking thread, so every blocking closure below reuses the same thread.
    let plain = Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .build()
        .unwrap();

    let (task, blocking, plain_task, plain_blocking_after) = plain.block_on(test.scope(async {
        let task = ownership_runtime::spawn(async {
            tokio::task::yield_now().await;
            callers()
        })
        .await
        .unwrap();
        let blocking = ownership_runtime::spawn_blocking(here).await.unwrap();
        let plain_task = tokio::spawn(async { callers() }).await.unwrap();
        let plain_blocking_after = tokio::task::spawn_blocking(here).await.unwrap();
        (task, blocking, plain_task, plain_blocking_after)
    }));

    assert_eq!(&task[..], &[test.id()]);
    assert_eq!(&blocking.0[..], &[test.id()]);
    assert!(plain_task.is_empty(), "plain tokio::spawn saw {plain_task}");
    assert_eq!(
        plain_blocking_after.1, blocking.1,
        "max_blocking_threads(1): the same pool thread ran both closures"
    );
    assert!(
        plain_blocking_after.0.is_empty(),
        "blocking thread kept {} after the wrapper's closure returned",
        plain_blocking_after.0
    );
}

// Proves: `actor.scope(fut)` puts the actor first, followed by the chain current when
// `scope` was CALLED (not when polled); scopes nest innermost first.
#[test]
fn actor_scope_is_innermost_first_over_chain_at_call_time() {
    let test = Actor::named("propagation::scope_test");
    let worker = Actor::named("propagation::scope_worker");
    let inner = Actor::named("propagation::scope_inner");
    let runtime = Builder::new_current_thread().build().unwrap();

    let entered = test.enter();
    let scoped = worker.scope(async {
        let in_worker = callers();
        let in_inner = inner.scope(async { callers() }).await;
        (in_worker, in_inner)
    });
    // Leave the test actor before polling: the scope captured it already.
    drop(entered);
    assert!(callers().is_empty());

    let (in_worker, in_inner) = runtime.block_on(scoped);
    assert_eq!(&in_worker[..], &[worker.id(), test.id()]);
    assert_eq!(&in_inner[..], &[inner.id(), worker.id(), test.id()]);

    // Outside any scope again, nothing remains.
    assert!(runtime.block_on(async { callers() }).is_empty());
}

// Proves: `actor.enter()` guards nest (the latest is innermost) and restore the previous
// chain in order as they drop; re-entering an actor moves it to the front without
// listing it twice; an out-of-order drop removes only the dropped entry.
#[test]
fn enter_guards_nest_and_restore_in_order() {
    let a = Actor::named("propagation::enter_a");
    let b = Actor::named("propagation::enter_b");
    let c = Actor::named("propagation::enter_c");
    assert!(callers().is_empty());

    let guard_a = a.enter();
    assert_eq!(&callers()[..], &[a.id()]);
    let guard_b = b.enter();
    assert_eq!(&callers()[..], &[b.id(), a.id()]);
    let guard_c = c.enter();
    assert_eq!(&callers()[..], &[c.id(), b.id(), a.id()]);
    let guard_a_again = a.enter();
    assert_eq!(&callers()[..], &[a.id(), c.id(), b.id()]);

    drop(guard_a_again);
    assert_eq!(&callers()[..], &[c.id(), b.id(), a.id()]);
    drop(guard_c);
    assert_eq!(&callers()[..], &[b.id(), a.id()]);
    drop(guard_b);
    assert_eq!(&callers()[..], &[a.id()]);
    drop(guard_a);
    assert!(callers().is_empty());

    // Out of order: dropping the outer guard first leaves the inner one in place.
    let guard_a = a.enter();
    let guard_b = b.enter();
    drop(guard_a);
    assert_eq!(&callers()[..], &[b.id()]);
    drop(guard_b);
    assert!(callers().is_empty());
}

// Proves: `callers()` lists an actor once, at its first (innermost) place, even when it
// is at once entered on the thread, in the task's chain and in the thread's chain.
#[test]
fn callers_lists_each_actor_once_across_entered_task_and_thread() {
    let a = Actor::named("propagation::dedup_a");
    let b = Actor::named("propagation::dedup_b");
    let c = Actor::named("propagation::dedup_c");
    let runtime = Builder::new_current_thread().build().unwrap();

    // Thread chain: [c, a].
    let thread_chain: Callers = [c.id(), a.id()].into_iter().collect();
    let _thread = thread_chain.enter();
    assert_eq!(&callers()[..], &[c.id(), a.id()]);

    // Task chain: [b, a]; entered: a.
    let task_chain: Callers = [b.id(), a.id()].into_iter().collect();
    let (in_task, entered_in_task) = runtime.block_on(
        async {
            let in_task = callers();
            let entered = a.enter();
            let entered_in_task = callers();
            drop(entered);
            (in_task, entered_in_task)
        }
        .with_callers(task_chain),
    );

    // Task first, then the thread's actors not already listed.
    assert_eq!(&in_task[..], &[b.id(), a.id(), c.id()]);
    // `a` is entered, in the task chain and in the thread chain: listed once, first.
    assert_eq!(&entered_in_task[..], &[a.id(), b.id(), c.id()]);
    assert_eq!(
        entered_in_task.iter().filter(|&&id| id == a.id()).count(),
        1
    );
}

// Proves: nothing leaks past the end of a scope or a runtime: a std thread that entered a
// chain and dropped the guard is empty again, nested `Callers::enter` guards restore the
// previous chain, and the thread that ran a helper runtime's `block_on` is empty after it
// returns and after the runtime (and its threads) are gone.
#[test]
fn nothing_leaks_after_guards_drop_and_runtime_stops() {
    let test = Actor::named("propagation::no_leak");
    let worker = Actor::named("propagation::no_leak_worker");
    let test_chain = test.chain();
    let worker_chain = worker.chain();

    let after = std::thread::spawn(move || {
        assert!(callers().is_empty());
        let outer = test_chain.enter();
        assert_eq!(&callers()[..], &[test.id()]);
        let inner = worker_chain.enter();
        assert_eq!(&callers()[..], &[worker.id()]);
        drop(inner);
        assert_eq!(&callers()[..], &[test.id()], "previous chain restored");
        drop(outer);
        let after_guards = callers();

        // A helper-built runtime driven from this thread, then dropped.
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(2);
        let runtime = build_runtime(&mut builder, test.chain()).unwrap();
        let inside = runtime.block_on(async {
            let in_block_on = callers();
            let in_task = tokio::spawn(async { callers() }).await.unwrap();
            (in_block_on, in_task)
        });
        let after_block_on = callers();
        runtime.shutdown_timeout(Duration::from_secs(5));
        let after_shutdown = callers();

        let current = build_runtime(&mut Builder::new_current_thread(), test.chain()).unwrap();
        let in_current = current.block_on(async { callers() });
        drop(current);
        let after_drop = callers();

        (
            after_guards,
            inside,
            after_block_on,
            after_shutdown,
            in_current,
            after_drop,
            test,
        )
    })
    .join()
    .unwrap();

    let (after_guards, inside, after_block_on, after_shutdown, in_current, after_drop, test) =
        after;
    assert!(after_guards.is_empty(), "left {after_guards}");
    assert_eq!(&inside.0[..], &[test.id()]);
    assert_eq!(&inside.1[..], &[test.id()]);
    assert!(after_block_on.is_empty(), "left {after_block_on}");
    assert!(after_shutdown.is_empty(), "left {after_shutdown}");
    assert_eq!(&in_current[..], &[test.id()]);
    assert!(after_drop.is_empty(), "left {after_drop}");
    // And this (libtest) thread never saw any of it.
    assert!(callers().is_empty());
}

// Proves: an Actor whose guard drops while a panic unwinds through it is down afterwards,
// just as if it had been dropped normally.
#[test]
fn actor_dropped_during_panic_unwind_is_down() {
    let mut created: Option<ActorId> = None;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let actor = Actor::named("propagation::panicking");
        created = Some(actor.id());
        assert!(actor.id().is_alive());
        panic!("test panic while the actor is alive");
    }));

    let payload = outcome.expect_err("the closure panicked");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"test panic while the actor is alive")
    );
    let id = created.expect("the actor was created before the panic");
    assert!(!id.is_alive(), "{id} is still alive after unwinding");
}
