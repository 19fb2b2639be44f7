use ownership_runtime::owned_test;

#[owned_test(speed = 3)]
async fn places_an_order() {}

fn main() {}
