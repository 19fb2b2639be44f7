//! Receipts and the audit log.
//!
//! [`render`] lays a receipt out as text: plain CPU work, which the web handler runs on
//! tokio's blocking pool (`ownership_runtime::spawn_blocking`) while a task of its own
//! (`ownership_runtime::spawn`) writes the audit entry ([`Shop::record`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::ShopError;
use crate::on_backend;
use crate::orders::{Order, OrderId, Shop};

/// A receipt, laid out (see [`render`]).
///
/// ```
/// use shop::receipts::Receipt;
///
/// let receipt = Receipt { order: shop::OrderId(1), issued_at: 0, text: "Receipt".into() };
/// assert_eq!(receipt.order, shop::OrderId(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The order it is for.
    pub order: OrderId,
    /// When it was issued (seconds since the Unix epoch, from [`clock::CLOCK`]).
    pub issued_at: i64,
    /// The receipt's text.
    pub text: String,
}

/// Lays out the receipt of `order`, issued now (by [`clock::CLOCK`]).
///
/// ```
/// use shop::orders::{Order, OrderId, OrderLine, OrderStatus};
///
/// let order = Order {
///     id: OrderId(12),
///     customer_email: "ada@example.com".into(),
///     status: OrderStatus::Paid,
///     total_cents: 2_500,
///     created_at: 1_767_268_800,
///     payment_id: Some("ch_12".into()),
///     settled_at: None,
///     lines: vec![OrderLine { sku: "TEA".into(), quantity: 2, unit_price_cents: 1_250 }],
/// };
/// let receipt = shop::receipts::render(&order);
/// assert!(receipt.text.contains("Receipt for order 12"));
/// assert!(receipt.text.contains("2 x TEA @ 12.50 = 25.00"));
/// assert!(receipt.text.ends_with("Total 25.00 (paid, ch_12)\n"));
/// ```
pub fn render(order: &Order) -> Receipt {
    let issued_at = clock::now_unix();
    let mut text = format!(
        "Receipt for order {}\nCustomer {}\nIssued at {issued_at}\n",
        order.id, order.customer_email
    );
    for line in &order.lines {
        let line_total = line.unit_price_cents.saturating_mul(line.quantity);
        // Writing to a String can't fail.
        let _ = writeln!(
            text,
            "{} x {} @ {} = {}",
            line.quantity,
            line.sku,
            money(line.unit_price_cents),
            money(line_total)
        );
    }
    let payment = order.payment_id.as_deref().unwrap_or("unpaid");
    let _ = writeln!(
        text,
        "Total {} ({}, {payment})",
        money(order.total_cents),
        order.status
    );
    Receipt {
        order: order.id,
        issued_at,
        text,
    }
}

/// Cents as `units.cents`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// An entry of the audit log.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// # shop::payments::GATEWAY.set_default(Box::new(shop::payments::DemoGateway))?;
/// # shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
/// # let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 1)]);
/// # let placed = shop.place_order(&order).await?;
/// let entry: shop::receipts::AuditEntry = shop.record(placed.id, "refund asked").await?;
/// assert_eq!((entry.order_id, entry.event.as_str()), (placed.id, "refund asked"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Its id.
    pub id: i64,
    /// The order it is about.
    pub order_id: OrderId,
    /// What happened.
    pub event: String,
    /// When (seconds since the Unix epoch, from [`clock::CLOCK`]).
    pub at: i64,
}

impl Shop {
    /// Writes `event` about `order` to the audit log, stamped now.
    ///
    /// # Errors
    ///
    /// The database's (no such order, say).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// # shop::payments::GATEWAY.set_default(Box::new(shop::payments::DemoGateway))?;
    /// # shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
    /// # let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 1)]);
    /// # let placed = shop.place_order(&order).await?;
    /// let entry = shop.record(placed.id, "receipt issued").await?;
    /// assert_eq!(entry.event, "receipt issued");
    /// // An order that isn't there: refused by the database.
    /// assert!(shop.record(shop::OrderId(999), "receipt issued").await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn record(&self, order: OrderId, event: &str) -> Result<AuditEntry, ShopError> {
        let sql = "INSERT INTO audit_log (order_id, event, at) VALUES ($1, $2, $3) RETURNING id, order_id, event, at";
        let at = clock::now_unix();
        Ok(on_backend!(self.db(), |pool| sqlx::query_as(sql)
            .bind(order)
            .bind(event)
            .bind(at)
            .fetch_one(pool)
            .await?))
    }

    /// The audit log of `order`, oldest first.
    ///
    /// # Errors
    ///
    /// The database's.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// # shop::payments::GATEWAY.set_default(Box::new(shop::payments::DemoGateway))?;
    /// # shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
    /// # let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 1)]);
    /// # let placed = shop.place_order(&order).await?;
    /// shop.record(placed.id, "receipt issued").await?;
    /// shop.record(placed.id, "receipt issued again").await?;
    /// let events: Vec<String> = shop.audit_log(placed.id).await?.into_iter().map(|e| e.event).collect();
    /// assert_eq!(events, ["receipt issued", "receipt issued again"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn audit_log(&self, order: OrderId) -> Result<Vec<AuditEntry>, ShopError> {
        let sql = "SELECT id, order_id, event, at FROM audit_log WHERE order_id = $1 ORDER BY id";
        Ok(on_backend!(self.db(), |pool| sqlx::query_as(sql)
            .bind(order)
            .fetch_all(pool)
            .await?))
    }
}
