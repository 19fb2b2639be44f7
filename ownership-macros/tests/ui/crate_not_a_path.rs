use ownership_runtime::owned_test;

#[owned_test(crate = "ownership runtime")]
async fn places_an_order() {}

fn main() {}
