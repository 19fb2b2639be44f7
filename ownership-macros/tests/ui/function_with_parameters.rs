use ownership_runtime::owned_test;

#[owned_test]
async fn places_an_order(quantity: u32) {}

fn main() {}
