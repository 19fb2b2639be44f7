//! What the tests of database arguments share: running a body with a `TestArgs`'s
//! arguments, as `#[owned_test]` expands a test.

use ownership_runtime::harness::{TestConfig, TestResource, run_async};
use sandbox_sqlx::{TestArgList, TestArgs};

/// Runs `body` with the arguments of `args`, as `#[owned_test]` does; `Err`: the
/// failure report.
pub fn run<A: TestArgList, F: Future<Output = ()>>(
    name: &'static str,
    args: &'static TestArgs<A>,
    body: impl FnOnce(A) -> F,
) -> Result<(), String>
where
    TestArgs<A>: TestResource,
{
    let resources: &'static [&'static dyn TestResource] =
        Box::leak(Box::new([args as &dyn TestResource]));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_async(TestConfig::new(name).resources(resources), || {
            body(args.take())
        });
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    })
}
