//! Customers, products and orders, and the service that places orders.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use sandbox_sqlx::SandboxPool;
use sqlx::Sqlite;
use tokio::task::JoinHandle;

use crate::clock;
use crate::error::OrderError;
use crate::mailer::{self, Confirmation};
use crate::payments::{self, ChargeRequest};

/// A customer's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct CustomerId(pub i64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An order's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct OrderId(pub i64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Being placed (only ever seen inside the placing transaction).
    Pending,
    /// Charged and committed.
    Paid,
    /// Charged, and the customer was sent the confirmation.
    Confirmed,
}

/// A product of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its stock-keeping unit, the catalogue's key.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its unit price, in cents.
    pub price_cents: i64,
    /// How many are in stock.
    pub stock: i64,
}

/// One line of an order being placed: a product and how many of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

impl LineItem {
    /// `quantity` of the product `sku`.
    pub fn new(sku: impl Into<String>, quantity: u32) -> LineItem {
        LineItem {
            sku: sku.into(),
            quantity,
        }
    }
}

/// A line of a placed order, at the price it was sold at.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderLine {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: i64,
    /// The unit price when the order was placed, in cents.
    pub unit_price_cents: i64,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Who placed it.
    pub customer: CustomerId,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// What the customer was charged, in cents.
    pub total_cents: i64,
    /// The payment gateway's id of the charge.
    pub charge_id: Option<String>,
    /// When it was placed (seconds since the Unix epoch, from [`clock::CLOCK`]).
    pub placed_at: i64,
    /// When its confirmation was sent, if it was.
    pub confirmed_at: Option<i64>,
    /// Its lines, in the order they were given.
    #[sqlx(skip)]
    pub lines: Vec<OrderLine>,
}

/// A confirmation being sent in the background.
type ConfirmationTask = JoinHandle<Result<(), OrderError>>;

/// The order service. Cheap to clone: clones share the database handle and the
/// confirmations still being sent.
#[derive(Debug, Clone)]
pub struct OrderService {
    db: SandboxPool<Sqlite>,
    /// The confirmation tasks not yet awaited by [`OrderService::flush_confirmations`].
    confirmations: Arc<Mutex<Vec<ConfirmationTask>>>,
}

impl OrderService {
    /// A service on the database `db`.
    pub fn new(db: SandboxPool<Sqlite>) -> OrderService {
        OrderService {
            db,
            confirmations: Arc::default(),
        }
    }

    /// Registers a customer.
    ///
    /// # Errors
    ///
    /// The database's (an email address already registered, say).
    pub async fn add_customer(&self, name: &str, email: &str) -> Result<CustomerId, OrderError> {
        let id =
            sqlx::query_scalar("INSERT INTO customers (name, email) VALUES (?, ?) RETURNING id")
                .bind(name)
                .bind(email)
                .fetch_one(&self.db)
                .await?;
        Ok(id)
    }

    /// Adds a product to the catalogue.
    ///
    /// # Errors
    ///
    /// The database's (a SKU already in the catalogue, a negative price, ...).
    pub async fn add_product(&self, product: &Product) -> Result<(), OrderError> {
        sqlx::query("INSERT INTO products (sku, name, price_cents, stock) VALUES (?, ?, ?, ?)")
            .bind(&product.sku)
            .bind(&product.name)
            .bind(product.price_cents)
            .bind(product.stock)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// How many of `sku` are in stock, or `None` for a product not in the catalogue.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn stock(&self, sku: &str) -> Result<Option<i64>, OrderError> {
        let stock = sqlx::query_scalar("SELECT stock FROM products WHERE sku = ?")
            .bind(sku)
            .fetch_optional(&self.db)
            .await?;
        Ok(stock)
    }

    /// Places an order for `customer`: in one transaction, takes each line's items out of
    /// stock, writes the order and its lines, and charges the customer through
    /// [`payments::GATEWAY`]; only a successful charge commits. A background task then
    /// mails the confirmation (see [`OrderService::flush_confirmations`]).
    ///
    /// # Errors
    ///
    /// An empty order or line, an unknown customer or product, too little stock, a failed
    /// charge ([`OrderError::Payment`]), or the database's error. Nothing is written then.
    pub async fn place_order(
        &self,
        customer: CustomerId,
        items: &[LineItem],
    ) -> Result<Order, OrderError> {
        if items.is_empty() {
            return Err(OrderError::Empty);
        }
        if let Some(empty) = items.iter().find(|item| item.quantity == 0) {
            return Err(OrderError::ZeroQuantity {
                sku: empty.sku.clone(),
            });
        }
        // Every early return below drops `tx`, which rolls the whole order back.
        let mut tx = self.db.begin().await?;
        let email: String = sqlx::query_scalar("SELECT email FROM customers WHERE id = ?")
            .bind(customer)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(OrderError::UnknownCustomer(customer))?;
        let placed_at = clock::now_unix();
        let id: OrderId = sqlx::query_scalar(
            "INSERT INTO orders (customer_id, status, total_cents, placed_at) \
             VALUES (?, ?, 0, ?) RETURNING id",
        )
        .bind(customer)
        .bind(OrderStatus::Pending)
        .bind(placed_at)
        .fetch_one(&mut *tx)
        .await?;

        let mut lines = Vec::with_capacity(items.len());
        let mut total_cents: i64 = 0;
        for (line_no, item) in (1_i64..).zip(items) {
            let quantity = i64::from(item.quantity);
            let price: Option<i64> = sqlx::query_scalar(
                "UPDATE products SET stock = stock - ?1 WHERE sku = ?2 AND stock >= ?1 \
                 RETURNING price_cents",
            )
            .bind(quantity)
            .bind(&item.sku)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(unit_price_cents) = price else {
                let available: Option<i64> =
                    sqlx::query_scalar("SELECT stock FROM products WHERE sku = ?")
                        .bind(&item.sku)
                        .fetch_optional(&mut *tx)
                        .await?;
                return Err(match available {
                    None => OrderError::UnknownProduct(item.sku.clone()),
                    Some(available) => OrderError::OutOfStock {
                        sku: item.sku.clone(),
                        requested: item.quantity,
                        available,
                    },
                });
            };
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(line_no)
            .bind(&item.sku)
            .bind(quantity)
            .bind(unit_price_cents)
            .execute(&mut *tx)
            .await?;
            total_cents = unit_price_cents
                .checked_mul(quantity)
                .and_then(|line_total| total_cents.checked_add(line_total))
                .ok_or(OrderError::TotalTooLarge)?;
            lines.push(OrderLine {
                sku: item.sku.clone(),
                quantity,
                unit_price_cents,
            });
        }

        let charge = payments::charge(ChargeRequest {
            order: id,
            customer,
            amount_cents: total_cents,
            idempotency_key: format!("order-{}", id.0),
        })
        .await?;
        sqlx::query("UPDATE orders SET status = ?, total_cents = ?, charge_id = ? WHERE id = ?")
            .bind(OrderStatus::Paid)
            .bind(total_cents)
            .bind(&charge.id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;

        self.confirm_in_background(Confirmation {
            to: email,
            order: id,
            total_cents,
        });
        Ok(Order {
            id,
            customer,
            status: OrderStatus::Paid,
            total_cents,
            charge_id: Some(charge.id),
            placed_at,
            confirmed_at: None,
            lines,
        })
    }

    /// The order `id` with its lines, or `None` if there is none.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, OrderError> {
        let order: Option<Order> = sqlx::query_as(
            "SELECT id, customer_id AS customer, status, total_cents, charge_id, placed_at, \
             confirmed_at FROM orders WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        let Some(mut order) = order else {
            return Ok(None);
        };
        order.lines = sqlx::query_as(
            "SELECT sku, quantity, unit_price_cents FROM order_lines \
             WHERE order_id = ? ORDER BY line_no",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?;
        Ok(Some(order))
    }

    /// Waits for every confirmation being sent in the background (call it before shutting
    /// down), and returns how many were sent.
    ///
    /// # Errors
    ///
    /// The first failure among them, once all have ended: [`OrderError::Notify`] for a
    /// confirmation the mailer refused (its order stays [`OrderStatus::Paid`]).
    pub async fn flush_confirmations(&self) -> Result<usize, OrderError> {
        let pending = std::mem::take(
            &mut *self
                .confirmations
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut sent = 0;
        let mut first_failure = None;
        for task in pending {
            match task.await.map_err(OrderError::from).and_then(|sent| sent) {
                Ok(()) => sent += 1,
                Err(error) => {
                    first_failure.get_or_insert(error);
                }
            }
        }
        first_failure.map_or(Ok(sent), Err)
    }

    /// Sends `confirmation` from a task of its own, and marks the order confirmed.
    fn confirm_in_background(&self, confirmation: Confirmation) {
        let db = self.db.clone();
        let task = tokio::spawn(async move {
            let order = confirmation.order;
            mailer::send(confirmation).await?;
            sqlx::query("UPDATE orders SET status = ?, confirmed_at = ? WHERE id = ?")
                .bind(OrderStatus::Confirmed)
                .bind(clock::now_unix())
                .bind(order)
                .execute(&db)
                .await?;
            Ok(())
        });
        self.confirmations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }
}
