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
/// which tests should not wait for) when the test ends; in nextest's process-per-test
/// mode, where the process exits right after its test, the harness hook drops it before
/// the test ends instead. Every process, when it first makes a database, also sweeps in
/// the background the databases whose creating process no longer runs on this machine
/// (a crashed run's); what a background drop cut short at the very end of a run is swept
/// by the next run, when it makes its template. On a server shared by several machines, run [`TemplateDatabase::sweep_all`]
/// between runs (a CI step) to drop every leftover.
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
    swept: AtomicBool,
    /// Registered with the harness hook, which drops each test's database when it ends.
    _cleanup: Arc<Cleanup>,
}

/// Ends each test's database with the test: in the background when the process runs on
/// (`cargo test`), at once when it runs one test and exits (nextest's process-per-test
/// mode, told by `NEXTEST_EXECUTION_MODE`), so that no drop is cut short.
struct Cleanup {
    databases: Ownership<(), Arc<TestDatabase>>,
}

/// Whether this process runs a single test (nextest).
fn process_per_test() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test")
}

impl AnySandbox for Cleanup {
    fn set_shared(&self, _: Option<ActorId>) {}

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
        runtime.block_on(database.drop_now()).err().map(|error| {
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
    dropped: AtomicBool,
}

impl TestDatabase {
    /// Closes the pool and drops the database, now.
    async fn drop_now(&self) -> Result<(), sqlx::Error> {
        self.dropped.store(true, Ordering::SeqCst);
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.url).await?;
        admin
            .execute(AssertSqlSafe(drop_statement(&self.name)))
            .await?;
        admin.close().await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped.load(Ordering::SeqCst) {
            return;
        }
        let (pool, name, url) = (self.pool.clone(), self.name.clone(), self.url.clone());
        if let Ok(runtime) = ownership_runtime::background::handle() {
            runtime.spawn(async move {
                pool.close().await;
                if let Ok(mut admin) = PgConnection::connect(&url).await {
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
            swept: AtomicBool::new(false),
            _cleanup: cleanup,
        }
    }

    /// Migrations to apply to the template (once per run).
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
        self.template().await?;
        if !self.swept.swap(true, Ordering::SeqCst) {
            // Each process sweeps, in the background, what processes before it left: a
            // process that ran one test (nextest) may exit before its drop completes.
            let (url, prefix) = (self.url.clone(), self.prefix());
            runtime.spawn(async move {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    let _ = sweep_dead(&mut admin, &prefix).await;
                    let _ = admin.close().await;
                }
            });
        }
        let name = {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            format!(
                "{}test_{}_{}",
                self.prefix(),
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        };
        let (url, template, database_name) = (self.url.clone(), self.template_name(), name.clone());
        let made = runtime
            .spawn(async move {
                let mut admin = PgConnection::connect(&url).await?;
                admin
                    .execute(AssertSqlSafe(format!(
                        "CREATE DATABASE \"{database_name}\" TEMPLATE \"{template}\""
                    )))
                    .await?;
                admin.close().await?;
                let options: PgConnectOptions =
                    url.parse::<PgConnectOptions>()?.database(&database_name);
                Ok::<_, sqlx::Error>(
                    PgPoolOptions::new()
                        .max_connections(4)
                        .connect_lazy_with(options),
                )
            })
            .await;
        let pool = match made {
            Ok(result) => result.map_err(self.failed("could not make the test's database"))?,
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
    Ok(())
}
