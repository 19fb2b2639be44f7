use ownership_runtime::owned_test;

#[owned_test(leftover_grace = "2 seconds")]
async fn flushes() {}

fn main() {}
