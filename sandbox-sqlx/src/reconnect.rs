//! A checked-out connection that the server closed while it sat idle in the pool (an idle
//! timeout, an administrator's kill, a restart) fails no test. A checkout sends nothing,
//! so the connection's first round trip for it (the sandbox's `BEGIN`; on an unsandboxed
//! checkout, whose first statement is the test's own, a ping) goes out before anything of
//! the test's. When that round trip finds the connection closed, the sandbox closes it for
//! good (it never goes back to the pool), takes another from the sandbox's pool, on the
//! background runtime, and sends the round trip again, once. Any other error (a database
//! error, a refused `BEGIN`) is the test's to see.

use std::sync::Arc;

use ownership_runtime::ActorId;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Pool};

use crate::conn::Slot;
use crate::error::SandboxError;

/// Where a checkout's connection came from, to replace it (see the module docs).
pub(crate) struct Replacement<DB: Database> {
    /// The sandbox's pool.
    pub(crate) pool: Pool<DB>,
    /// The sandbox's label, for the error if no other connection can be had.
    pub(crate) label: Arc<str>,
    /// The connection's owner, for that error.
    pub(crate) owner: ActorId,
}

/// Whether `error` says that the connection is gone, rather than that a statement failed:
/// an I/O error (end of file, reset, broken pipe), a protocol error about a closed
/// connection, a crashed SQLite worker, or the server's word that it ended the session
/// (PostgreSQL's `FATAL` errors, such as "terminating connection due to administrator
/// command"; MySQL's and MariaDB's "connection was killed", "server shutdown in progress",
/// "disconnected by the server because of inactivity").
pub(crate) fn is_closed(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(message) => message.to_lowercase().contains("connection closed"),
        sqlx::Error::Database(error) => session_ended(error.as_ref()),
        _ => false,
    }
}

/// Whether a database error is the server ending the session.
fn session_ended(error: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(error) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        use sqlx::postgres::PgSeverity;
        return matches!(error.severity(), PgSeverity::Fatal | PgSeverity::Panic);
    }
    #[cfg(feature = "mysql")]
    if let Some(error) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED (MariaDB), ER_CLIENT_INTERACTION_TIMEOUT
        // (MySQL 8).
        return matches!(error.number(), 1053 | 1927 | 4031);
    }
    let _ = error;
    false
}

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
    let acquired = match ownership_runtime::background::handle() {
        Ok(runtime) => runtime
            .spawn(async move {
                if let Some(closed) = closed {
                    drop(closed.detach());
                }
                live_connection(&pool).await
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|acquired| acquired.map_err(|error| error.to_string())),
        Err(message) => Err(message),
    };
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
                cause,
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

#[cfg(test)]
mod tests {
    use super::is_closed;
    use sqlx::{Connection, Executor};
    use std::io;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A statement's error leaves the connection in place; the server ending the session
    /// (PostgreSQL's `FATAL`), and the closed connection after it, call for a replacement.
    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_ending_the_session_calls_for_a_replacement_and_a_failed_statement_does_not() {
        if !ownership_e2e::postgres_available("reconnect::tests::postgres_ending_the_session") {
            return;
        }
        runtime().block_on(async {
            let url = ownership_e2e::postgres_url();
            let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
            for failing in [
                "SELEC 1",
                "SELECT 1 / 0",
                "SELECT * FROM sandbox_no_such_table",
            ] {
                let failed = connection.execute(failing).await.unwrap_err();
                assert!(!is_closed(&failed), "{failing}: {failed}");
            }
            let ended = connection
                .execute("SELECT pg_terminate_backend(pg_backend_pid())")
                .await
                .unwrap_err();
            assert!(is_closed(&ended), "{ended}");
            let after = connection.execute("SELECT 1").await.unwrap_err();
            assert!(is_closed(&after), "{after}");
        });
    }

    /// The same on MySQL/MariaDB: a `KILL` of the session ends it.
    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_ending_the_session_calls_for_a_replacement_and_a_failed_statement_does_not() {
        if !ownership_e2e::mysql_available("reconnect::tests::mysql_ending_the_session") {
            return;
        }
        runtime().block_on(async {
            let url = ownership_e2e::mysql_url();
            let mut connection = sqlx::MySqlConnection::connect(&url).await.unwrap();
            for failing in ["SELEC 1", "SELECT * FROM sandbox_no_such_table"] {
                let failed = connection.execute(failing).await.unwrap_err();
                assert!(!is_closed(&failed), "{failing}: {failed}");
            }
            let id: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
                .fetch_one(&mut connection)
                .await
                .unwrap();
            let kill = sqlx::AssertSqlSafe(format!("KILL {id}"));
            let ended = sqlx::raw_sql(kill).execute(&mut connection).await;
            if let Err(ended) = ended {
                assert!(is_closed(&ended), "{ended}");
            }
            let after = connection.execute("SELECT 1").await.unwrap_err();
            assert!(is_closed(&after), "{after}");
        });
    }

    #[test]
    fn only_errors_that_say_the_connection_is_gone_call_for_a_replacement() {
        for closed in [
            sqlx::Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "0 bytes at EOF",
            )),
            sqlx::Error::Io(io::ErrorKind::ConnectionReset.into()),
            sqlx::Error::Io(io::ErrorKind::BrokenPipe.into()),
            sqlx::Error::Protocol("Connection closed by the server".to_owned()),
            sqlx::Error::WorkerCrashed,
        ] {
            assert!(is_closed(&closed), "{closed}");
        }
        for failed in [
            sqlx::Error::RowNotFound,
            sqlx::Error::PoolTimedOut,
            sqlx::Error::BeginFailed,
            sqlx::Error::Protocol("unexpected message".to_owned()),
        ] {
            assert!(!is_closed(&failed), "{failed}");
        }
    }
}
