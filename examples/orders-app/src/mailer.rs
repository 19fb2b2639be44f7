//! Order confirmations by mail, sent through the [`MAILER`] facade.

use std::future::{self, Future};
use std::pin::Pin;

use mockall_bridge::facade;

use crate::orders::OrderId;

/// The confirmation of a paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The customer's address.
    pub to: String,
    /// The order confirmed.
    pub order: OrderId,
    /// What the customer was charged, in cents.
    pub total_cents: i64,
}

/// Why a confirmation could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The mail service refused the message.
    #[error("the mail was rejected: {0}")]
    Rejected(String),
    /// No mailer was configured (the default of [`MAILER`]).
    #[error("no mailer is configured")]
    NotConfigured,
}

/// What [`Mailer::send_confirmation`] returns.
pub type MailFuture = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send>>;

/// A mail service.
pub trait Mailer: Send + Sync {
    /// Sends `confirmation` to the customer.
    fn send_confirmation(&self, confirmation: Confirmation) -> MailFuture;
}

/// The default mailer: sends nothing, and says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

impl Mailer for Unconfigured {
    fn send_confirmation(&self, _confirmation: Confirmation) -> MailFuture {
        Box::pin(future::ready(Err(NotifyError::NotConfigured)))
    }
}

facade!(
    /// The mailer the app sends through.
    pub static MAILER: dyn Mailer = Unconfigured
);

/// Sends `confirmation` through [`MAILER`].
pub(crate) async fn send(confirmation: Confirmation) -> Result<(), NotifyError> {
    let pending = MAILER.get().send_confirmation(confirmation);
    pending.await
}
