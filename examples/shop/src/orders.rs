//! The catalogue and the orders, and [`Shop`], the service that places them.
//!
//! Placing an order ([`Shop::place_order`]) takes its items out of stock and writes the
//! order (`pending`) and its lines in one transaction, then charges the customer through
//! [`payments::GATEWAY`], outside the transaction (no database
//! transaction waits on a network call). A successful charge makes the order `paid`; a
//! failed one makes it `failed` and puts its stock back, in a second transaction.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db::Db;
use crate::error::ShopError;
use crate::on_backend;
use crate::payments::{self, ChargeRequest};

/// A product's id.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// let tea = shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
/// let shop::ProductId(id) = tea.id;
/// assert!(id > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ProductId(pub i64);

/// An order's id.
///
/// ```
/// assert_eq!(shop::orders::OrderId(12).to_string(), "12");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct OrderId(pub i64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an order is in its life.
///
/// ```
/// use shop::orders::OrderStatus;
///
/// assert_eq!(OrderStatus::Paid.as_str(), "paid");
/// assert_eq!(OrderStatus::try_from("settled".to_owned()), Ok(OrderStatus::Settled));
/// assert!(OrderStatus::try_from("lost".to_owned()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Its stock is reserved; the charge is under way.
    Pending,
    /// Charged.
    Paid,
    /// Charged, and the payment settled by the settlement worker.
    Settled,
    /// The charge failed; its stock was put back.
    Failed,
}

impl OrderStatus {
    /// The status as the database stores it.
    ///
    /// ```
    /// assert_eq!(shop::OrderStatus::Failed.as_str(), "failed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Settled => "settled",
            OrderStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status the shop doesn't know, read from the database.
///
/// ```
/// let error = shop::OrderStatus::try_from("lost".to_owned()).unwrap_err();
/// assert_eq!(error.to_string(), "unknown order status `lost`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status `{0}`")]
pub struct UnknownStatus(String);

impl TryFrom<String> for OrderStatus {
    type Error = UnknownStatus;

    fn try_from(status: String) -> Result<OrderStatus, UnknownStatus> {
        match status.as_str() {
            "pending" => Ok(OrderStatus::Pending),
            "paid" => Ok(OrderStatus::Paid),
            "settled" => Ok(OrderStatus::Settled),
            "failed" => Ok(OrderStatus::Failed),
            _ => Err(UnknownStatus(status)),
        }
    }
}

/// A product of the catalogue.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// shop.add_product(&shop::NewProduct::new("MUG", "Mug", 499, 3)).await?;
/// let mug: shop::Product = shop.product("MUG").await?.unwrap();
/// assert_eq!((mug.name.as_str(), mug.price_cents, mug.stock), ("Mug", 499, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its stock-keeping unit: unique in the catalogue.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its unit price, in cents.
    pub price_cents: i64,
    /// How many are in stock.
    pub stock: i64,
}

/// A product to add to the catalogue.
///
/// ```
/// let mug = shop::NewProduct::new("MUG", "Mug", 499, 3);
/// assert_eq!((mug.sku.as_str(), mug.stock), ("MUG", 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProduct {
    /// Its SKU.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its unit price, in cents.
    pub price_cents: i64,
    /// How many are in stock.
    pub stock: i64,
}

impl NewProduct {
    /// A product `sku` named `name`, at `price_cents`, `stock` of them.
    ///
    /// ```
    /// let tea = shop::NewProduct::new("TEA", "Assam tea", 1_250, 10);
    /// assert_eq!(tea.price_cents, 1_250);
    /// ```
    pub fn new(sku: &str, name: &str, price_cents: i64, stock: i64) -> NewProduct {
        NewProduct {
            sku: sku.to_owned(),
            name: name.to_owned(),
            price_cents,
            stock,
        }
    }
}

/// One line of an order to place.
///
/// ```
/// let line = shop::LineItem::new("TEA", 2);
/// assert_eq!(line.quantity, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// The product's SKU.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

impl LineItem {
    /// `quantity` of the product `sku`.
    ///
    /// ```
    /// assert_eq!(shop::LineItem::new("MUG", 3).sku, "MUG");
    /// ```
    pub fn new(sku: &str, quantity: u32) -> LineItem {
        LineItem {
            sku: sku.to_owned(),
            quantity,
        }
    }
}

/// An order to place: who orders, and what.
///
/// ```
/// use shop::{LineItem, PlaceOrder};
///
/// let order = PlaceOrder::new("ada@example.com", [LineItem::new("TEA", 2)]);
/// assert_eq!(order.items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// The customer's email address.
    pub email: String,
    /// The lines.
    pub items: Vec<LineItem>,
}

impl PlaceOrder {
    /// An order by `email` for `items`.
    ///
    /// ```
    /// let order = shop::PlaceOrder::new("ada@example.com", vec![]);
    /// assert!(order.items.is_empty());
    /// ```
    pub fn new(email: &str, items: impl IntoIterator<Item = LineItem>) -> PlaceOrder {
        PlaceOrder {
            email: email.to_owned(),
            items: items.into_iter().collect(),
        }
    }
}

/// A line of a placed order, at the price it was sold at.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// # shop::payments::GATEWAY.set_default(Box::new(shop::payments::DemoGateway))?;
/// shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
/// let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 2)]);
/// let placed = shop.place_order(&order).await?;
/// let line = shop::OrderLine { sku: "TEA".into(), quantity: 2, unit_price_cents: 1_250 };
/// assert_eq!(placed.lines, [line]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct OrderLine {
    /// The product's SKU.
    pub sku: String,
    /// How many.
    pub quantity: i64,
    /// The unit price when the order was placed, in cents.
    pub unit_price_cents: i64,
}

/// A placed order.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// # shop::payments::GATEWAY.set_default(Box::new(shop::payments::DemoGateway))?;
/// shop.add_product(&shop::NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
/// let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 2)]);
/// let placed: shop::Order = shop.place_order(&order).await?;
/// assert_eq!((placed.status, placed.total_cents), (shop::OrderStatus::Paid, 2_500));
/// assert_eq!(placed.payment_id.as_deref(), Some(&*format!("demo_{}", placed.id)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Who placed it.
    pub customer_email: String,
    /// Where it is in its life.
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    /// What the customer is charged, in cents.
    pub total_cents: i64,
    /// When it was placed (seconds since the Unix epoch, from [`clock::CLOCK`]).
    pub created_at: i64,
    /// The gateway's id of its payment, once paid.
    pub payment_id: Option<String>,
    /// When its payment was settled, once it was.
    pub settled_at: Option<i64>,
    /// Its lines, in the order they were given.
    #[sqlx(skip)]
    pub lines: Vec<OrderLine>,
}

/// The shop: its catalogue and its orders, on one database. Cheap to clone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use shop::{LineItem, NewProduct, OrderStatus, PlaceOrder, Shop};
/// use shop::db::Db;
/// use shop::payments::{DemoGateway, GATEWAY};
///
/// let db = Db::connect("sqlite::memory:").await?;
/// db.migrate().await?;
/// GATEWAY.set_default(Box::new(DemoGateway))?; // production: the real provider
/// let shop = Shop::new(db);
/// shop.add_product(&NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
/// let order = shop
///     .place_order(&PlaceOrder::new("ada@example.com", [LineItem::new("TEA", 2)]))
///     .await?;
/// assert_eq!(order.status, OrderStatus::Paid);
/// assert_eq!(shop.product("TEA").await?.unwrap().stock, 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Shop {
    db: Db,
}

impl Shop {
    /// The shop on `db`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// let shop = shop::Shop::new(db.clone());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(db: Db) -> Shop {
        Shop { db }
    }

    /// Its database.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// assert_eq!(shop.db().backend(), shop::db::Backend::Sqlite);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Adds a product to the catalogue.
    ///
    /// # Errors
    ///
    /// [`ShopError::InvalidProduct`] (an empty SKU, a negative price or stock),
    /// [`ShopError::DuplicateSku`], or the database's.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// use shop::{NewProduct, ShopError};
    ///
    /// let tea = shop.add_product(&NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
    /// assert_eq!(tea.sku, "TEA");
    /// let again = shop.add_product(&NewProduct::new("TEA", "Other tea", 99, 1)).await;
    /// assert!(matches!(again, Err(ShopError::DuplicateSku(sku)) if sku == "TEA"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add_product(&self, product: &NewProduct) -> Result<Product, ShopError> {
        if product.sku.trim().is_empty() {
            return Err(ShopError::InvalidProduct("its SKU is empty"));
        }
        if product.price_cents < 0 || product.stock < 0 {
            return Err(ShopError::InvalidProduct(
                "its price and stock can't be negative",
            ));
        }
        let sql = "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4) \
                   RETURNING id, sku, name, price_cents, stock";
        let added = on_backend!(&self.db, |pool| sqlx::query_as(sql)
            .bind(&product.sku)
            .bind(&product.name)
            .bind(product.price_cents)
            .bind(product.stock)
            .fetch_one(pool)
            .await);
        added.map_err(|error| match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => {
                ShopError::DuplicateSku(product.sku.clone())
            }
            _ => ShopError::Database(error),
        })
    }

    /// The catalogue, by SKU.
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
    /// use shop::NewProduct;
    ///
    /// shop.add_product(&NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
    /// shop.add_product(&NewProduct::new("MUG", "Mug", 499, 3)).await?;
    /// let skus: Vec<String> = shop.products().await?.into_iter().map(|p| p.sku).collect();
    /// assert_eq!(skus, ["MUG", "TEA"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn products(&self) -> Result<Vec<Product>, ShopError> {
        let sql = "SELECT id, sku, name, price_cents, stock FROM products ORDER BY sku";
        Ok(on_backend!(&self.db, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await?))
    }

    /// The product `sku`, if it is in the catalogue.
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
    /// assert_eq!(shop.product("NOPE").await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn product(&self, sku: &str) -> Result<Option<Product>, ShopError> {
        let sql = "SELECT id, sku, name, price_cents, stock FROM products WHERE sku = $1";
        Ok(on_backend!(&self.db, |pool| sqlx::query_as(sql)
            .bind(sku)
            .fetch_optional(pool)
            .await?))
    }

    /// Places an order: in one transaction, takes each line's items out of stock and
    /// writes the order (`pending`, stamped by [`clock::CLOCK`]) and its lines; then
    /// charges the customer through [`payments::GATEWAY`].
    /// The order is `paid` if the charge went through.
    ///
    /// # Errors
    ///
    /// Nothing is written for an empty order or line, a bad address, an unknown product
    /// or too little stock. A failed charge is [`ShopError::PaymentFailed`]: the order
    /// stays, `failed`, and its stock is put back.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// use shop::{LineItem, NewProduct, OrderStatus, PaymentError, PlaceOrder, ShopError};
    ///
    /// shop.add_product(&NewProduct::new("MUG", "Mug", 499, 3)).await?;
    /// let order = PlaceOrder::new("ada@example.com", [LineItem::new("MUG", 2)]);
    /// // No gateway configured (the facade's default): the charge fails, the order is kept.
    /// let Err(ShopError::PaymentFailed { order: failed, source }) = shop.place_order(&order).await
    /// else {
    ///     panic!("the charge fails")
    /// };
    /// assert_eq!(source, PaymentError::NotConfigured);
    /// assert_eq!(shop.order(failed).await?.unwrap().status, OrderStatus::Failed);
    /// assert_eq!(shop.product("MUG").await?.unwrap().stock, 3); // put back
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<Order, ShopError> {
        validate(order)?;
        let created_at = clock::now_unix();
        let (id, total_cents, lines) = self.reserve(order, created_at).await?;

        let charged = payments::charge(ChargeRequest {
            order: id,
            customer_email: order.email.clone(),
            amount_cents: total_cents,
            idempotency_key: format!("order-{id}"),
        })
        .await;
        let payment = match charged {
            Ok(payment) => payment,
            Err(source) => {
                self.fail(id, &order.items).await?;
                return Err(ShopError::PaymentFailed { order: id, source });
            }
        };
        let sql = "UPDATE orders SET status = $1, payment_id = $2 WHERE id = $3";
        on_backend!(&self.db, |pool| sqlx::query(sql)
            .bind(OrderStatus::Paid.as_str())
            .bind(&payment.id)
            .bind(id)
            .execute(pool)
            .await
            .map(drop)?);
        Ok(Order {
            id,
            customer_email: order.email.clone(),
            status: OrderStatus::Paid,
            total_cents,
            created_at,
            payment_id: Some(payment.id),
            settled_at: None,
            lines,
        })
    }

    /// Takes the items out of stock and writes the order, `pending`, with its lines, in
    /// one transaction (rolled back by any early return: `tx` is dropped).
    async fn reserve(
        &self,
        order: &PlaceOrder,
        created_at: i64,
    ) -> Result<(OrderId, i64, Vec<OrderLine>), ShopError> {
        on_backend!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let id: OrderId = sqlx::query_scalar(
                "INSERT INTO orders (customer_email, status, total_cents, created_at) \
                 VALUES ($1, $2, 0, $3) RETURNING id",
            )
            .bind(&order.email)
            .bind(OrderStatus::Pending.as_str())
            .bind(created_at)
            .fetch_one(&mut *tx)
            .await?;
            let mut total_cents: i64 = 0;
            let mut lines = Vec::with_capacity(order.items.len());
            for (line_no, item) in (1_i64..).zip(&order.items) {
                let quantity = i64::from(item.quantity);
                let taken: Option<(ProductId, i64)> = sqlx::query_as(
                    "UPDATE products SET stock = stock - $1 WHERE sku = $2 AND stock >= $1 \
                     RETURNING id, price_cents",
                )
                .bind(quantity)
                .bind(&item.sku)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((product, unit_price_cents)) = taken else {
                    let available: Option<i64> =
                        sqlx::query_scalar("SELECT stock FROM products WHERE sku = $1")
                            .bind(&item.sku)
                            .fetch_optional(&mut *tx)
                            .await?;
                    return Err(match available {
                        None => ShopError::UnknownProduct(item.sku.clone()),
                        Some(available) => ShopError::OutOfStock {
                            sku: item.sku.clone(),
                            requested: item.quantity,
                            available,
                        },
                    });
                };
                sqlx::query(
                    "INSERT INTO order_lines (order_id, line_no, product_id, quantity, \
                     unit_price_cents) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(line_no)
                .bind(product)
                .bind(quantity)
                .bind(unit_price_cents)
                .execute(&mut *tx)
                .await?;
                total_cents = unit_price_cents
                    .checked_mul(quantity)
                    .and_then(|line_total| total_cents.checked_add(line_total))
                    .ok_or(ShopError::TotalTooLarge)?;
                lines.push(OrderLine {
                    sku: item.sku.clone(),
                    quantity,
                    unit_price_cents,
                });
            }
            sqlx::query("UPDATE orders SET total_cents = $1 WHERE id = $2")
                .bind(total_cents)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((id, total_cents, lines))
        })
    }

    /// Marks the order `failed` and puts its items back in stock, in one transaction.
    async fn fail(&self, id: OrderId, items: &[LineItem]) -> Result<(), ShopError> {
        on_backend!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
                .bind(OrderStatus::Failed.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for item in items {
                sqlx::query("UPDATE products SET stock = stock + $1 WHERE sku = $2")
                    .bind(i64::from(item.quantity))
                    .bind(&item.sku)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The order `id` with its lines, if there is one.
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
    /// use shop::{LineItem, NewProduct, PlaceOrder};
    ///
    /// shop.add_product(&NewProduct::new("TEA", "Assam tea", 1_250, 10)).await?;
    /// let placed = shop
    ///     .place_order(&PlaceOrder::new("ada@example.com", [LineItem::new("TEA", 1)]))
    ///     .await?;
    /// assert_eq!(shop.order(placed.id).await?, Some(placed));
    /// assert_eq!(shop.order(shop::OrderId(999)).await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, ShopError> {
        let sql = "SELECT id, customer_email, status, total_cents, created_at, payment_id, \
                   settled_at FROM orders WHERE id = $1";
        let order: Option<Order> = on_backend!(&self.db, |pool| sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        let Some(mut order) = order else {
            return Ok(None);
        };
        order.lines = self.lines(id).await?;
        Ok(Some(order))
    }

    /// Every order with its lines, oldest first.
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
    /// assert!(shop.orders().await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn orders(&self) -> Result<Vec<Order>, ShopError> {
        let sql = "SELECT id, customer_email, status, total_cents, created_at, payment_id, \
                   settled_at FROM orders ORDER BY id";
        let mut orders: Vec<Order> =
            on_backend!(&self.db, |pool| sqlx::query_as(sql).fetch_all(pool).await?);
        for order in &mut orders {
            order.lines = self.lines(order.id).await?;
        }
        Ok(orders)
    }

    async fn lines(&self, id: OrderId) -> Result<Vec<OrderLine>, ShopError> {
        let sql = "SELECT products.sku, order_lines.quantity, order_lines.unit_price_cents \
                   FROM order_lines JOIN products ON products.id = order_lines.product_id \
                   WHERE order_lines.order_id = $1 ORDER BY order_lines.line_no";
        Ok(on_backend!(&self.db, |pool| sqlx::query_as(sql)
            .bind(id)
            .fetch_all(pool)
            .await?))
    }
}

/// Checks what can be checked before touching the database.
fn validate(order: &PlaceOrder) -> Result<(), ShopError> {
    let email = order.email.trim();
    let valid_email = email
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if !valid_email {
        return Err(ShopError::InvalidEmail(order.email.clone()));
    }
    if order.items.is_empty() {
        return Err(ShopError::EmptyOrder);
    }
    if let Some(empty) = order.items.iter().find(|item| item.quantity == 0) {
        return Err(ShopError::ZeroQuantity {
            sku: empty.sku.clone(),
        });
    }
    Ok(())
}
