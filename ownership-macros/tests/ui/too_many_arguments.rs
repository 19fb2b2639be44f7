use ownership_runtime::owned_test;

#[owned_test]
async fn places_an_order(pool: u32, options: u32, more: u32) {}

fn main() {}
