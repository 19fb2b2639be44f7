//! Benchmarks of the ownership runtime's hot paths.
//!
//! Run with `cargo bench -p ownership-runtime`. Every server here is an
//! `Ownership<u64, M>` (cheap keys); every owner is an [`Actor`] that owns one key.
//!
//! - `fetch_owner/hit/{1,100,10000}`: a server with N owners (owner `i` owns key `i`,
//!   metadata `()`); each iteration looks a key up with a chain of one actor, the key's
//!   owner, cycling through up to 64 owners spread over the N, so it is a hit.
//!   **Target: median <= 100 ns.**
//! - `fetch_owner/miss/{1,100,10000}`: the same servers, looked up by an actor that owns
//!   nothing and is allowed nothing (a miss: the whole chain is walked, no lazy
//!   allowance pending).
//! - `callers`: [`callers()`] on a thread that has entered a chain of two actors (one
//!   through [`Callers::enter`], one through [`Actor::enter`]), as code running for a test
//!   asks before every lookup. **Target: median <= 20 ns.**
//! - `allow/new_actor`: an owner allows a fresh actor to use its key (the actor is created
//!   in the untimed setup, and dropped, which removes the allowance, outside the timing).
//! - `allow/idempotent`: the owner allows the same, already allowed actor again (the
//!   no-op path: checks, no write).
//! - `get_and_update`: an owner updates the metadata (`u64`, incremented) of a key it
//!   already owns.
//! - `fetch_owner_threads/{1,2}`: T threads, each with its own owner and key on one shared
//!   server, each doing `iters` lookup hits. The threads are started and wait on a
//!   barrier; each measures its own time from the barrier's release, and the longest is
//!   the sample (thread start-up is excluded). The throughput is set to T elements per
//!   iteration, so criterion reports lookups per second across all threads.
//!   **Target: 2 threads >= 1.6x one thread's throughput** (on a 2-core machine).
//! - `http_request/{bare,layer_no_token,layer_with_token}`: one request through a tower
//!   service that answers at once, on a current-thread runtime: the service alone, behind
//!   `OwnershipLayer` with no token, and behind `OwnershipClientLayer` +
//!   `OwnershipLayer` from inside a test (the token made, sent, checked, and the handler
//!   run for the test). Compare the three: the layer's cost per request.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ownership_runtime::{Actor, ActorId, Ownership, callers};

/// Server sizes for the `fetch_owner` benchmarks.
const SIZES: [usize; 3] = [1, 100, 10_000];

/// How many distinct owners a hit benchmark cycles through (a power of two).
const HIT_SET: usize = 64;

/// Short runs: the whole suite takes about a minute.
fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

/// A server where owner `i` owns key `i`; the owners are returned to keep them alive.
fn server_with_owners(owners: usize) -> (Ownership<u64, ()>, Vec<Actor>) {
    let server = Ownership::new();
    let actors: Vec<Actor> = (0..owners).map(|_| Actor::new()).collect();
    for (key, actor) in (0_u64..).zip(&actors) {
        server
            .get_and_update(actor.id(), key, |_| ((), ()))
            .expect("a live actor can own a new key");
    }
    (server, actors)
}

fn fetch_owner(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_owner");
    for size in SIZES {
        let (server, actors) = server_with_owners(size);

        // Up to HIT_SET owners spread evenly over the server, each with its own key,
        // repeated to fill HIT_SET entries so the index can be masked.
        let stride = (size / HIT_SET).max(1);
        let picked: Vec<([ActorId; 1], u64)> = (0..size)
            .step_by(stride)
            .take(HIT_SET)
            .map(|index| ([actors[index].id()], index as u64))
            .collect();
        let hits: Vec<([ActorId; 1], u64)> = picked.iter().copied().cycle().take(HIT_SET).collect();
        group.bench_with_input(BenchmarkId::new("hit", size), &hits, |b, hits| {
            let mut next = 0_usize;
            b.iter(|| {
                let (chain, key) = &hits[next & (HIT_SET - 1)];
                next = next.wrapping_add(1);
                let found = server.fetch_owner(black_box(chain), black_box(key));
                debug_assert!(found.is_some());
                found
            });
        });

        let stranger = Actor::new();
        let chain = [stranger.id()];
        let key = (size / 2) as u64;
        group.bench_with_input(BenchmarkId::new("miss", size), &key, |b, key| {
            b.iter(|| {
                let found = server.fetch_owner(black_box(&chain), black_box(key));
                debug_assert!(found.is_none());
                found
            });
        });
        drop(stranger);
        drop(actors);
    }
    group.finish();
}

fn callers_chain(c: &mut Criterion) {
    let test = Actor::named("bench::test");
    let worker = Actor::named("bench::worker");
    let chain = test.chain();
    let _thread_chain = chain.enter();
    let _worker = worker.enter();
    assert_eq!(&callers()[..], &[worker.id(), test.id()]);
    c.bench_function("callers", |b| b.iter(|| black_box(callers())));
}

fn allow(c: &mut Criterion) {
    let mut group = c.benchmark_group("allow");
    let server: Ownership<u64, ()> = Ownership::new();
    let owner = Actor::new();
    let key = 7_u64;
    server
        .get_and_update(owner.id(), key, |_| ((), ()))
        .expect("a live actor can own a new key");

    group.bench_function("new_actor", |b| {
        b.iter_batched(
            Actor::new,
            |target| {
                server
                    .allow(owner.id(), black_box(target.id()), black_box(key))
                    .expect("a live actor can be allowed");
                // Returned so that its drop (which removes the allowance) is not timed.
                target
            },
            BatchSize::SmallInput,
        );
    });

    let target = Actor::new();
    server
        .allow(owner.id(), target.id(), key)
        .expect("a live actor can be allowed");
    group.bench_function("idempotent", |b| {
        b.iter(|| {
            server
                .allow(owner.id(), black_box(target.id()), black_box(key))
                .expect("allowing again is a no-op");
        });
    });
    group.finish();
}

fn get_and_update(c: &mut Criterion) {
    let server: Ownership<u64, u64> = Ownership::new();
    let owner = Actor::new();
    let key = 3_u64;
    server
        .get_and_update(owner.id(), key, |_| ((), 0))
        .expect("a live actor can own a new key");
    c.bench_function("get_and_update", |b| {
        b.iter(|| {
            server
                .get_and_update(owner.id(), black_box(key), |old| {
                    let new = old.copied().unwrap_or(0) + 1;
                    (new, new)
                })
                .expect("the owner updates its own key")
        });
    });
}

fn fetch_owner_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_owner_threads");
    let server: Ownership<u64, ()> = Ownership::new();
    // One owner and key per thread; consecutive actor numbers fall in different shards.
    let owners: Vec<Actor> = (0..2).map(|_| Actor::new()).collect();
    for (key, owner) in (0_u64..).zip(&owners) {
        server
            .get_and_update(owner.id(), key, |_| ((), ()))
            .expect("a live actor can own a new key");
    }
    let lookups: Vec<([ActorId; 1], u64)> = (0_u64..)
        .zip(&owners)
        .map(|(key, owner)| ([owner.id()], key))
        .collect();

    for threads in [1_usize, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::from_parameter(threads), |b| {
            b.iter_custom(|iters| {
                let barrier = Arc::new(Barrier::new(threads));
                let handles: Vec<_> = lookups[..threads]
                    .iter()
                    .map(|&(chain, key)| {
                        let server = server.clone();
                        let barrier = Arc::clone(&barrier);
                        std::thread::spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            for _ in 0..iters {
                                black_box(server.fetch_owner(black_box(&chain), black_box(&key)));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a lookup thread panicked"))
                    .max()
                    .unwrap_or_default()
            });
        });
    }
    group.finish();
    drop(owners);
}

fn http_request(c: &mut Criterion) {
    use ownership_runtime::http::{OwnershipClientLayer, OwnershipLayer};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let app = service_fn(|_: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    let layered = ServiceBuilder::new()
        .layer(OwnershipLayer::new())
        .service(app);
    let client = ServiceBuilder::new()
        .layer(OwnershipClientLayer::new())
        .service(layered.clone());
    let test = Actor::named("bench::http");
    let mut group = c.benchmark_group("http_request");
    group.bench_function("bare", |b| {
        b.iter(|| runtime.block_on(app.oneshot(http::Request::new(()))))
    });
    group.bench_function("layer_no_token", |b| {
        b.iter(|| runtime.block_on(layered.clone().oneshot(http::Request::new(()))))
    });
    group.bench_function("layer_with_token", |b| {
        b.iter(|| runtime.block_on(test.scope(client.clone().oneshot(http::Request::new(())))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = configure();
    targets = fetch_owner, callers_chain, allow, get_and_update, fetch_owner_threads, http_request
}
criterion_main!(benches);
