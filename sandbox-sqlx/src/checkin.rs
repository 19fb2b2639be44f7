//! The checkin engine: a test's connection rolled back, checked and given back.

use ownership_runtime::{ActorId, Found};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::conn::{Taken, release_in_background};
use crate::driven::Driven;
use crate::error::{HookKind, SandboxError};
use crate::outcome::Checkin;
use crate::state::State;
use crate::template;

impl<DB: SandboxDatabase> State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Checks `owner`'s connection in.
    pub(crate) async fn checkin(
        &self,
        owner: ActorId,
        driven: Driven,
    ) -> Result<Checkin, SandboxError> {
        let Some(owned) = self.owners.metadata(owner, &()) else {
            return Ok(match self.owners.fetch_owner(&[owner], &()) {
                Some(Found::Owner(_)) => Checkin::NotOwner,
                _ => Checkin::NotFound,
            });
        };
        self.owners.cleanup_owner(owner);
        let database = owned.take_database();
        let pre_checkin = owned.pre_checkin.clone();
        let Some(taken) = owned.take().await else {
            return Ok(Checkin::Ok); // taken back by the ownership timeout already
        };
        let label = self.label.to_string();
        // One task on the background runtime: the hook, check the transaction, queue the
        // rollback (the pool sends it before anyone else gets the connection).
        let checked = driven
            .run(async move {
                let Taken {
                    mut connection,
                    sandboxed,
                    begun,
                    turn,
                    may_have_ended,
                } = taken;
                let pre_checkin_ran = pre_checkin.is_some();
                let hooked = match pre_checkin {
                    Some(hook) => hook(&mut connection).await,
                    None => Ok(()),
                };
                if let Some(database) = database {
                    // Closed, not returned to its pool (which would check it first with a
                    // round trip): the test's database goes with it.
                    connection.close_on_drop();
                    release_in_background(connection, false);
                    template::discard(database).await;
                    return hooked.map_err(Closing::Hook).map(|()| true);
                }
                let open = if sandboxed && begun && (may_have_ended || pre_checkin_ran) {
                    match DB::in_transaction(&mut connection).await {
                        Ok(open) => open,
                        Err(error) => {
                            // A broken connection (killed by the server, say) is closed, not
                            // returned: the next test gets a fresh one.
                            connection.close_on_drop();
                            return Err(Closing::Database(error));
                        }
                    }
                } else {
                    true
                };
                release_in_background(connection, sandboxed);
                drop(turn);
                hooked.map_err(Closing::Hook).map(|()| open)
            })
            .await;
        match checked {
            Ok(Ok(true)) => Ok(Checkin::Ok),
            Ok(Ok(false)) => Err(SandboxError::TransactionEnded {
                label,
                owner,
                cause: DB::ENDED_BY,
            }),
            Ok(Err(Closing::Hook(source))) => Err(SandboxError::Hook {
                label,
                owner,
                hook: HookKind::PreCheckin,
                source,
            }),
            Ok(Err(Closing::Database(source))) => Err(SandboxError::Database {
                label,
                context: "could not check the connection in",
                source,
            }),
            Err(source) => Err(SandboxError::Background { label, source }),
        }
    }
}

/// Why checking a test's connection in failed.
enum Closing {
    /// The database failed (the connection was closed).
    Database(sqlx::Error),
    /// The pre-checkin hook failed (the connection was still rolled back).
    Hook(sqlx::Error),
}
