use ownership_runtime::owned_test;

#[owned_test(flavor = "multi_thread", start_paused = true)]
async fn places_an_order() {}

fn main() {}
