//! 1,000 empty `#[owned_test]`s: the workload of the `harness_overhead` benchmark.
include!("suite.rs");
use ownership_runtime::owned_test;
thousand_tests!(owned_test);
