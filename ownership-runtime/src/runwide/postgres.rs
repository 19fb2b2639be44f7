//! The PostgreSQL backend: a session advisory lock per name, and the table
//! `ownership_runwide_done (name, run_id)` of completed setups. The server releases the
//! lock when the holder's connection ends, also when its process is killed.

use std::time::Instant;

use sqlx::{Connection, PgConnection};

use super::file::fnv1a;
use super::{RunWideError, backoff, redact_url};

/// The advisory lock key of `name`: the same on every machine.
fn lock_key(name: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(&format!("ownership-runwide:{name}")).to_ne_bytes())
}

/// Creates the table of completed setups if needed. Concurrent `CREATE TABLE IF NOT
/// EXISTS` can fail in PostgreSQL, so creations are serialized by a lock of their own.
async fn create_table(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    let mut transaction = connection.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(i64::from_ne_bytes(
            fnv1a("ownership-runwide table").to_ne_bytes(),
        ))
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS ownership_runwide_done (\
             name text NOT NULL, \
             run_id text NOT NULL, \
             done_at timestamptz NOT NULL DEFAULT now(), \
             PRIMARY KEY (name, run_id))",
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await
}

/// A held advisory lock, on its own connection.
#[derive(Debug)]
pub(super) struct PgLock {
    connection: PgConnection,
    name: String,
    place: String,
}

impl PgLock {
    pub(super) async fn acquire(
        url: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<PgLock, RunWideError> {
        let place = redact_url(url);
        let failed = |action: &'static str, error: sqlx::Error| RunWideError::Backend {
            name: name.to_owned(),
            place: place.clone(),
            action,
            source: error.into(),
        };
        let mut connection = PgConnection::connect(url)
            .await
            .map_err(|error| failed("connect", error))?;
        let application = format!("ownership-runwide process {}", std::process::id());
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(&application)
            .execute(&mut connection)
            .await
            .map_err(|error| failed("name its session", error))?;
        let key = lock_key(name);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut connection)
                .await
                .map_err(|error| failed("try the advisory lock", error))?;
            if locked {
                break;
            }
            if Instant::now() >= deadline {
                let holder: Option<(Option<String>, i32)> = sqlx::query_as(
                    "SELECT a.application_name, a.pid FROM pg_locks l \
                     JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted \
                     AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
                )
                .bind(key)
                .fetch_optional(&mut connection)
                .await
                .ok()
                .flatten();
                return Err(RunWideError::Timeout {
                    name: name.to_owned(),
                    place,
                    holder: holder
                        .map(|(application, pid)| {
                            format!(
                                ", held by server session {pid} ({})",
                                application.unwrap_or_default()
                            )
                        })
                        .unwrap_or_default(),
                    waited: started.elapsed(),
                });
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
        create_table(&mut connection)
            .await
            .map_err(|error| failed("create the table ownership_runwide_done", error))?;
        Ok(PgLock {
            connection,
            name: name.to_owned(),
            place,
        })
    }

    fn failed(&self, action: &'static str, error: sqlx::Error) -> RunWideError {
        RunWideError::Backend {
            name: self.name.clone(),
            place: self.place.clone(),
            action,
            source: error.into(),
        }
    }

    pub(super) async fn is_done(&mut self, name: &str, run_id: &str) -> Result<bool, RunWideError> {
        let done: Option<(i32,)> =
            sqlx::query_as("SELECT 1 FROM ownership_runwide_done WHERE name = $1 AND run_id = $2")
                .bind(name)
                .bind(run_id)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|error| self.failed("read the table ownership_runwide_done", error))?;
        Ok(done.is_some())
    }

    pub(super) async fn mark_done(&mut self, name: &str, run_id: &str) -> Result<(), RunWideError> {
        sqlx::query("INSERT INTO ownership_runwide_done (name, run_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(run_id)
            .execute(&mut self.connection)
            .await
            .map_err(|error| self.failed("mark the setup done", error))?;
        Ok(())
    }

    /// Unlocks and closes the connection (closing alone would unlock too).
    pub(super) async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(lock_key(&self.name))
            .execute(&mut self.connection)
            .await;
        let _ = self.connection.close().await;
    }
}
