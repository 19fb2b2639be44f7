//! An order service, small but real, to show how an app is tested with this workspace.
//!
//! Customers place orders for products in the catalogue. Placing an order
//! ([`OrderService::place_order`]) reserves stock and writes the order and its lines in
//! one transaction, charges the customer through a payment gateway, and commits only if
//! the charge went through; a background task then mails the confirmation.
//!
//! The app's outside world sits behind three traits, each reached through a global
//! [`Facade`](mockall_bridge::Facade) that app code calls like a trait object:
//!
//! - [`payments::GATEWAY`]: the payment gateway ([`PaymentGateway`]);
//! - [`mailer::MAILER`]: the confirmation mailer ([`Mailer`]);
//! - [`clock::CLOCK`]: the wall clock that stamps orders ([`Clock`]).
//!
//! Production sets each facade's default implementation at start-up; the built-in
//! defaults of the gateway and the mailer refuse to work ("not configured"), so nothing
//! ever reaches a real service by accident. Tests install a mock per test instead.
//!
//! The database is a [`SandboxPool`](sandbox_sqlx::SandboxPool): a plain SQLite pool in
//! production, the test's own database under `#[owned_test(sandbox = DB)]`.
//!
//! ```no_run
//! use orders_app::{LineItem, MIGRATOR, OrderService};
//! use sandbox_sqlx::SandboxPool;
//! use sqlx::SqlitePool;
//!
//! # async fn production() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = SqlitePool::connect("sqlite://orders.db?mode=rwc").await?;
//! MIGRATOR.run(&pool).await?;
//! // At start-up, before the first order:
//! // orders_app::payments::GATEWAY.set_default(Box::new(MyPaymentProvider::new(..)))?;
//! // orders_app::mailer::MAILER.set_default(Box::new(MySmtpMailer::new(..)))?;
//! let service = OrderService::new(SandboxPool::from(pool));
//! let ada = service.add_customer("Ada", "ada@example.com").await?;
//! let order = service
//!     .place_order(ada, &[LineItem::new("TEA-01", 2)])
//!     .await?;
//! println!("order {} charged as {:?}", order.id, order.charge_id);
//! service.flush_confirmations().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod clock;
mod error;
pub mod mailer;
mod orders;
pub mod payments;

pub use clock::Clock;
pub use error::OrderError;
pub use mailer::{Confirmation, Mailer, NotifyError};
pub use orders::{
    CustomerId, LineItem, Order, OrderId, OrderLine, OrderService, OrderStatus, Product,
};
pub use payments::{Charge, ChargeRequest, PAYMENT_TIMEOUT, PaymentError, PaymentGateway};

/// The app's database migrations (`migrations/`), for production start-up and for the
/// test sandbox's template database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
