//! 1,000 empty `#[tokio::test]`s: the baseline of the `harness_overhead` benchmark.
include!("suite.rs");
macro_rules! one_test {
    ($name:ident) => {
        #[tokio::test]
        async fn $name() {}
    };
}
thousand_tests!(one_test);
