//! Settling paid orders: a background worker, started once per process, that marks `paid`
//! orders `settled`, stamped by [`clock::CLOCK`], every so often and whenever it is asked
//! to ([`SettlerHandle::settle_now`]).
//!
//! [`settler`] makes the worker's future and the handle that talks to it; the process
//! runs the future once: production on its runtime (`tokio::spawn`), tests on an
//! [`ownership_runtime::Worker`] (a thread, a runtime and an actor of its own) that a test
//! allows on its database and mocks before asking it to settle.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock;
use crate::error::ShopError;
use crate::on_backend;
use crate::orders::{OrderId, OrderStatus, Shop};

/// Marks every `paid` order `settled`, stamped with the time from [`clock::CLOCK`], and
/// returns their ids, in order.
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
/// let order = shop::PlaceOrder::new("ada@example.com", [shop::LineItem::new("TEA", 1)]);
/// let paid = shop.place_order(&order).await?;
/// assert_eq!(shop::settlement::settle_paid(&shop).await?, [paid.id]);
/// assert_eq!(shop.order(paid.id).await?.unwrap().status, shop::OrderStatus::Settled);
/// assert_eq!(shop::settlement::settle_paid(&shop).await?, []);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn settle_paid(shop: &Shop) -> Result<Vec<OrderId>, ShopError> {
    let now = clock::now_unix();
    let sql = "UPDATE orders SET status = $1, settled_at = $2 WHERE status = $3 RETURNING id";
    let mut settled: Vec<OrderId> = on_backend!(shop.db(), |pool| sqlx::query_scalar(sql)
        .bind(OrderStatus::Settled.as_str())
        .bind(now)
        .bind(OrderStatus::Paid.as_str())
        .fetch_all(pool)
        .await?);
    settled.sort_by_key(|id| id.0);
    Ok(settled)
}

/// A request to settle now, and where to send the outcome.
type SettleNow = oneshot::Sender<Result<Vec<OrderId>, ShopError>>;

/// Why [`SettlerHandle::settle_now`] has no answer.
///
/// ```
/// let error = shop::settlement::SettleError::NotRunning;
/// assert!(error.to_string().starts_with("the settlement worker is not running"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// The worker's future isn't running (it was never started, or has ended).
    #[error(
        "the settlement worker is not running: run the future `shop::settlement::settler` \
         returned (tokio::spawn, or an ownership_runtime::Worker in tests)"
    )]
    NotRunning,
    /// Settling failed.
    #[error("the settlement worker could not settle")]
    Failed(#[source] ShopError),
}

/// Talks to the settlement worker. Cheap to clone.
///
/// ```
/// use shop::settlement::{SettleError, settler};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = shop::db::Db::connect("sqlite::memory:").await.unwrap();
/// let (handle, worker) = settler(shop::Shop::new(db), None);
/// drop(worker); // never run
/// assert!(matches!(handle.settle_now().await, Err(SettleError::NotRunning)));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SettlerHandle {
    requests: mpsc::Sender<SettleNow>,
}

impl SettlerHandle {
    /// Asks the worker to settle now, and waits for it: the ids of the orders it settled.
    ///
    /// # Errors
    ///
    /// [`SettleError::NotRunning`], or [`SettleError::Failed`] with the database's error.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = shop::db::Db::connect("sqlite::memory:").await?;
    /// # db.migrate().await?;
    /// # let shop = shop::Shop::new(db);
    /// let (settler, worker) = shop::settlement::settler(shop.clone(), None);
    /// let running = tokio::spawn(worker);
    /// assert_eq!(settler.settle_now().await?, []);
    /// drop(settler); // the worker ends with its last handle
    /// running.await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn settle_now(&self) -> Result<Vec<OrderId>, SettleError> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(reply)
            .await
            .map_err(|_closed| SettleError::NotRunning)?;
        outcome
            .await
            .map_err(|_dropped| SettleError::NotRunning)?
            .map_err(SettleError::Failed)
    }
}

/// The settlement worker of `shop`: a handle, and the worker's future, to run once per
/// process. It settles every `every` (never on its own with `None`) and whenever asked;
/// it ends when every handle is dropped.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let db = shop::db::Db::connect("sqlite::memory:").await?;
/// # db.migrate().await?;
/// # let shop = shop::Shop::new(db);
/// use std::time::Duration;
///
/// // Once per process, at start-up:
/// let (settler, worker) = shop::settlement::settler(shop, Some(Duration::from_secs(60)));
/// tokio::spawn(worker);
/// // Settles every minute, and when asked:
/// assert!(settler.settle_now().await?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn settler(
    shop: Shop,
    every: Option<Duration>,
) -> (SettlerHandle, impl Future<Output = ()> + Send + 'static) {
    let (requests, inbox) = mpsc::channel(16);
    (SettlerHandle { requests }, run(shop, inbox, every))
}

async fn run(shop: Shop, mut inbox: mpsc::Receiver<SettleNow>, every: Option<Duration>) {
    let mut ticks = every.map(|every| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks
    });
    loop {
        let tick = async {
            match &mut ticks {
                Some(ticks) => {
                    ticks.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = inbox.recv() => {
                let Some(reply) = request else { break };
                // The asker may have stopped waiting: nobody to tell then.
                let _ = reply.send(settle_paid(&shop).await);
            }
            () = tick => {
                match settle_paid(&shop).await {
                    Ok(settled) if !settled.is_empty() => {
                        tracing::info!(orders = settled.len(), "settled paid orders");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(
                        error = %ownership_runtime::error_chain(&error),
                        "settling failed; trying again at the next tick"
                    ),
                }
            }
        }
    }
}
