//! Keyed single flight, with real tokio runtimes and real panics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ownership_runtime::error_chain;
use ownership_runtime::flight::{Fetched, Keep, LoadError, SingleFlight};
use ownership_runtime::{Actor, callers};
use tokio::sync::Notify;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Lets every spawned task of a current-thread runtime run until it waits.
async fn let_tasks_reach_their_await() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn a_thousand_keys_with_eight_fetchers_each_run_a_thousand_loads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let flight: SingleFlight<u32, u64> = SingleFlight::new();
    let runs: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for fetcher in 0..8 {
            for key in 0..1_000_u32 {
                let (flight, runs) = (flight.clone(), runs.clone());
                tasks.push(tokio::spawn(async move {
                    let fetched = flight
                        .fetch(key, move || async move {
                            *runs.lock().unwrap().entry(key).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            Ok::<_, String>(u64::from(key) * 3)
                        })
                        .await
                        .unwrap();
                    (fetcher, key, fetched)
                }));
            }
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 1_000);
    assert!(runs.values().all(|&count| count == 1), "a key loaded twice");
    assert_eq!(results.len(), 8_000);
    let mut loaded_by_key: HashMap<u32, usize> = HashMap::new();
    for (_, key, fetched) in results {
        if fetched.was_loaded() {
            *loaded_by_key.entry(key).or_default() += 1;
        }
        assert_eq!(fetched.into_value(), u64::from(key) * 3);
    }
    assert_eq!(loaded_by_key.len(), 1_000);
    assert!(loaded_by_key.values().all(|&count| count == 1));
}

/// Starts 8 fetches of one key whose loader waits for `release`, lets them all join,
/// releases the loader, and returns the 8 results and how often the loader ran.
fn eight_waiters<L, Fut>(loader: L) -> (Vec<Result<Fetched<u32>, LoadError>>, usize)
where
    L: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u32, String>> + Send + 'static,
{
    let flight: SingleFlight<&str, u32> = SingleFlight::new();
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let results = current_thread().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (flight, release, runs, loader) = (
                    flight.clone(),
                    release.clone(),
                    runs.clone(),
                    loader.clone(),
                );
                tokio::spawn(async move {
                    flight
                        .fetch("config", move || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            release.notified().await;
                            loader().await
                        })
                        .await
                })
            })
            .collect();
        let_tasks_reach_their_await().await;
        // The loader may not have reached `notified()` yet: notify_one stores a permit.
        release.notify_one();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    (results, runs.load(Ordering::SeqCst))
}

#[test]
fn every_waiter_gets_the_value_and_exactly_one_of_them_loaded_it() {
    let (results, runs) = eight_waiters(|| async { Ok(42) });
    assert_eq!(runs, 1);
    let loaded = results
        .iter()
        .filter(|r| r.as_ref().unwrap().was_loaded())
        .count();
    assert_eq!(loaded, 1);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Fetched::Loaded(42) | Fetched::Joined(42))))
    );
}

#[test]
fn an_error_of_the_loader_reaches_every_waiter() {
    let (results, runs) = eight_waiters(|| async { Err("the schema is locked".to_owned()) });
    assert_eq!(runs, 1);
    let mut first_source = None;
    for result in results {
        let error = result.unwrap_err();
        let LoadError::Failed { source, .. } = &error else {
            panic!("expected Failed, got {error:?}");
        };
        // One error, shared by every waiter.
        let first = first_source.get_or_insert_with(|| source.clone());
        assert!(std::sync::Arc::ptr_eq(first, source));
        let message = error_chain(&error).to_string();
        assert!(
            message.starts_with("the loader of \"config\" failed (failures are not kept"),
            "{message}"
        );
        assert!(message.ends_with(": the schema is locked"), "{message}");
    }
}

#[test]
fn a_panic_of_the_loader_reaches_every_waiter() {
    let (results, runs) = eight_waiters(|| async { panic!("migration 7 is broken") });
    assert_eq!(runs, 1);
    for result in results {
        let error = result.unwrap_err();
        assert!(
            matches!(
                &error,
                LoadError::Panicked { key, message }
                    if key == "\"config\"" && message == "migration 7 is broken"
            ),
            "{error:?}"
        );
    }
}

#[test]
fn a_failure_is_not_kept_and_the_next_fetch_runs_the_loader_again() {
    let flight: SingleFlight<&str, u32> = SingleFlight::new();
    current_thread().block_on(async {
        let failed = flight.fetch("k", || async { Err::<u32, _>("down") }).await;
        assert!(failed.is_err());
        let panicked = flight
            .fetch("k", || async {
                panic!("still down") as Result<u32, String>
            })
            .await;
        assert!(matches!(panicked, Err(LoadError::Panicked { .. })));
        let retried = flight.fetch("k", || async { Ok::<_, String>(5) }).await;
        assert_eq!(retried.unwrap(), Fetched::Loaded(5));
        let kept = flight.fetch("k", || async { Ok::<_, String>(6) }).await;
        assert_eq!(kept.unwrap(), Fetched::Kept(5));
    });
}

#[test]
fn a_loader_may_fetch_other_keys() {
    let flight: SingleFlight<&str, u32> = SingleFlight::new();
    let inner = flight.clone();
    let fetched = current_thread().block_on(flight.fetch("total", move || async move {
        let a = inner
            .fetch("a", || async { Ok::<_, String>(2) })
            .await
            .map_err(|e| e.to_string())?;
        let b = inner
            .fetch("b", || async { Ok::<_, String>(3) })
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(a.into_value() + b.into_value())
    }));
    assert_eq!(fetched.unwrap(), Fetched::Loaded(5));
}

#[test]
fn a_dropped_waiter_cancels_nothing_for_the_others() {
    let flight: SingleFlight<&str, u32> = SingleFlight::new();
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let loader = {
        let (release, runs) = (release.clone(), runs.clone());
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            release.notified().await;
            Ok::<_, String>(9)
        }
    };
    current_thread().block_on(async {
        // The fetch that starts the load is dropped while the load is in flight.
        let leader = tokio::spawn({
            let (flight, loader) = (flight.clone(), loader.clone());
            async move { flight.fetch("k", loader).await }
        });
        let_tasks_reach_their_await().await;
        let follower = tokio::spawn({
            let (flight, loader) = (flight.clone(), loader.clone());
            async move { flight.fetch("k", loader).await }
        });
        let_tasks_reach_their_await().await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        release.notify_one();
        assert_eq!(follower.await.unwrap().unwrap(), Fetched::Joined(9));
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_load_outlives_the_runtime_of_the_fetch_that_started_it() {
    let flight: SingleFlight<&str, u32> = SingleFlight::new();
    let release = Arc::new(Notify::new());
    {
        // A "test" starts the load, and its runtime ends before the load does.
        let (flight, release) = (flight.clone(), release.clone());
        let runtime = current_thread();
        runtime.block_on(async move {
            let started = tokio::spawn(async move {
                flight
                    .fetch("k", move || async move {
                        release.notified().await;
                        Ok::<_, String>(1)
                    })
                    .await
            });
            let_tasks_reach_their_await().await;
            drop(started);
        });
    }
    release.notify_one();
    let fetched = current_thread().block_on(flight.fetch("k", || async { Ok::<_, String>(2) }));
    let value = fetched.unwrap();
    assert!(
        matches!(value, Fetched::Joined(1) | Fetched::Kept(1)),
        "{value:?}"
    );
}

#[test]
fn keep_decides_how_long_values_are_kept() {
    let runtime = current_thread();
    let never: SingleFlight<&str, u32> = SingleFlight::keeping(Keep::Never);
    let briefly: SingleFlight<&str, u32> =
        SingleFlight::keeping(Keep::For(Duration::from_millis(1)));
    let long: SingleFlight<&str, u32> = SingleFlight::keeping(Keep::For(Duration::from_secs(3600)));
    runtime.block_on(async {
        let load = || async { Ok::<_, String>(1) };
        for flight in [&never, &briefly, &long] {
            assert!(flight.fetch("k", load).await.unwrap().was_loaded());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(never.fetch("k", load).await.unwrap().was_loaded());
        assert!(briefly.fetch("k", load).await.unwrap().was_loaded());
        assert_eq!(long.fetch("k", load).await.unwrap(), Fetched::Kept(1));
        long.forget(&"k");
        assert!(long.fetch("k", load).await.unwrap().was_loaded());
    });
}

#[test]
fn the_loader_runs_for_the_callers_of_the_fetch_that_started_it() {
    let flight: SingleFlight<&str, Vec<u64>> = SingleFlight::new();
    let test = Actor::named("flight::test");
    let chain = current_thread().block_on(test.scope(flight.fetch("k", || async {
        Ok::<_, String>(callers().iter().map(|actor| actor.as_u64()).collect())
    })));
    assert_eq!(chain.unwrap().into_value(), vec![test.id().as_u64()]);
}
