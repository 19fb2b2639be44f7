//! `#[owned_test(crate = "..")]`: the expansion names ownership-runtime through the
//! given path, here `renamed_runtime`.
//!
//! Cargo refuses a package that depends on another twice under two names (this crate
//! already depends on `ownership-runtime` for its UI tests), so the rename is made with
//! `extern crate .. as ..`, which puts `renamed_runtime` in the extern prelude just as a
//! `renamed_runtime = { package = "ownership-runtime", .. }` dependency does. That the
//! expansion names nothing but the given path is checked on its tokens, in
//! `src/expand.rs`.

extern crate ownership_runtime as renamed_runtime;

use std::sync::Mutex;

use ownership_macros::owned_test;
use renamed_runtime::harness::{Failure, TestContext, TestResource};

/// Remembers the tests it was prepared for: a resource named through the renamed crate.
struct Prepared(Mutex<Vec<&'static str>>);

impl TestResource for Prepared {
    fn name(&self) -> String {
        "prepared".to_owned()
    }

    fn before_test(&self, test: &TestContext) -> Result<(), Failure> {
        self.0
            .lock()
            .map_err(|_| Failure::new("the list of prepared tests is poisoned"))?
            .push(test.name());
        Ok(())
    }
}

static PREPARED: Prepared = Prepared(Mutex::new(Vec::new()));

/// The name of the actor the running code works for first.
fn running_as() -> Option<&'static str> {
    renamed_runtime::callers()
        .first()
        .and_then(|actor| actor.name())
}

#[owned_test(
    crate = "renamed_runtime",
    sandbox = PREPARED,
    flavor = "multi_thread",
    worker_threads = 2,
    timeout = "30s",
    leftover_tasks = "cancel"
)]
async fn an_async_body_runs_as_the_test_with_its_options() {
    let name = "renamed_crate::an_async_body_runs_as_the_test_with_its_options";
    assert_eq!(running_as(), Some(name));
    let prepared = PREPARED.0.lock().is_ok_and(|tests| tests.contains(&name));
    assert!(prepared, "the sandbox was prepared for the test");
}

#[owned_test(crate = "renamed_runtime")]
fn a_sync_body_runs_as_the_test() {
    assert_eq!(
        running_as(),
        Some("renamed_crate::a_sync_body_runs_as_the_test")
    );
}

#[owned_test(crate = "renamed_runtime")]
#[should_panic(expected = "out of stock")]
async fn a_panicking_body_still_fails_the_test() {
    panic!("out of stock");
}

#[owned_test(crate = "renamed_runtime")]
#[should_panic(expected = "NoStock")]
fn an_err_body_still_fails_the_test() -> Result<(), Shortage> {
    Err(Shortage::NoStock)
}

#[derive(Debug)]
enum Shortage {
    NoStock,
}
