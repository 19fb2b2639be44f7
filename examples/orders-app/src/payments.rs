//! The payment gateway: an external service, reached through the [`GATEWAY`] facade.

use std::future::{self, Future};
use std::pin::Pin;
use std::time::Duration;

use mockall_bridge::facade;

use crate::orders::{CustomerId, OrderId};

/// How long the app waits for the gateway to answer a charge before giving up on it.
pub const PAYMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gateway is asked to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The order being paid.
    pub order: OrderId,
    /// The customer to charge.
    pub customer: CustomerId,
    /// The amount, in cents.
    pub amount_cents: i64,
    /// A key that makes a retried charge of the same order a no-op at the gateway.
    pub idempotency_key: String,
}

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The gateway's id of the charge.
    pub id: String,
}

/// Why a charge failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The customer's payment method was refused.
    #[error("the payment was declined: {reason}")]
    Declined {
        /// The gateway's reason.
        reason: String,
    },
    /// The gateway did not answer in time.
    #[error("the payment gateway did not answer within {0:?}")]
    TimedOut(Duration),
    /// The gateway could not be reached or failed.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
    /// No gateway was configured (the default of [`GATEWAY`]).
    #[error("no payment gateway is configured")]
    NotConfigured,
}

/// What [`PaymentGateway::charge`] returns: a future, so that the trait stays usable as a
/// trait object (`dyn PaymentGateway`) while the call does network I/O.
pub type ChargeFuture = Pin<Box<dyn Future<Output = Result<Charge, PaymentError>> + Send>>;

/// A payment provider.
pub trait PaymentGateway: Send + Sync {
    /// Charges `request.amount_cents` to the customer.
    fn charge(&self, request: ChargeRequest) -> ChargeFuture;
}

/// The default gateway: refuses every charge. Production sets the real one with
/// `GATEWAY.set_default(..)` at start-up; tests install a mock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

impl PaymentGateway for Unconfigured {
    fn charge(&self, _request: ChargeRequest) -> ChargeFuture {
        Box::pin(future::ready(Err(PaymentError::NotConfigured)))
    }
}

facade!(
    /// The gateway the app charges through.
    pub static GATEWAY: dyn PaymentGateway = Unconfigured
);

/// Charges through [`GATEWAY`], giving up after [`PAYMENT_TIMEOUT`].
pub(crate) async fn charge(request: ChargeRequest) -> Result<Charge, PaymentError> {
    // Take the call's future and let go of the facade's guard before waiting on it.
    let pending = GATEWAY.get().charge(request);
    tokio::time::timeout(PAYMENT_TIMEOUT, pending)
        .await
        .map_err(|_elapsed| PaymentError::TimedOut(PAYMENT_TIMEOUT))?
}
