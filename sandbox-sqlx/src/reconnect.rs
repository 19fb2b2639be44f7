//! A checked-out connection that the server closed while it sat idle in the pool (an idle
//! timeout, an administrator's kill, a restart) fails no test. A checkout sends nothing,
//! so the connection's first round trip for it (the sandbox's `BEGIN`; on an unsandboxed
//! checkout, whose first statement is the test's own, a ping) goes out before anything of
//! the test's. When that round trip finds the connection closed, the sandbox closes it for
//! good (it never goes back to the pool), takes another from the sandbox's pool, on the
//! background runtime, and sends the round trip again, once. Any other error (a database
//! error, a refused `BEGIN`) is the test's to see.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Pool};

use crate::closed::is_closed;
use crate::conn::Slot;
use crate::error::SandboxError;

/// After the slot's first round trip failed with `error`: if that says the connection is
/// closed, and the connection may still be replaced (nothing has been sent on it for its
/// checkout), replaces it; otherwise gives `error` back.
///
/// The closed connection is detached from the pool (its place is free at once) and
/// dropped. Another one comes from the sandbox's pool, on the background runtime; since
/// the server may have closed every idle connection at once (a restart), each one the
/// pool hands out is checked with a ping, and closed too if it is closed, until a live
/// one comes (the pool opens a new one once its idle ones are gone). If none can be had,
/// the test's turn ends and every later statement of the test gets
/// [`SandboxError::ConnectionLost`].
///
/// # Errors
///
/// `error`, when it doesn't call for a replacement; [`SandboxError::ConnectionLost`]
/// when no other connection can be had.
pub(crate) async fn replace_closed<DB: Database>(
    slot: &mut Slot<DB>,
    error: sqlx::Error,
) -> Result<(), sqlx::Error> {
    if !is_closed(&error) {
        return Err(error);
    }
    let Some(replacement) = slot.replacement.take() else {
        return Err(error);
    };
    let closed = slot.connection.take();
    let pool = replacement.pool.clone();
    let acquired = ownership_runtime::background::run(async move {
        if let Some(closed) = closed {
            drop(closed.detach());
        }
        live_connection(&pool).await
    })
    .await
    .map_err(|error| Arc::new(error) as Arc<dyn std::error::Error + Send + Sync>)
    .and_then(|acquired| {
        acquired.map_err(|error| Arc::new(error) as Arc<dyn std::error::Error + Send + Sync>)
    });
    match acquired {
        Ok(connection) => {
            slot.connection = Some(connection);
            Ok(())
        }
        Err(cause) => {
            slot.lost = Some(cause.clone());
            slot.turn = None;
            Err(SandboxError::ConnectionLost {
                label: replacement.label.to_string(),
                owner: replacement.owner,
                source: cause,
            }
            .into())
        }
    }
}

/// A connection from `pool` that answers a ping; those found closed are closed (at most
/// the pool's size of them, and one more).
async fn live_connection<DB: Database>(pool: &Pool<DB>) -> Result<PoolConnection<DB>, sqlx::Error> {
    let mut closed = sqlx::Error::PoolTimedOut;
    for _ in 0..=pool.options().get_max_connections() {
        let mut connection = pool.acquire().await?;
        match connection.ping().await {
            Ok(()) => return Ok(connection),
            Err(error) if is_closed(&error) => {
                drop(connection.detach());
                closed = error;
            }
            Err(error) => return Err(error),
        }
    }
    Err(closed)
}

/// Before the first statement of an unsandboxed checkout (the test's own, which may
/// commit, so it is never sent twice): a ping, on a connection that may still be replaced,
/// replacing it if closed. Nothing on any other connection.
///
/// # Errors
///
/// The ping's, or [`replace_closed`]'s.
pub(crate) async fn check_unsandboxed<DB: Database>(
    slot: &mut Slot<DB>,
) -> Result<(), sqlx::Error> {
    if slot.replacement.is_none() {
        return Ok(());
    }
    if let Some(connection) = slot.connection.as_deref_mut()
        && let Err(error) = connection.ping().await
    {
        replace_closed(slot, error).await?;
    }
    slot.replacement = None;
    Ok(())
}
