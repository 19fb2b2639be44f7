// `#[owned_test]` expands to this call inside a `#[test]` function, which trybuild (a
// non-test build) would not compile: so the diagnostic is checked on the call itself.
use ownership_runtime::harness::{TestConfig, run_async};

async fn places_an_order() -> u32 {
    42
}

fn main() {
    run_async(TestConfig::new("ui::places_an_order"), places_an_order);
}
