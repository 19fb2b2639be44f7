//! Getting a test's connection ready for a statement: the sandbox's `BEGIN`, sent with the
//! test's first round trip, and the statement fences that keep a failing statement from
//! aborting the test's transaction on PostgreSQL.

use sqlx::{AssertSqlSafe, Database, Executor, SqlSafeStr, SqlStr};
use sqlx_core::transaction::TransactionManager;

use crate::backend::{FENCE, FENCE_AGAIN, FENCE_RELEASE, SandboxDatabase};
use crate::conn::Slot;
use crate::error::SandboxError;
use crate::reconnect;

pub(crate) fn slot_connection<DB: Database>(
    slot: &mut Slot<DB>,
) -> Result<&mut DB::Connection, SandboxError> {
    // `OwnedConnection::lock` only hands out slots that hold a connection.
    slot.connection
        .as_deref_mut()
        .ok_or(SandboxError::ConnectionGone)
}

/// Gets the connection ready for work that is not one fenced statement (an app
/// transaction, an acquired connection, a prepare): begins the sandbox's transaction if
/// it hasn't begun, and releases an open statement fence.
pub(crate) async fn settle<DB: SandboxDatabase>(slot: &mut Slot<DB>) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    begin_pending(slot, false).await?;
    if slot.fence_open {
        slot_connection(slot)?.execute(FENCE_RELEASE).await?;
        slot.fence_open = false;
    }
    Ok(())
}

/// Gets the connection ready for one statement, and says whether the statement is
/// fenced: if it needs a fence, sets one in one round trip (with the `BEGIN` of the
/// sandbox's transaction, or the release of the previous fence); otherwise as [`settle`].
pub(crate) async fn fence<DB: SandboxDatabase>(slot: &mut Slot<DB>) -> Result<bool, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if !needs_fence(slot) {
        settle(slot).await?;
        return Ok(false);
    }
    if !begin_pending(slot, true).await? {
        let fence = if slot.fence_open { FENCE_AGAIN } else { FENCE };
        slot_connection(slot)?.execute(fence).await?;
    }
    slot.fence_open = true;
    Ok(true)
}

/// Begins the sandbox's transaction if it is still to begin (after taking the tests'
/// lock, for serialized tests), setting a statement fence in the same round trip if
/// `fenced`. Returns whether it began.
async fn begin_pending<DB: SandboxDatabase>(
    slot: &mut Slot<DB>,
    fenced: bool,
) -> Result<bool, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Some(pending) = slot.pending_begin.clone() else {
        reconnect::check_unsandboxed(slot).await?;
        return Ok(false);
    };
    if let Some(take_turn) = &pending.take_turn
        && slot.turn.is_none()
    {
        slot.turn = Some(take_turn().await?);
    }
    let begin = DB::begin_statement(pending.isolation);
    let begin = if fenced {
        let begin = begin.as_ref().map_or("BEGIN", SqlStr::as_str);
        Some(AssertSqlSafe(format!("{begin}; {FENCE}")).into_sql_str())
    } else {
        begin
    };
    // The checkout's first round trip: a connection found closed is replaced, once.
    let begun = DB::TransactionManager::begin(slot_connection(slot)?, begin.clone()).await;
    if let Err(error) = begun {
        reconnect::replace_closed(slot, error).await?;
        DB::TransactionManager::begin(slot_connection(slot)?, begin).await?;
    }
    slot.replacement = None;
    slot.pending_begin = None;
    Ok(true)
}

/// Whether statements on this connection need a fence: the database needs it, the
/// connection is sandboxed, and no app transaction is open (at depth 1, a production
/// connection would be in autocommit mode, where a failed statement harms nothing).
fn needs_fence<DB: SandboxDatabase>(slot: &Slot<DB>) -> bool {
    DB::FENCE_STATEMENTS
        && slot.sandboxed
        && (slot.pending_begin.is_some()
            || slot.connection.as_deref().is_some_and(|connection| {
                DB::TransactionManager::get_transaction_depth(connection) == 1
            }))
}
