//! Whether an sqlx error says that the connection is gone (the server closed it, or
//! ended the session), rather than that a statement failed; and the SQLSTATE of a
//! database error.

/// The SQLSTATE code of a database error (`"25P02"`), if `error` is one.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    let code = error.as_database_error()?.code()?;
    Some(code.into_owned())
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
