//! Long-lived workers: an actor that serves many tests sees the mock of the test that
//! allowed it (directly or lazily), and only while that test runs. Another test can't
//! take it over, and once the test ends the worker is back to having no mock.
//!
//! (Shared mode is in `shared.rs`: a shared test would switch these facades too, and the
//! workers here are not gated by the harness.)

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use mockall::automock;
use mockall_bridge::{CallError, Facade, FacadeError, installable};
use ownership_runtime::harness::{TestConfig, run_async};
use ownership_runtime::{Actor, ActorId, ToAllow, Worker, callers};

#[automock]
pub trait Source: Send + Sync {
    fn value(&self) -> u64;
}
installable!(dyn Source);

static SOURCE: Facade<dyn Source> = Facade::new("workers::SOURCE");
static LAZY_SOURCE: Facade<dyn Source> = Facade::new("workers::LAZY_SOURCE");

/// What a worker did for one request: the value, or the error's text.
type Reply = Result<u64, String>;

/// A request: the facade to call, and where to send the reply.
type Request = (&'static Facade<dyn Source>, mpsc::Sender<Reply>);

/// A long-lived worker, started in one call ([`Worker::start`]): a thread and a runtime of
/// its own, which no test started, running every request as the worker's own actor.
struct Billing {
    worker: Worker,
    requests: tokio::sync::mpsc::UnboundedSender<Request>,
}

impl Billing {
    fn start(name: &'static str) -> Billing {
        let (requests, mut inbox) = tokio::sync::mpsc::unbounded_channel::<Request>();
        let worker = Worker::start(name, async move {
            while let Some((facade, reply)) = inbox.recv().await {
                let value = facade
                    .try_get()
                    .map(|source| source.value())
                    .map_err(|error| error.to_string());
                let _ = reply.send(value);
            }
        })
        .unwrap();
        Billing { worker, requests }
    }

    fn id(&self) -> ActorId {
        self.worker.id()
    }

    /// Asks the worker to call `facade`, and waits for its reply (from a test's body too:
    /// the worker runs on its own thread).
    fn call(&self, facade: &'static Facade<dyn Source>) -> Reply {
        let (reply, answer) = mpsc::channel();
        self.requests.send((facade, reply)).unwrap();
        answer.recv().unwrap()
    }
}

fn mock_returning(value: u64) -> MockSource {
    let mut mock = MockSource::new();
    mock.expect_value().return_const(value);
    mock
}

#[test]
fn a_worker_allowed_by_one_test_sees_that_tests_mock_and_no_other() {
    let worker = Arc::new(Billing::start("workers::billing_worker"));
    // A and B run at the same time; they meet at two points.
    let allowed = Arc::new(Barrier::new(2));
    let checked = Arc::new(Barrier::new(2));
    let test_a: Arc<Mutex<Option<ActorId>>> = Arc::default();

    let a = {
        let (worker, allowed, checked, test_a) = (
            worker.clone(),
            allowed.clone(),
            checked.clone(),
            test_a.clone(),
        );
        thread::spawn(move || {
            run_async(TestConfig::new("workers::test_a"), move || async move {
                *test_a.lock().unwrap() = Some(callers()[0]);
                SOURCE.install(mock_returning(1)).unwrap();
                SOURCE.allow(worker.id()).unwrap();
                allowed.wait();
                assert_eq!(worker.call(&SOURCE), Ok(1));
                checked.wait();
            });
        })
    };
    let b = {
        let (worker, allowed, checked, test_a) = (
            worker.clone(),
            allowed.clone(),
            checked.clone(),
            test_a.clone(),
        );
        thread::spawn(move || {
            run_async(TestConfig::new("workers::test_b"), move || async move {
                SOURCE.install(mock_returning(2)).unwrap();
                allowed.wait();
                // B sees its own mock...
                assert_eq!(SOURCE.get().value(), 2);
                // ...and cannot take A's worker.
                let test_a = test_a.lock().unwrap().unwrap();
                match SOURCE.allow(worker.id()) {
                    Err(FacadeError::AlreadyAllowed { actor, owner, .. }) => {
                        assert_eq!((actor, owner), (worker.id(), test_a));
                    }
                    other => panic!("expected AlreadyAllowed, got {other:?}"),
                }
                checked.wait();
            });
        })
    };
    a.join().unwrap();
    b.join().unwrap();

    // Both tests have ended: the worker has no mock any more (and the facade no default).
    let error = worker.call(&SOURCE).unwrap_err();
    assert!(
        error.contains("facade `workers::SOURCE` has no mock for the call at"),
        "{error}"
    );
    assert!(error.contains("(workers::billing_worker)"), "{error}");
}

#[test]
fn a_lazy_allowance_reaches_a_worker_that_starts_after_the_test_allowed_it() {
    run_async(TestConfig::new("workers::lazy"), || async {
        LAZY_SOURCE.install(mock_returning(7)).unwrap();
        // The worker doesn't exist yet: allow "whoever the worker will be".
        let worker_id: Arc<Mutex<Option<ActorId>>> = Arc::default();
        let resolver_sees = worker_id.clone();
        LAZY_SOURCE
            .allow(ToAllow::lazy(move || *resolver_sees.lock().unwrap()))
            .unwrap();

        let worker = Billing::start("workers::late_worker");
        *worker_id.lock().unwrap() = Some(worker.id());
        assert_eq!(worker.call(&LAZY_SOURCE), Ok(7));
    });
}

#[test]
fn allowing_needs_an_installed_mock() {
    static NOTHING: Facade<dyn Source> = Facade::new("workers::NOTHING");
    run_async(TestConfig::new("workers::allow_first"), || async {
        let worker = Actor::named("workers::worker");
        let error = NOTHING.allow(worker.id()).unwrap_err();
        assert!(
            matches!(error, FacadeError::NothingInstalled { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("Install a mock first"),
            "{error}"
        );
    });
}

#[test]
fn an_allowed_actor_that_allows_another_ties_it_to_the_owner() {
    static CHAINED: Facade<dyn Source> = Facade::new("workers::CHAINED");
    run_async(TestConfig::new("workers::transitive"), || async {
        CHAINED.install(mock_returning(5)).unwrap();
        let pool = Actor::named("workers::pool");
        let connection = Actor::named("workers::connection");
        CHAINED.allow(pool.id()).unwrap();
        // The pool, running as itself on a thread of its own, allows a connection.
        let pool_id = pool.id();
        let connection_id = connection.id();
        thread::spawn(move || {
            let _as_pool = pool.enter();
            CHAINED.allow(connection_id).unwrap();
        })
        .join()
        .unwrap();
        assert!(!pool_id.is_alive(), "the pool has ended");
        // The connection still reaches the test's mock.
        let seen = thread::spawn(move || {
            let _as_connection = connection.enter();
            CHAINED.get().value()
        })
        .join()
        .unwrap();
        assert_eq!(seen, 5);
    });
    // Calling from nowhere after that test: no mock, no default.
    assert!(matches!(
        CHAINED.try_get().map(|_| ()),
        Err(CallError::NotOwned { .. })
    ));
}
