use ownership_runtime::owned_test;

#[owned_test]
#[test]
async fn places_an_order() {}

fn main() {}
