//! [`TemplateDatabase`]: a PostgreSQL database of its own for each test, made with
//! `CREATE DATABASE .. TEMPLATE` from a template migrated once per run. For apps that hold
//! a concrete `PgPool` and can't take a [`SandboxPool`](crate::SandboxPool): far cheaper
//! than migrating a database per test (as `#[sqlx::test]` does), dearer than a sandbox
//! transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ownership_runtime::runwide::RunWide;
use ownership_runtime::{ActorId, Ownership, OwnershipError, callers};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use tokio::sync::OnceCell;

use crate::error::SandboxError;
use crate::hook::{self, AnySandbox};

/// Per-test PostgreSQL databases from a migrated template.
///
/// Each test's database belongs to the test's actor: it is dropped (`DROP DATABASE ..
/// WITH (FORCE)`, in the background: PostgreSQL checkpoints on every drop, about 0.1 s,
/// which tests should not wait for) when the test ends. In nextest's process-per-test
/// mode, where the process exits right after its test, the harness hook sends the drop
/// before the test ends, on the connection that made the database, and waits only for
/// it to leave (the server completes it after the process is gone).
///
/// The template is made once per run (under a run-wide lock, and marked with the run's
/// id, so that each process checks it on the connection that makes its test's database,
/// without the lock). Making it first sweeps the databases whose creating process no
/// longer runs on this machine: a crashed run's, a drop that never left, a background
/// drop cut short at the end of a run. On a server shared by several machines, run
/// [`TemplateDatabase::sweep_all`] between runs (a CI step) to drop every leftover.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use sandbox_sqlx::TemplateDatabase;
///
/// static DATABASES: LazyLock<TemplateDatabase> =
///     LazyLock::new(|| TemplateDatabase::new("app", "postgres://root@127.0.0.1/test"));
///
/// # async fn test() -> Result<(), sandbox_sqlx::SandboxError> {
/// // In an owned test: a pool on a fresh, migrated database of the test's own.
/// let pool: sqlx::PgPool = DATABASES.pool().await?;
/// # Ok(()) }
/// ```
pub struct TemplateDatabase {
    label: String,
    url: String,
    migrator: Option<&'static Migrator>,
    template: OnceCell<()>,
    databases: Ownership<(), Arc<TestDatabase>>,
    /// Whether this process has started its sweep of leftovers.
    /// Registered with the harness hook, which drops each test's database when it ends.
    _cleanup: Arc<Cleanup>,
}

/// Ends each test's database with the test: in the background when the process runs on
/// (`cargo test`); when it runs one test and exits (nextest's process-per-test mode, told
/// by `NEXTEST_EXECUTION_MODE`), by sending the `DROP DATABASE` before the test ends
/// without waiting for its checkpoint: the server finishes it after the process is gone.
struct Cleanup {
    databases: Ownership<(), Arc<TestDatabase>>,
}

/// Whether this process runs a single test (nextest).
fn process_per_test() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test")
}

impl AnySandbox for Cleanup {
    fn checkin_blocking(&self, owner: ActorId) -> Option<String> {
        let database = self.databases.metadata(owner, &())?;
        self.databases.cleanup_owner(owner);
        if !process_per_test() {
            return None; // dropped in the background with its last reference
        }
        let runtime = match ownership_runtime::background::handle() {
            Ok(runtime) => runtime,
            Err(message) => return Some(message),
        };
        runtime.block_on(database.send_drop()).err().map(|error| {
            format!(
                "could not drop the test's database {}: {error}",
                database.name
            )
        })
    }
}

/// One test's database: dropped with the last reference (when its test ends).
struct TestDatabase {
    name: String,
    url: String,
    pool: PgPool,
    /// The connection that made the database, kept to drop it without connecting again.
    admin: tokio::sync::Mutex<Option<PgConnection>>,
    dropped: AtomicBool,
}

/// How long a process that is about to exit waits for its `DROP DATABASE`: long enough
/// for the statement to reach the server, which then completes it on its own (PostgreSQL
/// doesn't watch for a client gone mid-statement), not for the checkpoint a drop forces.
const DROP_SENT: std::time::Duration = std::time::Duration::from_millis(20);

impl TestDatabase {
    /// Sends the drop of the database (`WITH (FORCE)` ends the test's connections), and
    /// waits at most [`DROP_SENT`] for it. A drop that never reached the server is
    /// swept by a later process (its creator is gone).
    async fn send_drop(&self) -> Result<(), sqlx::Error> {
        self.dropped.store(true, Ordering::SeqCst);
        let admin = self.admin.lock().await.take();
        let mut admin = match admin {
            Some(admin) => admin,
            None => PgConnection::connect(&self.url).await?,
        };
        let dropped = admin.execute(AssertSqlSafe(drop_statement(&self.name)));
        match tokio::time::timeout(DROP_SENT, dropped).await {
            Ok(done) => done.map(|_| ()),
            Err(_) => Ok(()), // sent; the server finishes it
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped.load(Ordering::SeqCst) {
            return;
        }
        let (pool, name, url) = (self.pool.clone(), self.name.clone(), self.url.clone());
        let admin = self.admin.get_mut().take();
        if let Ok(runtime) = ownership_runtime::background::handle() {
            runtime.spawn(async move {
                pool.close().await;
                let admin = match admin {
                    Some(admin) => Ok(admin),
                    None => PgConnection::connect(&url).await,
                };
                if let Ok(mut admin) = admin {
                    let _ = admin.execute(AssertSqlSafe(drop_statement(&name))).await;
                    let _ = admin.close().await;
                }
            });
        }
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Database names: letters, digits and `_`, lower case.
fn identifier(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl TemplateDatabase {
    /// Per-test databases labelled `label` (their names start with `sandbox_<label>_`) on
    /// the server at `url` (its user must be allowed to create databases).
    ///
    /// ```no_run
    /// use sandbox_sqlx::TemplateDatabase;
    ///
    /// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
    /// let databases = TemplateDatabase::new("Orders-App", "postgres://root@127.0.0.1/test");
    /// // In an owned test:
    /// let pool = databases.pool().await?;
    /// let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await?;
    /// assert!(name.starts_with("sandbox_orders_app_"));
    /// # Ok(()) }
    /// ```
    pub fn new(label: impl Into<String>, url: impl Into<String>) -> TemplateDatabase {
        let databases = Ownership::new();
        let cleanup = Arc::new(Cleanup {
            databases: databases.clone(),
        });
        hook::register_any(cleanup.clone());
        TemplateDatabase {
            label: label.into(),
            url: url.into(),
            migrator: None,
            template: OnceCell::new(),
            databases,
            _cleanup: cleanup,
        }
    }

    /// Migrations to apply to the template (once per run).
    ///
    /// ```no_run
    /// use std::sync::LazyLock;
    /// use sandbox_sqlx::TemplateDatabase;
    /// use sqlx::migrate::Migrator;
    ///
    /// // In an app, `sqlx::migrate!()`.
    /// static MIGRATOR: Migrator = Migrator::DEFAULT;
    /// static DATABASES: LazyLock<TemplateDatabase> = LazyLock::new(|| {
    ///     TemplateDatabase::new("app", "postgres://root@127.0.0.1/test").migrations(&MIGRATOR)
    /// });
    ///
    /// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
    /// // Each test's database is a copy of the migrated template: no migration runs here.
    /// let pool = DATABASES.pool().await?;
    /// let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
    ///     .fetch_one(&pool)
    ///     .await?;
    /// assert_eq!(usize::try_from(applied)?, MIGRATOR.iter().count());
    /// # Ok(()) }
    /// ```
    pub fn migrations(mut self, migrator: &'static Migrator) -> TemplateDatabase {
        self.migrator = Some(migrator);
        self
    }

    fn prefix(&self) -> String {
        format!("sandbox_{}_", identifier(&self.label))
    }

    fn template_name(&self) -> String {
        format!("{}template", self.prefix())
    }

    fn failed(&self, context: &'static str) -> impl Fn(sqlx::Error) -> SandboxError + '_ {
        move |source| SandboxError::Database {
            label: self.label.clone(),
            context,
            source,
        }
    }

    /// The pool of the current test's own database, made on first use (the test is the
    /// innermost actor of [`callers()`](ownership_runtime::callers())). Later calls in
    /// the same test return the same database.
    ///
    /// # Errors
    ///
    /// No actor; the template or the database could not be made.
    ///
    /// ```no_run
    /// # use sandbox_sqlx::TemplateDatabase;
    /// # async fn test(databases: TemplateDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = databases.pool().await?;
    /// sqlx::query("CREATE TABLE notes (body TEXT)").execute(&pool).await?;
    /// // Later calls in the same test get the same database, table and all.
    /// let again = databases.pool().await?;
    /// let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
    ///     .fetch_one(&again)
    ///     .await?;
    /// assert_eq!(notes, 0);
    /// # Ok(()) }
    /// ```
    pub async fn pool(&self) -> Result<PgPool, SandboxError> {
        let chain = callers();
        if let Some(found) = self.databases.fetch_owner(&chain, &())
            && let Some(database) = self.databases.metadata(found.id(), &())
        {
            return Ok(database.pool.clone());
        }
        let actor = *chain.first().ok_or_else(|| SandboxError::NoActor {
            label: self.label.clone(),
        })?;
        let runtime =
            ownership_runtime::background::handle().map_err(|message| SandboxError::Runtime {
                label: self.label.clone(),
                message,
            })?;
        let name = {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            format!(
                "{}test_{}_{}",
                self.prefix(),
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        };
        // The run's template is usually there already (this process, or another of the
        // run, made it): checked on the connection that makes the test's database, with no
        // run-wide lock. Otherwise it is made, once per run, and the database made again.
        let mut made = None;
        for check in [!self.template.initialized(), false] {
            let (url, template, database_name) =
                (self.url.clone(), self.template_name(), name.clone());
            let attempt = runtime
                .spawn(make_database(url, template, database_name, check))
                .await;
            match attempt {
                Ok(Ok(None)) => self.template().await?,
                other => {
                    made = Some(other);
                    break;
                }
            }
        }
        let made = made.unwrap_or_else(|| Ok(Ok(None)));
        let (pool, admin) = match made {
            Ok(Ok(Some(made))) => {
                let _ = self.template.set(()); // checked: no need to look again
                made
            }
            Ok(Ok(None)) => {
                return Err(SandboxError::Migrations {
                    label: self.label.clone(),
                    message: format!(
                        "the template database {} is not this run's, even after making it",
                        self.template_name()
                    ),
                });
            }
            Ok(Err(error)) => return Err(self.failed("could not make the test's database")(error)),
            Err(error) => {
                return Err(SandboxError::Runtime {
                    label: self.label.clone(),
                    message: error.to_string(),
                });
            }
        };
        let database = Arc::new(TestDatabase {
            name,
            url: self.url.clone(),
            pool: pool.clone(),
            admin: tokio::sync::Mutex::new(Some(admin)),
            dropped: AtomicBool::new(false),
        });
        match self.databases.get_and_update(actor, (), |_| ((), database)) {
            Ok(()) => Ok(pool),
            Err(OwnershipError::ActorDown { .. }) => Err(SandboxError::OwnerEnded {
                label: self.label.clone(),
                actor,
            }),
            Err(error) => Err(SandboxError::Runtime {
                label: self.label.clone(),
                message: error.to_string(),
            }),
        }
    }

    /// Makes the template once per run (across processes), sweeping leftovers first.
    async fn template(&self) -> Result<(), SandboxError> {
        self.template
            .get_or_try_init(|| async {
                let runtime = ownership_runtime::background::handle().map_err(|message| {
                    SandboxError::Runtime {
                        label: self.label.clone(),
                        message,
                    }
                })?;
                let (url, template, prefix, migrator) = (
                    self.url.clone(),
                    self.template_name(),
                    self.prefix(),
                    self.migrator,
                );
                let name = format!("sandbox-sqlx template database {template}");
                let made = runtime
                    .spawn(async move {
                        RunWide::postgres(&url)
                            .once(&name, || {
                                make_template(
                                    url.clone(),
                                    template.clone(),
                                    prefix.clone(),
                                    migrator,
                                )
                            })
                            .await
                            .map(|_| ())
                            .map_err(|error| error.to_string())
                    })
                    .await;
                match made {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(message)) => Err(SandboxError::Migrations {
                        label: self.label.clone(),
                        message,
                    }),
                    Err(error) => Err(SandboxError::Runtime {
                        label: self.label.clone(),
                        message: error.to_string(),
                    }),
                }
            })
            .await
            .map(|_| ())
    }

    /// Drops every database of this label: the template and all per-test databases,
    /// whoever made them. Run it between test runs on a shared server.
    ///
    /// # Errors
    ///
    /// The database's.
    ///
    /// ```no_run
    /// use sandbox_sqlx::TemplateDatabase;
    ///
    /// # async fn ci_step() -> Result<(), sandbox_sqlx::SandboxError> {
    /// let databases = TemplateDatabase::new("app", "postgres://root@127.0.0.1/test");
    /// let dropped = databases.sweep_all().await?;
    /// println!("dropped {dropped} databases left by earlier runs");
    /// assert_eq!(databases.sweep_all().await?, 0); // nothing is left
    /// # Ok(()) }
    /// ```
    pub async fn sweep_all(&self) -> Result<usize, SandboxError> {
        let mut admin = PgConnection::connect(&self.url)
            .await
            .map_err(self.failed("could not connect"))?;
        let names = databases_with_prefix(&mut admin, &self.prefix())
            .await
            .map_err(self.failed("could not list databases"))?;
        for name in &names {
            admin
                .execute(AssertSqlSafe(drop_statement(name)))
                .await
                .map_err(self.failed("could not drop a database"))?;
        }
        let _ = admin.close().await;
        Ok(names.len())
    }
}

async fn databases_with_prefix(
    admin: &mut PgConnection,
    prefix: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(prefix)
        .fetch_all(admin)
        .await
}

/// Drops the per-test databases whose creating process no longer runs on this machine.
async fn sweep_dead(admin: &mut PgConnection, prefix: &str) -> Result<(), sqlx::Error> {
    let tests = format!("{prefix}test_");
    for name in databases_with_prefix(admin, &tests).await? {
        let pid = name[tests.len()..]
            .split('_')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok());
        // A name that doesn't parse is not ours to drop.
        let gone = pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            admin.execute(AssertSqlSafe(drop_statement(&name))).await?;
        }
    }
    Ok(())
}

/// Sweeps leftovers of crashed runs, then makes the template anew and migrates it.
/// The comment that marks a template as the current run's.
fn run_mark() -> String {
    format!(
        "sandbox-sqlx template of run {}",
        ownership_runtime::runwide::current_run_id()
    )
}

/// Makes a test's database from the template: its pool, and the connection that made
/// it. With `check`, first checks that the template is the current run's: `None` if not.
async fn make_database(
    url: String,
    template: String,
    name: String,
    check: bool,
) -> Result<Option<(PgPool, PgConnection)>, sqlx::Error> {
    let mut admin = PgConnection::connect(&url).await?;
    if check {
        let mark: Option<Option<String>> = sqlx::query_scalar(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
        )
        .bind(&template)
        .fetch_optional(&mut admin)
        .await?;
        if mark.flatten() != Some(run_mark()) {
            return Ok(None);
        }
    }
    admin
        .execute(AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        )))
        .await?;
    let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(options);
    Ok(Some((pool, admin)))
}

async fn make_template(
    url: String,
    template: String,
    prefix: String,
    migrator: Option<&'static Migrator>,
) -> Result<(), sqlx::Error> {
    let (url, template, prefix) = (url.as_str(), template.as_str(), prefix.as_str());
    let mut admin = PgConnection::connect(url).await?;
    sweep_dead(&mut admin, prefix).await?;
    admin
        .execute(AssertSqlSafe(drop_statement(template)))
        .await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{template}\"")))
        .await?;
    admin.close().await?;
    if let Some(migrator) = migrator {
        let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.database(template);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        migrator.run(&pool).await?;
        // `CREATE DATABASE .. TEMPLATE` needs the template to have no sessions.
        pool.close().await;
    }
    // Complete: marked as this run's, for processes that look before taking the run-wide
    // lock.
    let mut admin = PgConnection::connect(url).await?;
    let mark = run_mark().replace('\'', "''");
    admin
        .execute(AssertSqlSafe(format!(
            "COMMENT ON DATABASE \"{template}\" IS '{mark}'"
        )))
        .await?;
    admin.close().await
}
