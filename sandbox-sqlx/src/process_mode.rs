//! How the process runs tests: all of a binary's in one process (`cargo test`), or one
//! per process (nextest), which decides what is worth keeping between tests.

/// Whether this process runs a single test (nextest's process-per-test mode, told by
/// `NEXTEST_EXECUTION_MODE`): nothing it keeps for a next test will serve one.
pub(crate) fn process_per_test() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test")
}
