//! The checkout engine: the migrations (once per run), then a connection for the test,
//! its transaction, its hooks and its owner.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use ownership_runtime::runwide::RunWide;
use ownership_runtime::{ActorId, OwnershipError, callers};
use sqlx::Executor;

use crate::backend::SandboxDatabase;
use crate::conn::{OwnedConnection, PendingBegin, rollback_and_release};
use crate::driven::Driven;
use crate::error::{HookKind, SandboxError};
use crate::fence::settle;
use crate::migrations::Migrations;
use crate::once_per_run::once_per_run;
use crate::options::{CheckoutOptions, ConnectionHook};
use crate::reach::AcquireError;
use crate::state::State;
use crate::template;
use ownership_runtime::background;

impl<DB: SandboxDatabase> State<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Applies the migrations once per run, on the background runtime.
    pub(crate) async fn migrate(self: &Arc<Self>) -> Result<(), SandboxError> {
        if self.migrator.is_none() && !DB::PER_TEST_DATABASE {
            return Ok(());
        }
        let state = self.clone();
        self.migrated
            .get_or_try_init(|| async move {
                let label = state.label.to_string();
                let migrator = state.migrator;
                if !DB::PER_TEST_DATABASE {
                    let Some(migrator) = migrator else {
                        return Ok(());
                    };
                    let migrations = Migrations {
                        label: state.label.clone(),
                        pool: state.pool.clone(),
                        url: state.url.clone(),
                        migrator,
                        wait: state.migrations_wait,
                        reach: state.reach.clone(),
                        spare: state.spare.clone(),
                    };
                    if migrations.noted_applied() {
                        return Ok(());
                    }
                    return match background::run(migrations.ensure_applied()).await {
                        Ok(outcome) => outcome,
                        Err(source) => Err(SandboxError::Background { label, source }),
                    };
                }
                let template = template::template_file(state.url.as_str());
                let name = format!("sandbox-sqlx template {}", template.display());
                let message = format!(
                    "could not make its SQLite template {} (the next checkout tries again)",
                    template.display()
                );
                once_per_run(&label, message, RunWide::file(), name, move || async move {
                    template::build_template::<DB>(&template, migrator).await
                })
                .await
            })
            .await
            .map(|_| ())
    }

    /// Opens (or takes from the pool) a connection for `actor` on the background runtime,
    /// starts its transaction, and records `actor` as its owner.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        actor: ActorId,
        options: CheckoutOptions<DB>,
        driven: Driven,
    ) -> Result<Arc<OwnedConnection<DB>>, SandboxError> {
        if !actor.is_alive() {
            return Err(SandboxError::OwnerEnded {
                label: self.label.to_string(),
                actor,
            });
        }
        if let Some(failure) = self.reach.failure() {
            return Err(SandboxError::Unreachable {
                label: self.label.to_string(),
                failure,
            });
        }
        self.migrate().await?;
        let label = self.label.to_string();
        let pool = self.pool.clone();
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        let isolation = options.isolation;
        let sandboxed = options.sandboxed;
        let template = template::template_file(self.url.as_str());
        let (copies, wait) = (
            self.copies.clone(),
            self.pool.options().get_acquire_timeout(),
        );
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (reach, url) = (self.reach.clone(), self.url.clone());
        let opened = driven
            .run(async move {
                if DB::PER_TEST_DATABASE {
                    // In memory where the database can: the test's tasks share its one
                    // connection, and nothing is written to disk.
                    let options = sqlx::pool::PoolOptions::new().max_connections(1);
                    let (database, connection) = template::copy_template::<DB>(
                        &template,
                        copies,
                        wait,
                        options,
                        template::Place::Memory,
                    )
                    .await
                    .map_err(AcquireError::Pool)?;
                    return Ok((connection, Some(database)));
                }
                let connection = match spare {
                    Some(connection) => connection,
                    None => reach.acquire(&pool, &url).await?,
                };
                Ok::<_, AcquireError>((connection, None))
            })
            .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (connection, database) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(AcquireError::Unreachable(failure))) => {
                return Err(SandboxError::Unreachable { label, failure });
            }
            Ok(Err(AcquireError::Pool(sqlx::Error::PoolTimedOut))) => {
                return Err(SandboxError::PoolExhausted {
                    label,
                    max_connections: self.pool.options().get_max_connections(),
                    waiting: waiting.saturating_sub(1),
                    waited: started.elapsed(),
                });
            }
            Ok(Err(AcquireError::Pool(source))) => {
                return Err(SandboxError::Database {
                    label,
                    context: "could not check out a connection",
                    source,
                });
            }
            Err(source) => return Err(SandboxError::Background { label, source }),
        };
        // A per-test database is thrown away whole: no wrapping transaction.
        let sandboxed = sandboxed && !DB::PER_TEST_DATABASE;
        // Serialized tests take turns by test: the root of the callers that check out.
        let test = callers().last().copied().unwrap_or(actor);
        let pending_begin = sandboxed.then(|| PendingBegin {
            isolation,
            take_turn: self.turns.as_ref().map(|turns| {
                // Bounded, to turn a test that waits for itself into an error.
                let wait = options
                    .ownership_timeout
                    .max(self.pool.options().get_acquire_timeout());
                turns.for_test(test, self.pool.clone(), wait)
            }),
        });
        let mut owned = OwnedConnection::new(
            actor,
            self.label.clone(),
            connection,
            sandboxed,
            pending_begin,
            // A pooled connection found closed at its first round trip is replaced.
            (!DB::PER_TEST_DATABASE).then(|| self.pool.clone()),
        );
        owned.pre_checkin = options.pre_checkin.clone();
        *owned
            .database
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = database;
        let owned = Arc::new(owned);
        if let Some(hook) = options.post_checkout.clone() {
            let hooked = driven.run(after_checkout(owned.clone(), hook)).await;
            let failure = match hooked {
                Ok(Ok(())) => None,
                Ok(Err(source)) => Some(SandboxError::Hook {
                    label: label.clone(),
                    owner: actor,
                    hook: HookKind::PostCheckout,
                    source,
                }),
                Err(source) => Some(SandboxError::Background {
                    label: label.clone(),
                    source,
                }),
            };
            if let Some(failure) = failure {
                // Never registered: give the connection (and its database) back here.
                let database = owned.take_database();
                let taken = owned.take().await;
                driven
                    .run(async move {
                        if let Some(taken) = taken {
                            rollback_and_release(taken).await;
                        }
                        if let Some(database) = database {
                            template::discard(database).await;
                        }
                    })
                    .await
                    .ok();
                return Err(failure);
            }
        }
        let registered = self
            .owners
            .get_and_update(actor, (), |existing| match existing {
                // Another task of the same actor checked out meanwhile: keep that one.
                Some(existing) => (Err(existing.clone()), existing.clone()),
                None => (Ok(()), owned.clone()),
            });
        match registered {
            Ok(Ok(())) => {}
            Ok(Err(existing)) => return Ok(existing),
            Err(OwnershipError::ActorDown { .. }) => {
                return Err(SandboxError::OwnerEnded { label, actor });
            }
            Err(source) => return Err(SandboxError::Ownership { label, source }),
        }
        self.timeouts.watch(&owned, options.ownership_timeout);
        Ok(owned)
    }
}

/// Runs a post-checkout hook on a new connection: begins the sandbox's transaction (the
/// hook runs inside it), then the hook.
async fn after_checkout<DB: SandboxDatabase>(
    owned: Arc<OwnedConnection<DB>>,
    hook: ConnectionHook<DB>,
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut slot = owned.lock().await?;
    settle(&mut slot).await?;
    slot.may_have_ended = true; // the hook had the raw connection
    match slot.connection.as_deref_mut() {
        Some(connection) => hook(connection).await,
        None => Ok(()),
    }
}
