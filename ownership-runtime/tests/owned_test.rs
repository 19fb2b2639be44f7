//! `#[owned_test]` end to end: the body runs as the test's actor, and plain tokio spawns,
//! blocking closures and propagated threads inside it run for the test too.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use ownership_runtime::harness::{Failure, TestContext, TestResource};
use ownership_runtime::{ActorId, Found, Mode, Ownership, callers, owned_test};

/// The test's actor, as the body sees it.
fn test_actor() -> ActorId {
    *callers().first().expect("an owned test runs as its actor")
}

fn assert_is_this_test(actor: ActorId, test: &str) {
    let name = actor.name().expect("the test actor is named");
    assert_eq!(name, format!("owned_test::{test}"));
}

static RESOURCES: LazyLock<Ownership<&'static str, u32>> = LazyLock::new(Ownership::new);

fn resource() -> Option<u32> {
    let owner = RESOURCES.fetch_owner(&callers(), &"resource")?;
    RESOURCES.get_owned(owner.id()).get("resource").copied()
}

#[owned_test]
async fn the_body_runs_as_the_test_actor() {
    assert_is_this_test(test_actor(), "the_body_runs_as_the_test_actor");
    assert!(test_actor().is_alive());
}

#[owned_test]
async fn plain_tokio_spawn_and_spawn_blocking_are_children_of_the_test() {
    let test = test_actor();
    RESOURCES
        .get_and_update(test, "resource", |_| ((), 7))
        .unwrap();
    let in_task = tokio::spawn(async { resource() }).await.unwrap();
    let in_blocking = tokio::task::spawn_blocking(resource).await.unwrap();
    let in_thread = ownership_runtime::thread::spawn(resource).join().unwrap();
    assert_eq!(
        (in_task, in_blocking, in_thread),
        (Some(7), Some(7), Some(7))
    );
    // A plain thread works for nobody.
    assert_eq!(std::thread::spawn(resource).join().unwrap(), None);
}

#[owned_test]
async fn spawns_nested_three_deep_are_children_of_the_test() {
    let test = test_actor();
    let seen = tokio::spawn(async {
        tokio::spawn(async { tokio::spawn(async { callers() }).await.unwrap() })
            .await
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(seen.first(), Some(&test));
}

#[owned_test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_tasks_on_every_worker_are_children_of_the_test() {
    let test = test_actor();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async {
                tokio::task::yield_now().await;
                (callers(), std::thread::current().id())
            })
        })
        .collect();
    let mut threads = std::collections::HashSet::new();
    for task in tasks {
        let (chain, thread) = task.await.unwrap();
        assert_eq!(chain.first(), Some(&test));
        threads.insert(thread);
    }
    assert!(!threads.is_empty());
}

#[owned_test]
fn a_sync_body_runs_as_the_test_and_its_propagated_threads_too() {
    let test = test_actor();
    assert_is_this_test(
        test,
        "a_sync_body_runs_as_the_test_and_its_propagated_threads_too",
    );
    let seen = ownership_runtime::thread::spawn(callers).join().unwrap();
    assert_eq!(seen.first(), Some(&test));
}

#[owned_test]
async fn a_test_may_return_ok() -> Result<(), String> {
    let parsed: u32 = "42".parse().map_err(|error| format!("{error}"))?;
    assert_eq!(parsed, 42);
    Ok(())
}

#[owned_test]
fn a_sync_test_may_return_ok() -> Result<(), std::num::ParseIntError> {
    let parsed: u32 = "42".parse()?;
    assert_eq!(parsed, 42);
    Ok(())
}

#[owned_test]
#[should_panic(expected = "the order has no lines")]
async fn should_panic_sees_the_bodys_panic_message() {
    panic!("the order has no lines");
}

#[owned_test]
#[should_panic(expected = "the test returned an error: \"out of stock\"")]
async fn an_err_fails_the_test() -> Result<(), &'static str> {
    Err("out of stock")
}

#[owned_test(start_paused = true)]
async fn start_paused_pauses_the_runtime_clock() {
    let before = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(before.elapsed() >= Duration::from_secs(3600));
}

#[owned_test(start_paused = true, timeout = "10s")]
async fn a_timeout_counts_wall_clock_time_even_when_the_clock_is_paused() {
    // An hour of paused time passes at once; the wall-clock timeout doesn't fire.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[owned_test(shared)]
async fn a_shared_test_owns_what_it_owns_for_everyone() {
    let test = test_actor();
    RESOURCES.set_mode(Mode::Shared(test)).unwrap();
    RESOURCES
        .get_and_update(test, "resource", |_| ((), 9))
        .unwrap();
    // Even a plain thread sees it in shared mode.
    let seen = std::thread::spawn(|| RESOURCES.fetch_owner(&callers(), &"resource"))
        .join()
        .unwrap();
    assert_eq!(seen, Some(Found::SharedOwner(test)));
    RESOURCES.set_mode(Mode::Private).unwrap();
}

#[owned_test]
#[ignore = "shows that #[ignore] passes through; never run"]
async fn ignore_passes_through() {
    panic!("an ignored test ran");
}

/// A resource that records which tests it was prepared for.
struct Recorder(&'static str);

static PREPARED: Mutex<Vec<(&'static str, ActorId)>> = Mutex::new(Vec::new());

impl TestResource for Recorder {
    fn name(&self) -> String {
        self.0.to_owned()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        // Runs as the test's actor.
        assert_eq!(callers().first(), Some(&test.actor()));
        PREPARED.lock().unwrap().push((self.0, test.actor()));
        Ok(())
    }
}

static FIRST: Recorder = Recorder("first");
static SECOND: LazyLock<Recorder> = LazyLock::new(|| Recorder("second"));

#[owned_test(sandbox = [FIRST, SECOND])]
async fn named_resources_are_prepared_in_order_before_the_body() {
    let test = test_actor();
    let mine: Vec<&str> = PREPARED
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, actor)| *actor == test)
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(mine, ["first", "second"]);
}

#[owned_test(sandbox = FIRST)]
fn a_sync_test_gets_its_resources_too() {
    let test = test_actor();
    assert!(PREPARED.lock().unwrap().contains(&("first", test)));
}
