//! End to end: many "tests" at once, each on its own runtime, each owning its own fake of
//! one process-wide global, as the harness and the mock facades will use the runtime.
//! Every task, blocking closure and propagated thread sees only its own test's fake, and
//! nothing is left when the tests end.

use std::sync::LazyLock;

use ownership_runtime::{Actor, Found, Ownership, build_runtime, callers};

static CLOCKS: LazyLock<Ownership<&'static str, u64>> = LazyLock::new(Ownership::new);

const REAL_NOW: u64 = 1;

/// App code: the owning test's clock, or the real one.
fn now() -> u64 {
    match CLOCKS.fetch_owner(&callers(), &"clock") {
        Some(Found::Owner(owner)) | Some(Found::SharedOwner(owner)) => {
            CLOCKS.get_owned(owner)["clock"]
        }
        None => REAL_NOW,
    }
}

fn run_test(fake_now: u64) {
    let test = Actor::named(format!("e2e::clock_{fake_now}"));
    CLOCKS
        .get_and_update(test.id(), "clock", |_| ((), fake_now))
        .unwrap();
    let mut builder = if fake_now.is_multiple_of(2) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    };
    builder.enable_all();
    let runtime = build_runtime(&mut builder, test.chain()).unwrap();
    let seen: Vec<u64> = runtime.block_on(async {
        let mut seen = vec![now()];
        let task = tokio::spawn(async {
            tokio::task::yield_now().await;
            let nested = tokio::spawn(async { now() }).await.unwrap();
            (now(), nested)
        });
        let blocking = tokio::task::spawn_blocking(now);
        let thread = ownership_runtime::thread::spawn(now);
        let (in_task, nested) = task.await.unwrap();
        seen.extend([in_task, nested, blocking.await.unwrap()]);
        seen.push(thread.join().unwrap());
        seen
    });
    assert!(
        seen.iter().all(|&value| value == fake_now),
        "{} saw {seen:?}",
        test.id()
    );
    // A thread that wasn't propagated works for nobody: it sees the real clock.
    let _entered = test.enter();
    assert_eq!(std::thread::spawn(now).join().unwrap(), REAL_NOW);
}

#[test]
fn fifty_concurrent_tests_each_see_only_their_own_fake() {
    let tests: Vec<_> = (100..150_u64)
        .map(|fake_now| std::thread::spawn(move || run_test(fake_now)))
        .collect();
    for test in tests {
        test.join().unwrap();
    }
    assert_eq!(now(), REAL_NOW);
    let snapshot = CLOCKS.snapshot();
    assert!(snapshot.owned.is_empty(), "{snapshot:?}");
    assert!(snapshot.allowed.is_empty(), "{snapshot:?}");
}
