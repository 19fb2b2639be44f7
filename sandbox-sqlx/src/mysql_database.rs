//! A MySQL/MariaDB database of its own for a test that takes `(MySqlPoolOptions,
//! MySqlConnectOptions)`, where nothing is rolled back and the test connects as it likes:
//! made on the sandbox's server, migrated with the sandbox's migrations (MySQL has no
//! template databases to copy, so each such database is migrated, as `#[sqlx::test]`
//! does), and dropped when the test ends.
//!
//! Its name is one of [`leftovers`]' (`sandbox_own_test_<host>_<pid>_<started>_<n>`), so
//! that the first such test of a process drops what this host's processes left when they
//! died before dropping theirs; another host's and a running process's are never
//! touched.

use std::sync::atomic::{AtomicBool, Ordering};

use ownership_runtime::background;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::error::SandboxError;
use crate::leftovers;
use crate::state::State;

/// What the names of these databases start with.
const PREFIX: &str = "sandbox_own_";

/// The kinds of [`leftovers`] names these databases have.
const KINDS: [&str; 1] = ["test"];

/// What a test is told when its database could not be made.
const MAKING: &str = "could not make the test's own database (the tests' user needs the \
     right to create databases: `GRANT CREATE, DROP ON *.* TO ..`)";

/// A test's own database, until the test ends.
pub(crate) struct OwnDatabase {
    label: String,
    /// The server, as the sandbox connects to it.
    server: MySqlConnectOptions,
    name: String,
}

impl OwnDatabase {
    /// Makes and migrates a database for a test on `state`'s server; returns it and the
    /// options that connect to it.
    pub(crate) async fn make(
        state: &State<sqlx::MySql>,
    ) -> Result<(OwnDatabase, MySqlConnectOptions), SandboxError> {
        let label = state.label.to_string();
        let server = (*state.pool.connect_options()).clone();
        let name = format!("{PREFIX}{}", leftovers::fresh_name(KINDS[0], '_'));
        let options = server.clone().database(&name);
        let own = OwnDatabase {
            label: label.clone(),
            server: server.clone(),
            name: name.clone(),
        };
        let (migrator, to_migrate) = (state.migrator, options.clone());
        let made = background::run(async move {
            let mut admin = MySqlConnection::connect_with(&server).await?;
            static SWEPT: AtomicBool = AtomicBool::new(false);
            if !SWEPT.swap(true, Ordering::SeqCst) {
                sweep_dead(&mut admin).await;
            }
            let created = admin
                .execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                .await;
            let _ = admin.close().await;
            created?;
            if let Some(migrator) = migrator {
                let mut connection = MySqlConnection::connect_with(&to_migrate).await?;
                // `run` takes an `Acquire`, which a connection moved into a spawned future isn't
                // general enough for; `run_direct` is `run` on a connection.
                let migrated = migrator.run_direct(None, &mut connection, false).await;
                let _ = connection.close().await;
                migrated.map_err(|error| sqlx::Error::Migrate(Box::new(error)))?;
            }
            Ok::<(), sqlx::Error>(())
        })
        .await
        .map_err(|source| SandboxError::Background {
            label: label.clone(),
            source,
        })?;
        match made {
            Ok(()) => Ok((own, options)),
            Err(source) => {
                // What was made of it goes.
                let _ = own.drop_now().await;
                Err(SandboxError::Database {
                    label,
                    context: MAKING,
                    source,
                })
            }
        }
    }

    /// Drops the database (also when the test still holds connections to it: they are
    /// killed first).
    pub(crate) async fn drop_now(self) -> Result<(), SandboxError> {
        let OwnDatabase {
            label,
            server,
            name,
        } = self;
        let dropped = background::run(async move {
            let mut admin = MySqlConnection::connect_with(&server).await?;
            let dropped = drop_database(&mut admin, &name).await;
            let _ = admin.close().await;
            dropped
        })
        .await
        .map_err(|source| SandboxError::Background {
            label: label.clone(),
            source,
        })?;
        dropped.map_err(|source| SandboxError::Database {
            label,
            context: "could not drop the test's own database",
            source,
        })
    }
}

/// Kills the connections to `name` that are left, then drops it.
async fn drop_database(admin: &mut MySqlConnection, name: &str) -> Result<(), sqlx::Error> {
    let left: Vec<u64> = sqlx::query_scalar(
        "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ? \
         AND id <> CONNECTION_ID()",
    )
    .bind(name)
    .fetch_all(&mut *admin)
    .await?;
    for id in left {
        // Gone already, or another user's: the drop says what matters.
        let _ = admin.execute(AssertSqlSafe(format!("KILL {id}"))).await;
    }
    admin
        .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
        .await
        .map(drop)
}

/// Drops the databases that processes of this host left when they died. Best effort: what
/// it can't list or drop waits for a later sweep.
async fn sweep_dead(admin: &mut MySqlConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
         WHERE schema_name LIKE 'sandbox\\_own\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    for name in names {
        if name
            .strip_prefix(PREFIX)
            .is_some_and(|rest| leftovers::left_by_the_dead(rest, &KINDS, '_'))
        {
            let _ = drop_database(admin, &name).await;
        }
    }
}
