use ownership_runtime::owned_test;

#[owned_test(timeout = "30 seconds")]
async fn places_an_order() {}

fn main() {}
