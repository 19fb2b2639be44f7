//! A rollback sandbox's migrations (PostgreSQL, MySQL/MariaDB): applied once per test run,
//! whoever asks first, across the sandboxes, binaries, checkouts and machines that share
//! the database.
//!
//! What a process does, at its first checkout:
//! 1. if an earlier process of this run, on this machine, saw every migration applied
//!    (a run-wide note: nextest's `NEXTEST_RUN_ID` names the run), nothing;
//! 2. else it reads the migrations table on the pooled connection its first checkout then
//!    takes: every migration applied, unchanged and finished, and it is done;
//! 3. else, on a connection of its own, it takes the database's migrations lock on the
//!    server (named after the database and the migrations table, never after a sandbox's
//!    label; waited for at most `SandboxBuilder::migrations_wait`), reads the table again, and applies
//!    what is missing. Closing that connection releases every session lock it took, also
//!    when a migration failed half-way: no pooled connection ever holds one.
//!
//! A migration marked unfinished (`success = false`: MySQL commits DDL as it goes, so a
//! migration that failed half-way leaves that mark) and a migration changed since it was
//! applied fail every checkout, naming the migration and the fix, instead of letting
//! tests run on a broken schema.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ownership_runtime::runwide::{RunWide, stable_hash};
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Pool};

use crate::backend::SandboxDatabase;
use crate::error::{MigrationsProblem, SandboxError};
use crate::reach::{AcquireError, Reach};
use crate::url::DatabaseUrl;

/// How long a process waits for another one's migrations of the same database, unless
/// [`SandboxBuilder::migrations_wait`](crate::SandboxBuilder::migrations_wait) says.
///
/// ```
/// assert_eq!(sandbox_sqlx::MIGRATIONS_WAIT.as_secs(), 600);
/// ```
pub const MIGRATIONS_WAIT: Duration = ownership_runtime::runwide::DEFAULT_TIMEOUT;

/// Where the migrations stand on a database.
enum Applied {
    /// Every migration is applied, unchanged, and finished.
    All,
    /// Some are missing (or the table can't be read: the migrator sees to it).
    Pending,
    /// This one is marked unfinished.
    Unfinished(i64),
    /// This one was changed since it was applied.
    Changed(i64),
}

/// A sandbox's database and migrations, and what its first checkout leaves.
pub(crate) struct Migrations<DB: SandboxDatabase> {
    pub(crate) label: Arc<str>,
    pub(crate) pool: Pool<DB>,
    pub(crate) url: DatabaseUrl,
    pub(crate) migrator: &'static Migrator,
    /// How long to wait for another process's migrations.
    pub(crate) wait: Duration,
    pub(crate) reach: Arc<Reach>,
    /// Where the pooled connection of the check is left, for the first checkout.
    pub(crate) spare: Arc<Mutex<Option<PoolConnection<DB>>>>,
}

impl<DB: SandboxDatabase> Migrations<DB> {
    /// Whether this machine noted every migration applied in this run: then there is
    /// nothing to check (no connection, no lock, no hop to the background runtime).
    pub(crate) fn noted_applied(&self) -> bool {
        RunWide::file().noted_done(&self.setup_name())
    }

    /// Sees that every migration is applied (see the [module docs](self)), once
    /// [`Migrations::noted_applied`] said it isn't known. Run it on the background
    /// runtime.
    pub(crate) async fn ensure_applied(self) -> Result<(), SandboxError> {
        let notes = RunWide::file();
        let name = self.setup_name();
        let mut connection = match self.reach.acquire(&self.pool, &self.url).await {
            Ok(connection) => connection,
            Err(AcquireError::Unreachable(failure)) => {
                return Err(SandboxError::Unreachable {
                    label: self.label.to_string(),
                    failure,
                });
            }
            Err(AcquireError::Pool(source)) => {
                return Err(self.failed(MigrationsProblem::Database {
                    context: "could not get a connection to check them",
                    source,
                }));
            }
        };
        let applied = self.applied(&mut connection).await;
        *self.spare.lock().unwrap_or_else(PoisonError::into_inner) = Some(connection);
        if !matches!(applied, Applied::All) {
            self.apply_locked()
                .await
                .map_err(|problem| self.failed(problem))?;
        }
        // A note that can't be written costs later processes a check, nothing more.
        let _ = notes.note_done(&name);
        Ok(())
    }

    /// Applies what is missing under the database's migrations lock, on a connection of
    /// its own, closed after (which releases the lock whatever happened).
    async fn apply_locked(&self) -> Result<(), MigrationsProblem> {
        let options = self.pool.connect_options();
        let mut connection = DB::Connection::connect_with(&*options)
            .await
            .map_err(|source| MigrationsProblem::Database {
                context: "could not open a connection to migrate on",
                source,
            })?;
        let outcome = self.apply_on(&mut connection).await;
        let _ = connection.close().await;
        outcome
    }

    async fn apply_on(&self, connection: &mut DB::Connection) -> Result<(), MigrationsProblem> {
        let table = &*self.migrator.table_name;
        let started = Instant::now();
        let locked = DB::lock_migrations(connection, table, self.wait)
            .await
            .map_err(|source| MigrationsProblem::Database {
                context: "could not take the migrations lock",
                source,
            })?;
        if !locked {
            let holder = DB::migrations_lock_holder(connection, table)
                .await
                .ok()
                .flatten()
                .map(|holder| format!(", held by {holder}"))
                .unwrap_or_default();
            return Err(MigrationsProblem::LockTimeout {
                waited: started.elapsed(),
                holder,
            });
        }
        match self.applied(connection).await {
            Applied::All => Ok(()),
            Applied::Unfinished(version) => Err(self.unfinished(version)),
            Applied::Changed(version) => Err(self.changed(version)),
            // `run_direct` is `run` on a connection: `run` takes an `Acquire`, which a
            // generic `&mut DB::Connection` can't name.
            Applied::Pending => self
                .migrator
                .run_direct(None, connection, false)
                .await
                .map_err(|error| match error {
                    MigrateError::Dirty(version) => self.unfinished(version),
                    MigrateError::VersionMismatch(version) => self.changed(version),
                    error => MigrationsProblem::Failed(error),
                }),
        }
    }

    /// Where the migrations stand on the connection's database.
    async fn applied(&self, connection: &mut DB::Connection) -> Applied {
        let table = &*self.migrator.table_name;
        // `Err`: no table yet, most likely; the migrator makes it.
        if let Ok(Some(version)) = connection.dirty_version(table).await {
            return Applied::Unfinished(version);
        }
        let Ok(applied) = connection.list_applied_migrations(table).await else {
            return Applied::Pending;
        };
        let mut missing = false;
        for migration in self.up_migrations() {
            match applied
                .iter()
                .find(|done| done.version == migration.version)
            {
                Some(done) if done.checksum != migration.checksum => {
                    return Applied::Changed(migration.version);
                }
                Some(_) => {}
                None => missing = true,
            }
        }
        if missing {
            Applied::Pending
        } else {
            Applied::All
        }
    }

    fn up_migrations(&self) -> impl Iterator<Item = &sqlx::migrate::Migration> {
        self.migrator
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
    }

    fn description(&self, version: i64) -> String {
        self.up_migrations()
            .find(|migration| migration.version == version)
            .map(|migration| migration.description.to_string())
            .unwrap_or_else(|| "not among this sandbox's migrations".to_owned())
    }

    fn unfinished(&self, version: i64) -> MigrationsProblem {
        MigrationsProblem::PartiallyApplied {
            version,
            description: self.description(version),
            table: self.migrator.table_name.to_string(),
        }
    }

    fn changed(&self, version: i64) -> MigrationsProblem {
        MigrationsProblem::Changed {
            version,
            description: self.description(version),
            table: self.migrator.table_name.to_string(),
        }
    }

    fn failed(&self, problem: MigrationsProblem) -> SandboxError {
        SandboxError::Migrate {
            label: self.label.to_string(),
            database: format!("{}{}", self.url.redacted(), self.url.origin()),
            problem,
        }
    }

    /// The run-wide note's name: a hash of what the migrations depend on (the URL, the
    /// table, every migration's version and checksum), never a sandbox's label; the URL
    /// may hold a password, and the name ends up in a file name.
    fn setup_name(&self) -> String {
        use std::fmt::Write as _;
        let mut identity = format!("{}\n{}", self.url.as_str(), self.migrator.table_name);
        for migration in self.migrator.iter() {
            let _ = write!(
                identity,
                "\n{} {:?}",
                migration.version, &*migration.checksum
            );
        }
        format!("sandbox-sqlx migrations {:016x}", stable_hash(&identity))
    }
}
