// Errors in the options and in the function are reported together.
use ownership_runtime::owned_test;

#[owned_test(speed = 3, timeout = "soon", worker_threads = 2)]
async fn places_an_order(quantity: u32) {}

fn main() {}
