use ownership_runtime::owned_test;

#[owned_test(fixtures("users", "./seed/orders.sql"), migrations = "no/such/folder")]
async fn places_an_order(pool: u32) {}

fn main() {}
