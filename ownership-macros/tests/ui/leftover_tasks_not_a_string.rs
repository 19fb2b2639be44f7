use ownership_runtime::owned_test;

#[owned_test(leftover_tasks = true)]
async fn serves() {}

fn main() {}
