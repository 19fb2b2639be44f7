//! The errors of the order service.

use crate::mailer::NotifyError;
use crate::orders::CustomerId;
use crate::payments::PaymentError;

/// Why an operation of the [`OrderService`](crate::OrderService) failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The order has no lines.
    #[error("an order needs at least one line")]
    Empty,
    /// A line asks for no items.
    #[error("the line for {sku} asks for no items")]
    ZeroQuantity {
        /// The line's product.
        sku: String,
    },
    /// The customer does not exist.
    #[error("there is no customer {0}")]
    UnknownCustomer(CustomerId),
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
    /// The order's total does not fit in the amounts the app handles.
    #[error("the order's total is too large")]
    TotalTooLarge,
    /// The charge failed: nothing was written.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// The confirmation could not be sent (the order stays paid).
    #[error("the confirmation was not sent: {0}")]
    Notify(#[from] NotifyError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A background task panicked or was cancelled.
    #[error("a background task failed: {0}")]
    Background(#[from] tokio::task::JoinError),
}
