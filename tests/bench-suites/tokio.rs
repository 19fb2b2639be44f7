//! 1,000 empty `#[tokio::test]`s: the baseline of the `harness_overhead` benchmark.
include!("suite.rs");
thousand_tests!(tokio::test);
