use ownership_runtime::owned_test;

#[owned_test]
fn places_an_order(pool: u32) {}

fn main() {}
