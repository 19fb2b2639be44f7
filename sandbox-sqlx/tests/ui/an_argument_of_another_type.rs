use ownership_runtime::owned_test;

#[owned_test]
async fn counts_orders(orders: u32) {
    assert_eq!(orders, 0);
}

fn main() {}
