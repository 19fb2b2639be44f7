use ownership_runtime::owned_test;

#[owned_test(leftover_tasks = "ignore")]
async fn serves() {}

fn main() {}
