use ownership_runtime::owned_test;

#[owned_test(sandbox = "orders-db")]
async fn places_an_order() {}

fn main() {}
