//! A small web shop, written as a Rust team would write one (axum 0.8, sqlx 0.9), to show
//! how such a service is tested with per-test ownership.
//!
//! Customers order products from the catalogue. Placing an order ([`Shop::place_order`])
//! reserves the stock and writes the order in one transaction, then charges the customer
//! through the payment gateway: the order is `paid` on success. A background worker
//! ([`settlement`]), started once per process, settles paid orders (`settled`, stamped by
//! the clock). The HTTP API ([`web`]) serves a page with an order form ([`page`]) and a
//! handler that starts work in the background ([`receipts`]).
//!
//! The shop's outside world is behind two [`Facade`](mockall_bridge::Facade)s, which
//! tests replace with their own mocks, one test at a time:
//!
//! - [`payments::GATEWAY`]: the payment gateway ([`PaymentGateway`]); its default refuses
//!   to charge until production configures the real one;
//! - [`clock::CLOCK`]: the wall clock ([`Clock`]).
//!
//! The database ([`db::Db`]) is SQLite by default and PostgreSQL when `DATABASE_URL`
//! says so, chosen at run time: one enum over the two backends'
//! [`SandboxPool`](sandbox_sqlx::SandboxPool)s, and SQL that both run. Under test, each
//! test's queries go to its own sandbox.
//!
//! ```no_run
//! use shop::db::Db;
//! use shop::{LineItem, NewProduct, PlaceOrder, Shop};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Db::from_env().await?; // DATABASE_URL, or sqlite://shop.db
//! db.migrate().await?;
//! // At start-up: shop::payments::GATEWAY.set_default(Box::new(MyProvider::new(..)))?;
//! let shop = Shop::new(db);
//! shop.add_product(&NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
//! let order = shop
//!     .place_order(&PlaceOrder::new("ada@example.com", [LineItem::new("TEA", 2)]))
//!     .await?;
//! println!("order {} {}", order.id, order.status);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, shop::web::router(shop)).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod clock;
pub mod db;
mod error;
pub mod orders;
pub mod page;
pub mod payments;
pub mod receipts;
pub mod settlement;
pub mod web;

pub use clock::Clock;
pub use error::ShopError;
pub use orders::{
    LineItem, NewProduct, Order, OrderId, OrderLine, OrderStatus, PlaceOrder, Product, ProductId,
    Shop,
};
pub use payments::{ChargeRequest, Payment, PaymentError, PaymentGateway};
