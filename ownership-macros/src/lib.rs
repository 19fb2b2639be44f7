//! The `#[owned_test]` attribute. Use it through `ownership-runtime`, which re-exports it
//! (`use ownership_runtime::owned_test;`) and holds the harness it expands to.
//!
//! The macro only parses and checks; everything that runs lives in
//! `ownership_runtime::harness`, where it can be tested.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod config;
mod expand;

use proc_macro::TokenStream;

/// Marks a test whose resources are owned: it runs as an actor named after it, on a
/// fresh tokio runtime whose tasks and threads run for it, and everything it owned is
/// released (and verified by adapters) when it ends.
///
/// ```ignore
/// use ownership_runtime::owned_test;
///
/// #[owned_test]
/// async fn places_an_order() { /* tokio::spawn inside sees this test's resources */ }
///
/// #[owned_test(shared)]
/// async fn talks_to_a_global_worker() { /* every actor sees this test's resources */ }
///
/// #[owned_test(flavor = "multi_thread", worker_threads = 2, timeout = "30s")]
/// async fn heavy() -> Result<(), String> { Ok(()) }
///
/// #[owned_test]
/// fn sync_body() { /* threads from ownership_runtime::thread::spawn see its resources */ }
///
/// #[owned_test(leftover_tasks = "cancel")]
/// async fn serves() { /* a server spawned here and never stopped is cancelled at the end */ }
/// ```
///
/// Options: `shared` (or `shared = true/false`), `flavor = "current_thread"` (default) or
/// `"multi_thread"`, `worker_threads = N` (multi_thread only), `start_paused = true/false`
/// (current_thread only), `timeout = "500ms" | "30s" | "2m" | "1h"`, `sandbox = DB` or
/// `sandbox = [DB, OTHER]` (statics implementing `ownership_runtime::harness::TestResource`,
/// such as a `sandbox_sqlx::Sandbox`: prepared for the test before its body),
/// `leftover_tasks = "fail"` (default) or `"cancel"` and `leftover_grace = "0ms" | "5s" | ..`
/// (shorter than `timeout`).
///
/// Tasks (and `spawn_blocking` closures) still running after the body fail the test once
/// they are still running after its grace: the harness waits up to `leftover_grace` of
/// real time for them (one second by default, also under `start_paused`; never past the
/// timeout), and goes on as soon as none is left, so a passing test never waits. With
/// `leftover_tasks = "cancel"`, for a test that starts a server or a poller and never stops
/// it, they are cancelled as in `#[tokio::test]` (with no wait unless `leftover_grace` is
/// given) and a note on standard error names the test and how many were cancelled.
#[proc_macro_attribute]
pub fn owned_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::owned_test(args.into(), item.into()).into()
}
