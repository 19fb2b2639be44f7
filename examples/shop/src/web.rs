//! The shop's HTTP API: an axum [`Router`] over a [`Shop`].
//!
//! | route | what it does |
//! |---|---|
//! | `GET /shop` | the shop's page ([`page`]) |
//! | `GET /health` | `{"status": "ok", "time": <now>}`, the time from [`clock::CLOCK`] |
//! | `GET /products` | the catalogue |
//! | `POST /products` | adds a product ([`NewProduct`]): `201`, or `409` for a SKU already there |
//! | `GET /products/{sku}` | one product, or `404` |
//! | `GET /orders` | every order, with its lines |
//! | `POST /orders` | places an order ([`PlaceOrder`]): `201` with the paid order; `402` if the charge failed, `409` out of stock, `422` invalid |
//! | `GET /orders/{id}` | one order, or `404` |
//! | `POST /orders/{id}/receipt` | renders the receipt (on the blocking pool) and writes an audit entry (in a task), both started with ownership-runtime's spawn helpers |
//!
//! Errors are JSON: `{"error": "what went wrong: why"}` (and `"order"` for a failed
//! payment). The router holds no test machinery: tests wrap it in
//! `ownership_runtime::http::OwnershipLayer`, which runs each request that carries a test's
//! token for that test.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::ShopError;
use crate::orders::{NewProduct, Order, OrderId, PlaceOrder, Product, Shop};
use crate::page;
use crate::receipts::{self, AuditEntry, Receipt};

/// The shop's routes, on `shop`.
///
/// Serving it:
///
/// ```no_run
/// # async fn serve(shop: shop::Shop) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, shop::web::router(shop)).await
/// # }
/// ```
///
/// Calling it in process:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// use axum::body::Body;
/// use tower::ServiceExt;
///
/// let request = axum::http::Request::get("/shop").body(Body::empty())?;
/// let response = shop::web::router(shop).oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn router(shop: Shop) -> Router {
    Router::new()
        .route("/shop", get(shop_page))
        .route("/health", get(health))
        .route("/products", get(products).post(add_product))
        .route("/products/{sku}", get(product))
        .route("/orders", get(orders).post(place_order))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/receipt", post(issue_receipt))
        .with_state(shop)
}

/// What `GET /health` answers.
///
/// ```
/// let health: shop::web::Health = serde_json::from_str(r#"{"status":"ok","time":5}"#).unwrap();
/// assert_eq!(health.time, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"`.
    pub status: String,
    /// The time, from [`clock::CLOCK`].
    pub time: i64,
}

/// What `POST /orders/{id}/receipt` answers.
///
/// ```
/// use shop::receipts::{AuditEntry, Receipt};
/// use shop::web::IssuedReceipt;
///
/// let order = shop::OrderId(3);
/// let issued = IssuedReceipt {
///     receipt: Receipt { order, issued_at: 9, text: "Receipt for order 3\n".into() },
///     audit_entry: AuditEntry { id: 1, order_id: order, event: "receipt issued".into(), at: 9 },
/// };
/// let json = serde_json::to_value(&issued).unwrap();
/// assert_eq!(json["audit_entry"]["event"], "receipt issued");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The audit entry that records it.
    pub audit_entry: AuditEntry,
}

/// An error as the API answers it: a status and `{"error": ..}`.
///
/// ```
/// use axum::response::IntoResponse;
/// use shop::ShopError;
/// use shop::web::ApiError;
///
/// let response = ApiError::from(ShopError::EmptyOrder).into_response();
/// assert_eq!(response.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
/// ```
#[derive(Debug)]
pub struct ApiError(pub ShopError);

impl<E: Into<ShopError>> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        ApiError(error.into())
    }
}

/// The body of an error answer.
///
/// ```
/// let body: shop::web::ErrorBody =
///     serde_json::from_str(r#"{"error":"there is no order 9"}"#).unwrap();
/// assert_eq!((body.error.as_str(), body.order), ("there is no order 9", None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, with its causes.
    pub error: String,
    /// The order it is about, if any (a failed payment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        let status = match &error {
            ShopError::EmptyOrder
            | ShopError::ZeroQuantity { .. }
            | ShopError::InvalidEmail(_)
            | ShopError::InvalidProduct(_)
            | ShopError::UnknownProduct(_)
            | ShopError::TotalTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            ShopError::DuplicateSku(_) | ShopError::OutOfStock { .. } => StatusCode::CONFLICT,
            ShopError::OrderNotFound(_) => StatusCode::NOT_FOUND,
            ShopError::PaymentFailed { .. } => StatusCode::PAYMENT_REQUIRED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let order = match &error {
            ShopError::PaymentFailed { order, .. } => Some(*order),
            _ => None,
        };
        let chain = ownership_runtime::error_chain(&error).to_string();
        let message = if error.is_client_error() {
            chain
        } else {
            // The shop's own failures stay in its log.
            tracing::error!(error = %chain, "request failed");
            "the shop failed to answer: its log says why".to_owned()
        };
        let body = ErrorBody {
            error: message,
            order,
        };
        (status, Json(body)).into_response()
    }
}

async fn shop_page() -> Html<&'static str> {
    Html(page::SHOP_PAGE)
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        time: clock::now_unix(),
    })
}

async fn products(State(shop): State<Shop>) -> Result<Json<Vec<Product>>, ApiError> {
    Ok(Json(shop.products().await?))
}

async fn add_product(
    State(shop): State<Shop>,
    Json(product): Json<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    Ok((StatusCode::CREATED, Json(shop.add_product(&product).await?)))
}

async fn product(
    State(shop): State<Shop>,
    Path(sku): Path<String>,
) -> Result<Json<Product>, ApiError> {
    match shop.product(&sku).await? {
        Some(product) => Ok(Json(product)),
        None => Err(ShopError::UnknownProduct(sku).into()),
    }
}

async fn orders(State(shop): State<Shop>) -> Result<Json<Vec<Order>>, ApiError> {
    Ok(Json(shop.orders().await?))
}

async fn place_order(
    State(shop): State<Shop>,
    Json(order): Json<PlaceOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    Ok((StatusCode::CREATED, Json(shop.place_order(&order).await?)))
}

async fn order(State(shop): State<Shop>, Path(id): Path<OrderId>) -> Result<Json<Order>, ApiError> {
    match shop.order(id).await? {
        Some(order) => Ok(Json(order)),
        None => Err(ShopError::OrderNotFound(id).into()),
    }
}

/// Renders the receipt and records it in the audit log, at once: the rendering on the
/// blocking pool, the audit entry in a task of its own. Both are started with
/// ownership-runtime's spawn helpers, which carry the request's callers chain into the
/// work: under a test (a request with its token), they read the test's clock and write
/// to the test's database; in production they carry nothing.
async fn issue_receipt(
    State(shop): State<Shop>,
    Path(id): Path<OrderId>,
) -> Result<Json<IssuedReceipt>, ApiError> {
    let order = shop.order(id).await?.ok_or(ShopError::OrderNotFound(id))?;
    let recorder = shop.clone();
    let audit =
        ownership_runtime::spawn(async move { recorder.record(id, "receipt issued").await });
    let rendering = ownership_runtime::spawn_blocking(move || receipts::render(&order));
    let receipt = rendering.await?;
    let audit_entry = audit.await??;
    Ok(Json(IssuedReceipt {
        receipt,
        audit_entry,
    }))
}
