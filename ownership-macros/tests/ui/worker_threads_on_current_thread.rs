use ownership_runtime::owned_test;

#[owned_test(flavor = "current_thread", worker_threads = 2)]
async fn places_an_order() {}

fn main() {}
