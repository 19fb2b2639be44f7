use ownership_runtime::owned_test;

#[owned_test(flavor = "multi_thread", worker_threads = 0)]
async fn places_an_order() {}

fn main() {}
