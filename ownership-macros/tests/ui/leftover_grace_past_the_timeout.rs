use ownership_runtime::owned_test;

#[owned_test(timeout = "1s", leftover_grace = "5s")]
async fn flushes() {}

fn main() {}
