use ownership_runtime::owned_test;

#[owned_test(flavor = "multi_thread", flavor = "current_thread")]
async fn places_an_order() {}

fn main() {}
