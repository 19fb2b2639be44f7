//! 1,000 empty `#[owned_test]`s: the workload of the `harness_overhead` benchmark.
include!("suite.rs");
use ownership_runtime::owned_test;
macro_rules! one_test {
    ($name:ident) => {
        #[owned_test]
        async fn $name() {}
    };
}
thousand_tests!(one_test);
