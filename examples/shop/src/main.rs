//! The shop's server: `cargo run -p shop`, then open <http://127.0.0.1:3000/shop>.
//!
//! - `DATABASE_URL`: the database (`sqlite://shop.db` unless set; `postgres://..` works
//!   too); migrated at start-up.
//! - `SHOP_ADDR`: where to listen (`127.0.0.1:3000`).
//! - `SHOP_DEMO_PAYMENTS=1`: accept every payment without charging anyone (otherwise no
//!   gateway is configured and every order fails its payment).
//! - `RUST_LOG`: what to log (`info`).

use std::process::ExitCode;
use std::time::Duration;

use shop::Shop;
use shop::db::{Db, DbError};
use shop::payments::{DemoGateway, GATEWAY};
use tracing_subscriber::EnvFilter;

/// How often the settlement worker settles paid orders on its own.
const SETTLE_EVERY: Duration = Duration::from_secs(30);

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("the database is not usable")]
    Db(#[from] DbError),
    #[error("the demo payment gateway could not be set")]
    Gateway(#[from] mockall_bridge::FacadeError),
    #[error("could not listen on {addr} (set SHOP_ADDR to a free address)")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop: {}", ownership_runtime::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), ServeError> {
    let db = Db::from_env().await?;
    db.migrate().await?;
    if std::env::var("SHOP_DEMO_PAYMENTS").as_deref() == Ok("1") {
        GATEWAY.set_default(Box::new(DemoGateway))?;
        tracing::warn!("demo payments: every order is accepted, nobody is charged");
    }
    let shop = Shop::new(db);
    // Started once per process; it ends when its last handle (`_settler`) is dropped.
    let (_settler, settling) = shop::settlement::settler(shop.clone(), Some(SETTLE_EVERY));
    tokio::spawn(settling);

    let addr = std::env::var("SHOP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.clone(),
            source,
        })?;
    tracing::info!("the shop listens on http://{addr}/shop");
    axum::serve(listener, shop::web::router(shop))
        .with_graceful_shutdown(async {
            // Without a signal handler the server runs until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .map_err(ServeError::Serve)
}
