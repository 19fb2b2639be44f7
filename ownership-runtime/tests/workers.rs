//! `Worker`: a long-lived actor in one call (its thread, its runtime, every task of it
//! running as it), stopped, joined or dropped; and `allow_all`, which allows an actor on
//! everything the calling test owns, through each registered resource's `allow`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ownership_runtime::harness::{
    AllowAllError, Failure, TestConfig, TestResource, register_resource, run_async,
};
use ownership_runtime::{ActorId, Ownership, Worker, WorkerError, allow_all, callers};
use tokio::sync::{mpsc, oneshot};

#[test]
fn every_task_of_a_worker_runs_as_the_worker_and_not_for_the_test_that_started_it() {
    run_async(TestConfig::new("workers::chains"), || async {
        let (requests, mut inbox) = mpsc::unbounded_channel::<oneshot::Sender<Vec<ActorId>>>();
        let worker = Worker::start("workers::chains_worker", async move {
            while let Some(reply) = inbox.recv().await {
                let seen = tokio::spawn(async { callers().to_vec() }).await.unwrap();
                let _ = reply.send(seen);
            }
        })
        .unwrap();
        let (reply, answer) = oneshot::channel();
        requests.send(reply).unwrap();
        assert_eq!(answer.await.unwrap(), vec![worker.id()]);
        worker.stop().unwrap();
    });
}

#[test]
fn stopping_or_dropping_a_worker_ends_its_actor_and_cancels_its_tasks() {
    let (cancelled, was_cancelled) = std::sync::mpsc::channel::<()>();
    struct OnDrop(std::sync::mpsc::Sender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (started, has_started) = oneshot::channel::<()>();
    let guard = OnDrop(cancelled);
    let worker = Worker::start("workers::stopped", async move {
        tokio::spawn(async move {
            let _guard = guard;
            let _ = started.send(());
            std::future::pending::<()>().await;
        });
        std::future::pending::<()>().await;
    })
    .unwrap();
    // The worker's task runs (and holds the guard) before the worker is stopped.
    has_started.blocking_recv().unwrap();
    let id = worker.id();
    assert!(id.is_alive());
    worker.stop().unwrap();
    assert!(!id.is_alive());
    was_cancelled.recv_timeout(Duration::from_secs(5)).unwrap();

    let dropped = Worker::start("workers::dropped", std::future::pending()).unwrap();
    let id = dropped.id();
    drop(dropped);
    assert!(!id.is_alive());
}

#[test]
fn a_worker_that_panics_says_so_when_joined() {
    let worker = Worker::start("workers::panics", async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        panic!("the queue is gone");
    })
    .unwrap();
    let id = worker.id();
    let error = worker.join().unwrap_err();
    assert!(
        matches!(&error, WorkerError::Panicked { worker, message }
            if worker == "workers::panics" && message == "the queue is gone"),
        "{error}"
    );
    assert!(!id.is_alive());
}

/// A resource of the test's own: one flag per owner, and a switch that makes it refuse.
struct Flags {
    owners: Ownership<(), bool>,
    refuse: Mutex<bool>,
}

impl TestResource for Flags {
    fn name(&self) -> String {
        "feature flags".to_owned()
    }

    fn allow(&self, owner: ActorId, actor: ActorId) -> Result<(), Failure> {
        if *self.refuse.lock().unwrap() {
            return Err(Failure::new("the flags are frozen"));
        }
        if self.owners.fetch_owner(&[owner], &()).is_none() {
            return Ok(());
        }
        self.owners
            .allow(owner, actor, ())
            .map_err(Failure::from_error)
    }
}

#[test]
fn allow_all_allows_a_worker_on_every_registered_resource_and_names_those_that_refuse() {
    let flags = Arc::new(Flags {
        owners: Ownership::new(),
        refuse: Mutex::new(false),
    });
    let registered: Arc<dyn TestResource> = flags.clone();
    register_resource(Arc::downgrade(&registered));
    let in_test = flags.clone();
    run_async(TestConfig::new("workers::allow_all"), move || async move {
        let flags = in_test;
        let test = callers()[0];
        flags
            .owners
            .get_and_update(test, (), |_| ((), true))
            .unwrap();
        let worker = Worker::start("workers::allowed", std::future::pending()).unwrap();
        allow_all(worker.id()).unwrap();
        assert_eq!(
            flags
                .owners
                .fetch_owner(&[worker.id()], &())
                .map(|found| found.id()),
            Some(test)
        );

        *flags.refuse.lock().unwrap() = true;
        let other = Worker::start("workers::refused", std::future::pending()).unwrap();
        let error = allow_all(other.id()).unwrap_err();
        let AllowAllError::Refused { refusals, .. } = &error else {
            panic!("expected Refused, got {error:?}");
        };
        assert_eq!(refusals.iter().count(), 1);
        let message = error.to_string();
        assert!(
            message.contains("1 resource refused:\n  - feature flags: the flags are frozen"),
            "{message}"
        );
        assert!(message.contains("(workers::refused)"), "{message}");
    });
    drop(registered);
}
