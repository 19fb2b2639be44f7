use ownership_runtime::owned_test;

#[owned_test(crate = ownership_runtime)]
async fn places_an_order() {}

#[owned_test(crate)]
async fn checks_the_stock() {}

fn main() {}
