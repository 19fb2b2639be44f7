use ownership_runtime::owned_test;

#[owned_test]
async fn places_an_order<T: Default>() {}

fn main() {}
