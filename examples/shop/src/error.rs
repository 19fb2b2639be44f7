//! The errors of the shop's operations.

use crate::orders::OrderId;
use crate::payments::PaymentError;

/// Why an operation of the [`Shop`](crate::Shop) failed.
///
/// Messages say what went wrong; causes (the database's error, the gateway's) are only in
/// [`source()`](std::error::Error::source): print the whole chain with
/// [`ownership_runtime::error_chain`].
///
/// ```
/// use shop::ShopError;
///
/// let error = ShopError::OutOfStock { sku: "TEA".into(), requested: 3, available: 1 };
/// assert_eq!(error.to_string(), "only 1 of TEA in stock, 3 ordered");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopError {
    /// The order has no lines.
    #[error("an order needs at least one line")]
    EmptyOrder,
    /// A line asks for no items.
    #[error("the line for {sku} asks for no items")]
    ZeroQuantity {
        /// The line's product.
        sku: String,
    },
    /// The customer's address is not one.
    #[error("`{0}` is not an email address")]
    InvalidEmail(String),
    /// A product to add is not valid.
    #[error("invalid product: {0}")]
    InvalidProduct(&'static str),
    /// A product with this SKU is already in the catalogue.
    #[error("a product with SKU {0} is already in the catalogue")]
    DuplicateSku(String),
    /// A product is not in the catalogue.
    #[error("there is no product {0}")]
    UnknownProduct(String),
    /// Not enough of a product is in stock.
    #[error("only {available} of {sku} in stock, {requested} ordered")]
    OutOfStock {
        /// The product.
        sku: String,
        /// How many were ordered.
        requested: u32,
        /// How many are in stock.
        available: i64,
    },
    /// The order's total doesn't fit in the amounts the shop handles.
    #[error("the order's total is too large")]
    TotalTooLarge,
    /// There is no such order.
    #[error("there is no order {0}")]
    OrderNotFound(OrderId),
    /// The charge failed: the order is marked failed and its stock put back.
    #[error("the payment for order {order} failed")]
    PaymentFailed {
        /// The order, now `failed`.
        order: OrderId,
        /// The gateway's error.
        #[source]
        source: PaymentError,
    },
    /// The database failed.
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// Work started in the background panicked or was cancelled.
    #[error("background work failed")]
    Background(#[from] tokio::task::JoinError),
}

impl ShopError {
    /// Whether the error is the caller's (a bad request, a declined payment), not the
    /// shop's (its database, its background work).
    ///
    /// ```
    /// use shop::ShopError;
    ///
    /// assert!(ShopError::EmptyOrder.is_client_error());
    /// assert!(!ShopError::Database(sqlx::Error::PoolClosed).is_client_error());
    /// ```
    pub fn is_client_error(&self) -> bool {
        !matches!(self, ShopError::Database(_) | ShopError::Background(_))
    }
}
