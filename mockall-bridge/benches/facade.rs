//! The cost of a call through a facade, against a direct call on the same implementation.
//!
//! Run with `cargo bench -p mockall-bridge --bench facade`. The implementation is a
//! mockall mock (`value()` returning a constant, no call limit) or, for the default
//! implementation, a plain struct.
//!
//! - `mock/direct`: `value()` on the very mock installed in the facade, borrowed once
//!   outside the loop (what a call costs with no facade).
//! - `mock/facade`: `FACADE.get().value()` on a thread that runs for the test that
//!   installed the mock (its chain entered as a test runtime's threads have it): callers,
//!   lookup, metadata, read lock, call, unlock. **Target: median <= direct + 150 ns.**
//! - `mock/facade_allowed`: the same from a worker actor the test allowed.
//! - `default/direct`: `value()` on the default implementation, directly.
//! - `default/never_installed`: `FACADE.get().value()` on a facade nobody ever installed
//!   into (production): the default, without looking at the callers.
//! - `default/others_installed`: the same on a facade where 100 other actors own mocks,
//!   from a thread that runs for nobody (a plain `#[test]` among owned tests).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mockall::automock;
use mockall_bridge::{Facade, installable};
use ownership_runtime::{Actor, Callers};

#[automock]
pub trait Source: Send + Sync {
    fn value(&self) -> u64;
}
installable!(dyn Source);

struct Real;
impl Source for Real {
    fn value(&self) -> u64 {
        7
    }
}

static MOCKED: Facade<dyn Source> = Facade::new("bench::MOCKED");
static NEVER_INSTALLED: Facade<dyn Source> =
    Facade::with_default("bench::NEVER_INSTALLED", || Box::new(Real));
static OTHERS_INSTALLED: Facade<dyn Source> =
    Facade::with_default("bench::OTHERS_INSTALLED", || Box::new(Real));

fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

fn mock_returning(value: u64) -> MockSource {
    let mut mock = MockSource::new();
    mock.expect_value().return_const(value);
    mock
}

fn mock(c: &mut Criterion) {
    let test = Actor::named("bench::test");
    // As on a test runtime's threads: the test's chain is the thread's chain.
    let _as_test = test.chain().enter();
    MOCKED
        .install(mock_returning(7))
        .expect("the bench thread runs for the test");
    let worker = Actor::named("bench::worker");
    MOCKED
        .allow(worker.id())
        .expect("the test owns the mock it allows");

    let mut group = c.benchmark_group("mock");
    {
        let same_mock = MOCKED.get();
        group.bench_function("direct", |b| b.iter(|| black_box(&*same_mock).value()));
    }
    group.bench_function("facade", |b| b.iter(|| black_box(&MOCKED).get().value()));
    {
        let _as_worker = Callers::from_iter([worker.id()]).enter();
        group.bench_function("facade_allowed", |b| {
            b.iter(|| black_box(&MOCKED).get().value())
        });
    }
    group.finish();
}

fn default(c: &mut Criterion) {
    // 100 other actors own mocks in OTHERS_INSTALLED.
    let others: Vec<Actor> = (0..100).map(|_| Actor::new()).collect();
    for other in &others {
        let _as_other = other.enter();
        OTHERS_INSTALLED
            .install(mock_returning(1))
            .expect("each actor installs once");
    }

    let mut group = c.benchmark_group("default");
    let real: Box<dyn Source> = Box::new(Real);
    group.bench_function("direct", |b| b.iter(|| black_box(&*real).value()));
    group.bench_function("never_installed", |b| {
        b.iter(|| black_box(&NEVER_INSTALLED).get().value())
    });
    group.bench_function("others_installed", |b| {
        b.iter(|| black_box(&OTHERS_INSTALLED).get().value())
    });
    group.finish();
    drop(others);
}

criterion_group! {
    name = benches;
    config = configure();
    targets = mock, default
}
criterion_main!(benches);
