// A malformed value still counts as given: both errors come in one run.
use ownership_runtime::owned_test;

#[owned_test(flavor = "single_thread", flavor = "multi_thread")]
async fn places_an_order() {}

fn main() {}
