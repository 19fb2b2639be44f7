//! The background runtime: one worker that drives every pool connection, blocking work
//! kept off it, and one typed error for work that could not run or finish there.

use std::sync::mpsc;
use std::time::Duration;

use ownership_runtime::background::{self, BackgroundError};

/// Blocking work waits here for a message that only a task on the worker can send: if
/// `run_blocking` ran its work on the worker, the task would never run, and the wait would
/// time out.
#[test]
fn blocking_work_leaves_the_worker_free() {
    let (sender, receiver) = mpsc::channel();
    let outcome = background::block_on(async move {
        let blocked =
            background::run_blocking(move || receiver.recv_timeout(Duration::from_secs(10)));
        let freed = background::run(async move { sender.send("from the worker") });
        let (blocked, freed) = tokio::join!(blocked, freed);
        freed.expect("the task ran").expect("sent");
        blocked.expect("the blocking work ran")
    })
    .expect("the background runtime runs");
    assert_eq!(outcome, Ok("from the worker"));
}

#[test]
fn a_panic_on_the_background_runtime_is_an_error_with_its_message() {
    let error = background::block_on(async {
        background::run(async { panic!("the loader broke: {}", 42) }).await
    })
    .expect("the outer task finished");
    let Err(BackgroundError::Panicked { message }) = error else {
        panic!("not a panic: {error:?}");
    };
    assert_eq!(message, "the loader broke: 42");

    let error = background::block_on(async {
        background::run_blocking(|| -> u8 { panic!("the copy broke") }).await
    })
    .expect("the outer task finished")
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a task on the background runtime panicked: the copy broke"
    );
}

#[test]
fn work_from_a_tests_runtime_runs_on_the_background_worker() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let thread = runtime
        .block_on(background::run(async {
            std::thread::current().name().map(str::to_owned)
        }))
        .expect("ran");
    assert_eq!(thread.as_deref(), Some("ownership-background"));
    // The test's runtime ends; what ran in the background is unaffected.
    drop(runtime);
    assert!(background::spawn_detached(async {}));
}
