use ownership_runtime::owned_test;

#[owned_test]
struct Order;

fn main() {}
