use ownership_runtime::owned_test;

#[owned_test(flavor = "single_thread")]
async fn places_an_order() {}

fn main() {}
