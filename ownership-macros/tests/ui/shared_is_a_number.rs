use ownership_runtime::owned_test;

#[owned_test(shared = 3)]
async fn places_an_order() {}

fn main() {}
