//! `sqlx::Executor` for `&SandboxPool`: each statement on the real pool, or on the
//! caller's test connection, fenced where the backend needs it.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Database, Either, Execute, Executor, SqlStr};

use crate::backend::{FENCE_ROLLBACK, SandboxDatabase};
use crate::fence::{fence, settle, slot_connection};
use crate::handle::{Route, SandboxPool, connection_for_caller};

impl<'p, DB: SandboxDatabase> Executor<'p> for &'p SandboxPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.fetch_many(query),
            Route::Sandbox(state) => state.clone(),
        };
        let query = Inspected::new(query);
        Box::pin(async_stream::try_stream! {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            // Until the fence is set (and if it fails), whether the transaction is still
            // open is for checkin to ask.
            let ended_before = std::mem::replace(&mut slot.may_have_ended, true);
            let fenced = fence(&mut slot).await?;
            slot.may_have_ended = ended_before || query.may_end_transaction();
            let mut failure = None;
            {
                let connection = slot_connection(&mut slot)?;
                let mut results = connection.fetch_many(query);
                while let Some(result) = results.next().await {
                    match result {
                        Ok(step) => yield step,
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
            }
            if fenced && failure.is_some() {
                let ended_before = std::mem::replace(&mut slot.may_have_ended, true);
                slot_connection(&mut slot)?.execute(FENCE_ROLLBACK).await?;
                slot.may_have_ended = ended_before;
            }
            if let Some(error) = failure {
                Err(error)?;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if let Route::Pool(pool) = &self.route {
            return pool.fetch_optional(query);
        }
        // Runs the statement to its end (so that a failure rolls back to its fence), keeping the
        // first row.
        let steps = self.fetch_many(query);
        Box::pin(async move {
            let mut steps = steps;
            let mut first = None;
            while let Some(step) = steps.try_next().await? {
                if let (Either::Right(row), None) = (step, &first) {
                    first = Some(row);
                }
            }
            Ok(first)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.prepare_with(sql, parameters),
            Route::Sandbox(state) => state.clone(),
        };
        Box::pin(async move {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            settle(&mut slot).await?;
            slot_connection(&mut slot)?
                .prepare_with(sql, parameters)
                .await
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        let state = match &self.route {
            Route::Pool(pool) => return pool.describe(sql),
            Route::Sandbox(state) => state.clone(),
        };
        Box::pin(async move {
            let owned = connection_for_caller(&state).await?;
            let mut slot = owned.lock().await?;
            settle(&mut slot).await?;
            slot_connection(&mut slot)?.describe(sql).await
        })
    }
}

/// A statement taken apart to read its SQL (which `Execute` only gives up by value),
/// and put back together to run.
struct Inspected<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, sqlx::error::BoxDynError>>,
    persistent: bool,
}

impl<DB: SandboxDatabase> Inspected<DB> {
    fn new<'q>(mut query: impl Execute<'q, DB>) -> Self {
        let arguments = Some(query.take_arguments());
        let (statement, persistent) = (query.statement().cloned(), query.persistent());
        Inspected {
            sql: query.sql(),
            statement,
            arguments,
            persistent,
        }
    }

    fn may_end_transaction(&self) -> bool {
        DB::may_end_transaction(self.sql.as_str())
    }
}

impl<DB: Database> Execute<'_, DB> for Inspected<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, sqlx::error::BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}
