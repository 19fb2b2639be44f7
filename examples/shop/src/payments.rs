//! The payment gateway: an outside service, reached through the [`GATEWAY`] facade.
//!
//! Its default, [`Unconfigured`], refuses every charge, so that nothing (a test that
//! forgot its mock, say) reaches a real provider by accident. Production sets the real
//! gateway at start-up with `GATEWAY.set_default(..)`; the shop's binary offers
//! [`DemoGateway`] for running it locally.

use std::time::Duration;

use async_trait::async_trait;
use mockall_bridge::facade;

use crate::orders::OrderId;

/// How long the shop waits for the gateway to answer a charge before giving up.
///
/// ```
/// assert_eq!(shop::payments::PAYMENT_TIMEOUT.as_secs(), 10);
/// ```
pub const PAYMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gateway is asked to charge.
///
/// ```
/// use shop::{ChargeRequest, OrderId};
///
/// let request = ChargeRequest {
///     order: OrderId(12),
///     customer_email: "ada@example.com".into(),
///     amount_cents: 2_500,
///     idempotency_key: "order-12".into(),
/// };
/// assert_eq!(request.amount_cents, 2_500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The order being paid.
    pub order: OrderId,
    /// Who pays.
    pub customer_email: String,
    /// The amount, in cents.
    pub amount_cents: i64,
    /// Makes a retried charge of the same order a no-op at the gateway.
    pub idempotency_key: String,
}

/// A successful charge.
///
/// ```
/// let payment = shop::Payment { id: "ch_12".into() };
/// assert_eq!(payment.id, "ch_12");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The gateway's id of the payment.
    pub id: String,
}

/// Why a charge failed.
///
/// ```
/// use shop::PaymentError;
///
/// let declined = PaymentError::Declined { reason: "card expired".into() };
/// assert_eq!(declined.to_string(), "the payment was declined: card expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The gateway could not be reached, or failed.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
    /// No gateway was configured (the default of [`GATEWAY`]).
    #[error(
        "no payment gateway is configured: set one at start-up with \
         `shop::payments::GATEWAY.set_default(..)`"
    )]
    NotConfigured,
}

/// A payment provider.
///
/// ```
/// use async_trait::async_trait;
/// use shop::payments::{ChargeRequest, Payment, PaymentError, PaymentGateway};
///
/// struct Generous;
/// #[async_trait]
/// impl PaymentGateway for Generous {
///     async fn charge(&self, request: ChargeRequest) -> Result<Payment, PaymentError> {
///         Ok(Payment { id: format!("free_{}", request.order) })
///     }
/// }
/// ```
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Charges `request.amount_cents` to the customer.
    async fn charge(&self, request: ChargeRequest) -> Result<Payment, PaymentError>;
}

/// The default gateway: refuses every charge.
///
/// ```
/// use shop::orders::OrderId;
/// use shop::payments::{ChargeRequest, PaymentError, PaymentGateway, Unconfigured};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = ChargeRequest {
///     order: OrderId(1),
///     customer_email: "ada@example.com".into(),
///     amount_cents: 100,
///     idempotency_key: "order-1".into(),
/// };
/// assert_eq!(Unconfigured.charge(request).await, Err(PaymentError::NotConfigured));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

#[async_trait]
impl PaymentGateway for Unconfigured {
    async fn charge(&self, _request: ChargeRequest) -> Result<Payment, PaymentError> {
        Err(PaymentError::NotConfigured)
    }
}

/// A gateway that accepts every charge without charging anyone: for running the shop on
/// a laptop (`SHOP_DEMO_PAYMENTS=1`).
///
/// ```
/// use shop::orders::OrderId;
/// use shop::payments::{ChargeRequest, DemoGateway, PaymentGateway};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = ChargeRequest {
///     order: OrderId(7),
///     customer_email: "ada@example.com".into(),
///     amount_cents: 100,
///     idempotency_key: "order-7".into(),
/// };
/// assert_eq!(DemoGateway.charge(request).await.unwrap().id, "demo_7");
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoGateway;

#[async_trait]
impl PaymentGateway for DemoGateway {
    async fn charge(&self, request: ChargeRequest) -> Result<Payment, PaymentError> {
        Ok(Payment {
            id: format!("demo_{}", request.order),
        })
    }
}

facade!(
    /// The gateway the shop charges through.
    ///
    /// ```
    /// assert!(shop::payments::GATEWAY.name().ends_with("payments::GATEWAY"));
    /// ```
    pub static GATEWAY: dyn PaymentGateway = Unconfigured
);

/// Charges through [`GATEWAY`], giving up after [`PAYMENT_TIMEOUT`].
pub(crate) async fn charge(request: ChargeRequest) -> Result<Payment, PaymentError> {
    tokio::time::timeout(PAYMENT_TIMEOUT, async {
        GATEWAY.get().charge(request).await
    })
    .await
    .map_err(|_elapsed| PaymentError::TimedOut(PAYMENT_TIMEOUT))?
}
