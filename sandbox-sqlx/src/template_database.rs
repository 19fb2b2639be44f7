//! [`TemplateDatabase`]: a PostgreSQL database of its own for each test, made with
//! `CREATE DATABASE .. TEMPLATE` from a template migrated once per migration set. For tests
//! that can't run in a transaction (`VACUUM`, `CREATE DATABASE`, their own commits): far
//! cheaper than migrating a database per test (as `#[sqlx::test]` does), dearer than a
//! sandbox transaction. App code that merely holds a concrete `PgPool` runs in a
//! transaction with the test's own pool (`#[owned_test] async fn t(pool: PgPool)`), and
//! `#[owned_test] async fn t(options: PgPoolOptions, connect: PgConnectOptions)` gets a
//! database of this kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ownership_runtime::background;
use ownership_runtime::harness::{Failure, TestContext, TestResource};
use ownership_runtime::runwide::RunWide;
use ownership_runtime::{Found, Mode, Ownership, OwnershipError, SharedOwnerDown, callers};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use tokio::sync::OnceCell;

use crate::closed::sqlstate;
use crate::error::SandboxError;
use crate::leftovers;
use crate::once_per_run::once_per_run;
use crate::process_mode::process_per_test;
use crate::template_stock::{self, Claim};

/// Per-test PostgreSQL databases from a migrated template.
///
/// Each test's database belongs to the test's actor: it is dropped (`DROP DATABASE ..
/// WITH (FORCE)`, in the background: PostgreSQL checkpoints on every drop, about 0.1 s,
/// which tests should not wait for) when the test ends. In nextest's process-per-test
/// mode, where the process exits right after its test, the harness sends the drop
/// before the test ends, on the connection that made the database, and waits only for
/// it to leave (the server completes it after the process is gone).
///
/// # The template
///
/// The template is made once per migration set, and kept: its name,
/// `sandbox_<label>_template_<hash>`, holds a hash of the migrations, so a run with other
/// migrations (another branch, on a server that CI jobs share) has a template of its own,
/// and a template that is there is never dropped or rebuilt while other runs may clone
/// it. It is built aside, under a fresh name, migrated, and then renamed into place
/// (under a run-wide lock on the server, so that the runs sharing it build it once): it
/// is never seen half-built. Once in place it refuses connections (`ALLOW_CONNECTIONS
/// false`), because `CREATE DATABASE .. TEMPLATE` fails while any session is on the
/// template: a stray session (someone's `psql`) can't keep the tests from cloning it. To
/// look at the schema, connect to a test's database.
///
/// # The stock
///
/// `CREATE DATABASE .. TEMPLATE` costs 40-300 ms, too much for a test to wait for. So a
/// few databases are cloned from the template ahead, in the background, and a test
/// claims one (a rename on the server: two round trips); claiming one starts its
/// replacement. The stock is shared by every process that uses the server, nextest's
/// one-test processes included (a process about to exit sends the replacement's `CREATE`
/// and leaves the server to complete it). It keeps one database more than the machine
/// has cores (at most 8), or `SANDBOX_SQLX_TEMPLATE_STOCK` of them (`0`: none, every test
/// waits for its own `CREATE`). What is left at the end of a run serves the next run with
/// the same migrations; [`TemplateDatabase::sweep_all`] drops it. So the server holds at
/// most that many databases for a template besides the tests' own, however many tests
/// run: each the size of the template (about 7.5 MiB for the `speed` benchmark's five
/// migrations, most of it PostgreSQL's catalogs).
///
/// # Leftovers
///
/// Every database a process makes is named after its maker: its host (a hash of the
/// machine's boot id and the process's pid namespace, so two machines or two containers
/// are two hosts), its process id and start time. Once per run, the first test of a host
/// sweeps what processes of that host left when they died (under nextest, later processes
/// of the run find a run-wide note that it was done): a crashed run's databases, a drop
/// that never left, a background drop cut short at the end of a run, a template build
/// cut short. It never drops another host's databases, a running process's, or a name of
/// any other form. Where `/proc` can't tell a process gone (macOS, Windows, a `/proc` of
/// another pid namespace) nothing is swept.
///
/// So some leftovers stay: the templates of earlier migration sets, and what other hosts
/// left (machines that are gone, the last boot of this one, hosts without `/proc`). On a
/// shared server, run [`TemplateDatabase::sweep_all`] between runs (a CI step) to drop
/// them all.
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
    /// The template is in place (made or seen by this process).
    template: OnceCell<()>,
    /// Whether this process has swept its host's leftovers of the label.
    swept: AtomicBool,
    /// Whether this process has filled the stock once (see [`template_stock::to_make`]).
    stocked: AtomicBool,
    /// Registered with the harness, which has them drop each test's database when it ends.
    databases: Arc<TestDatabases>,
}

/// The tests' databases, each owned by its test, as the harness's test resource: each
/// ends with its test, in the background when the process runs on (`cargo test`); when it
/// runs one test and exits (nextest's process-per-test mode, told by
/// `NEXTEST_EXECUTION_MODE`), by sending the `DROP DATABASE` before the test ends without
/// waiting for its checkpoint: the server finishes it after the process is gone. Shared
/// tests share their database with every actor.
struct TestDatabases {
    label: String,
    owners: Ownership<(), Arc<TestDatabase>>,
    /// The stock's databases being made; in process-per-test mode a test waits for them
    /// to be sent before it ends (the process exits right after).
    stocking: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How long a test in process-per-test mode waits for its process's stock databases to
/// be sent (a connection each, then the statement).
const STOCK_SENT: std::time::Duration = std::time::Duration::from_secs(2);

impl TestResource for TestDatabases {
    fn name(&self) -> String {
        format!("TemplateDatabase `{}`", self.label)
    }

    fn after_test(&self, test: &TestContext) -> Vec<Failure> {
        let Some(database) = self.owners.metadata(test.actor(), &()) else {
            return Vec::new();
        };
        self.owners.cleanup_owner(test.actor());
        if !process_per_test() {
            return Vec::new(); // dropped in the background with its last reference
        }
        let stocking = std::mem::take(
            &mut *self
                .stocking
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !stocking.is_empty() {
            // A stock database not sent in time is one the next test makes again.
            let sent = async move {
                for making in stocking {
                    let _ = making.await;
                }
            };
            // The timer is made on the background runtime, which has one.
            let _ =
                background::block_on(async move { tokio::time::timeout(STOCK_SENT, sent).await });
        }
        let name = database.name.clone();
        match background::block_on(async move { database.send_drop().await }) {
            Ok(Ok(())) => Vec::new(),
            Ok(Err(error)) => vec![Failure::new(format!(
                "could not drop the test's database {name}: {error}"
            ))],
            Err(error) => vec![Failure::new(format!(
                "could not drop the test's database {name}: {error}"
            ))],
        }
    }

    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.owners.set_mode(mode)
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
        background::spawn_detached(async move {
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

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// The longest a database name may be (PostgreSQL's `NAMEDATALEN` - 1: longer names are
/// cut short, silently).
const MAX_NAME: usize = 63;

/// The longest label part of a name: what is left of [`MAX_NAME`] after `sandbox_`, `_`
/// and the longest maker's name on Linux (`build_`, a 12-digit host, a 7-digit pid, an
/// 8-digit start time, 4 digits of count, and their separators).
const MAX_LABEL: usize = 14;

/// The kinds of databases a process makes: per-test databases and templates being built.
const KINDS: [&str; 2] = ["test", "build"];

/// The label's part of database names: letters, digits and `_`, lower case; a label
/// longer than [`MAX_LABEL`] is cut, and a hash of it added, to stay unique.
fn identifier(label: &str) -> String {
    let identifier: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if identifier.len() <= MAX_LABEL {
        return identifier;
    }
    let hash = ownership_runtime::runwide::stable_hash(label);
    format!("{}_{:04x}", &identifier[..MAX_LABEL - 5], hash & 0xffff)
}

/// A hash of what makes a template what it is: the migrations (version, kind, checksum)
/// and their table.
fn migrations_hash(migrator: Option<&Migrator>) -> u64 {
    use std::fmt::Write as _;
    let mut content = String::from("sandbox-sqlx template, 2nd form");
    if let Some(migrator) = migrator {
        let _ = write!(content, "\n{}", migrator.table_name);
        for migration in migrator.iter() {
            let _ = write!(
                content,
                "\n{} {:?} {:?}",
                migration.version, migration.migration_type, &*migration.checksum
            );
        }
    }
    ownership_runtime::runwide::stable_hash(&content)
}

/// Whether `rest` (a name past the label's prefix) is one of this label's databases, of
/// any maker: a template, a per-test database or a template being built, as this version
/// names them or as earlier ones did (`template`, `test_<pid>_<n>`).
fn is_of_the_label(rest: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let template = rest
        .strip_prefix("template_")
        .is_some_and(|hash_and_stock| {
            // A template, `<hash>`, or a database of its stock, `<hash>_<stock>`.
            let (hash, stock) = match hash_and_stock.split_once('_') {
                Some((hash, stock)) => (hash, Some(stock)),
                None => (hash_and_stock, None),
            };
            hash.len() == 16
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && stock.is_none_or(template_stock::is_stock_suffix)
        });
    let earlier = rest == "template"
        || rest
            .strip_prefix("test_")
            .and_then(|made| made.split_once('_'))
            .is_some_and(|(pid, number)| digits(pid) && digits(number));
    template || earlier || leftovers::is_made_name(rest, &KINDS, '_')
}

impl TemplateDatabase {
    /// Per-test databases labelled `label` (their names start with `sandbox_<label>_`) on
    /// the server at `url` (its user must be allowed to create databases). In names the
    /// label is lower case, with `_` for what is not a letter or digit, and cut to 14
    /// characters (9, `_` and a hash, when longer), so that names fit PostgreSQL's 63.
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
        let label = label.into();
        let databases = Arc::new(TestDatabases {
            label: label.clone(),
            owners: Ownership::new(),
            stocking: std::sync::Mutex::new(Vec::new()),
        });
        let registered: Arc<dyn TestResource> = databases.clone();
        ownership_runtime::harness::register_resource(Arc::downgrade(&registered));
        TemplateDatabase {
            label,
            url: url.into(),
            migrator: None,
            template: OnceCell::new(),
            swept: AtomicBool::new(false),
            stocked: AtomicBool::new(false),
            databases,
        }
    }

    /// Migrations to apply to the template (once per migration set: see
    /// [the template](TemplateDatabase#the-template)).
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
        format!(
            "{}template_{:016x}",
            self.prefix(),
            migrations_hash(self.migrator)
        )
    }

    /// A fresh name for a database this process makes, of `kind` (`test`, `build`).
    fn fresh_name(&self, kind: &str) -> Result<String, SandboxError> {
        let name = format!("{}{}", self.prefix(), leftovers::fresh_name(kind, '_'));
        if name.len() > MAX_NAME {
            return Err(SandboxError::Template {
                label: self.label.clone(),
                message: format!(
                    "the database name {name} is longer than PostgreSQL's {MAX_NAME} bytes: \
                     this process has made too many databases (or its id is too long); \
                     start a new one"
                ),
                source: None,
            });
        }
        Ok(name)
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
        let found = self.databases.owners.fetch_owner(&chain, &());
        if let Some(found) = found
            && let Some(database) = self.databases.owners.metadata(found.id(), &())
        {
            return Ok(database.pool.clone());
        }
        // In a shared test, every actor uses the test's database: made for the test.
        let actor = match found {
            Some(Found::SharedOwner(owner)) => owner,
            _ => *chain.first().ok_or_else(|| SandboxError::NoActor {
                label: self.label.clone(),
            })?,
        };
        let name = self.fresh_name("test")?;
        // The first test of the run on this host sweeps what its dead processes left:
        // under nextest, whose processes each run one test, later processes find the
        // run-wide note and don't sweep again (sweeping in every process would drop again
        // each database whose drop the process before had just sent, and wait for it).
        let notes = RunWide::file();
        let sweep_name = format!(
            "sandbox-sqlx sweep of {} ({:016x})",
            self.prefix(),
            ownership_runtime::runwide::stable_hash(&self.url)
        );
        let sweep = (!self.swept.swap(true, Ordering::SeqCst) && !notes.noted_done(&sweep_name))
            .then(|| self.prefix());
        let swept = sweep.is_some();
        // The template is usually there already (another process or run made it): the
        // test's database is made from it with no run-wide lock. Otherwise it is made, once
        // for all the runs that share the server, and the database made again.
        let attempt = |sweep| {
            let (url, template, name) = (self.url.clone(), self.template_name(), name.clone());
            background::run(make_database(url, template, name, sweep))
        };
        let mut made = attempt(sweep).await;
        if swept && matches!(made, Ok(Ok(_))) {
            // A note that can't be written costs later processes a sweep, nothing more.
            let _ = notes.note_done(&sweep_name);
        }
        if matches!(made, Ok(Ok(None))) {
            self.template().await?;
            made = attempt(None).await;
        }
        let (pool, admin, claim) = match made {
            Ok(Ok(Some(made))) => made,
            Ok(Ok(None)) => {
                return Err(SandboxError::Template {
                    label: self.label.clone(),
                    message: format!(
                        "the template database {} is gone: dropped while this process used \
                         it (by `TemplateDatabase::sweep_all`?). Run `sweep_all` only \
                         between test runs",
                        self.template_name()
                    ),
                    source: None,
                });
            }
            Ok(Err(error)) => return Err(self.failed("could not make the test's database")(error)),
            Err(source) => {
                return Err(SandboxError::Background {
                    label: self.label.clone(),
                    source,
                });
            }
        };
        self.stock_up(claim);
        let database = Arc::new(TestDatabase {
            name,
            url: self.url.clone(),
            pool: pool.clone(),
            admin: tokio::sync::Mutex::new(Some(admin)),
            dropped: AtomicBool::new(false),
        });
        match self
            .databases
            .owners
            .get_and_update(actor, (), |_| ((), database))
        {
            Ok(()) => Ok(pool),
            Err(OwnershipError::ActorDown { .. }) => Err(SandboxError::OwnerEnded {
                label: self.label.clone(),
                actor,
            }),
            Err(source) => Err(SandboxError::Ownership {
                label: self.label.clone(),
                source,
            }),
        }
    }

    /// Starts making what the stock lacks after `claim` (see [the stock](Self#the-stock)).
    fn stock_up(&self, claim: Claim) {
        let first = !self.stocked.swap(true, Ordering::SeqCst);
        let count = template_stock::to_make(claim, first);
        if count == 0 {
            return;
        }
        let making =
            template_stock::make(&self.url, &self.template_name(), count, process_per_test());
        self.databases
            .stocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(making);
    }

    /// Puts the template in place if it isn't yet: built aside and renamed, by one of the
    /// processes that share the server (a run-wide lock there), once per migration set.
    async fn template(&self) -> Result<(), SandboxError> {
        self.template
            .get_or_try_init(|| async {
                let (url, template, build, migrator) = (
                    self.url.clone(),
                    self.template_name(),
                    self.fresh_name("build")?,
                    self.migrator,
                );
                let name = format!("sandbox-sqlx template database {template}");
                let run_wide = RunWide::postgres(&url);
                let message = format!(
                    "could not make its template database {template} (the next test tries again)"
                );
                once_per_run(&self.label, message, run_wide, name, move || {
                    make_template(url, template, build, migrator)
                })
                .await
            })
            .await
            .map(|_| ())
    }

    /// Drops every database of this label on the server, whoever made it and whether or
    /// not it is in use: the templates of every migration set (one is kept per set, so
    /// they pile up as migrations change), the per-test databases of every host,
    /// templates being built, and the stock, including the databases of it that the
    /// server is still making for processes that have exited (it waits up to a minute for
    /// their `CREATE DATABASE` to end, then drops them too). For a CI step between test
    /// runs, while no run of this label uses the server; what a run's own processes can
    /// sweep, they sweep themselves (see [leftovers](TemplateDatabase#leftovers)).
    /// Databases of other labels, and other names that merely start with this label's
    /// prefix, stay.
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
        let prefix = self.prefix();
        let deadline = std::time::Instant::now() + SWEEP_WAIT;
        let mut dropped = 0;
        loop {
            let names = databases_with_prefix(&mut admin, &prefix)
                .await
                .map_err(self.failed("could not list databases"))?;
            let names: Vec<String> = names
                .into_iter()
                .filter(|name| is_of_the_label(&name[prefix.len()..]))
                .collect();
            for name in &names {
                admin
                    .execute(AssertSqlSafe(drop_statement(name)))
                    .await
                    .map_err(self.failed("could not drop a database"))?;
            }
            dropped += names.len();
            // A database of the stock that a process (one that has exited, maybe) sent the
            // `CREATE` of is not listed until the server has made it (a drop of its
            // template waits for that): list again until a pass finds nothing made or
            // being made.
            let making = creating_with_prefix(&mut admin, &prefix)
                .await
                .map_err(self.failed("could not list the sessions"))?;
            if (names.is_empty() && making == 0) || std::time::Instant::now() > deadline {
                break;
            }
            if making > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        let _ = admin.close().await;
        Ok(dropped)
    }
}

/// How long [`TemplateDatabase::sweep_all`] waits for the `CREATE DATABASE`s in flight of
/// its label (the stock's, sent by processes that have exited) to end, to drop them too.
const SWEEP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How many sessions other than this one are running a `CREATE DATABASE` of a name that
/// starts with `prefix`.
async fn creating_with_prefix(admin: &mut PgConnection, prefix: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND state = 'active' \
           AND starts_with(query, 'CREATE DATABASE \"' || $1)",
    )
    .bind(prefix)
    .fetch_one(admin)
    .await
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

/// Drops the databases of the label that processes of this host left when they died (see
/// [leftovers](TemplateDatabase#leftovers)). Best effort: what it can't drop (the list
/// failed, another role owns it) waits for a later sweep.
async fn sweep_dead(admin: &mut PgConnection, prefix: &str) {
    let Ok(names) = databases_with_prefix(admin, prefix).await else {
        return;
    };
    for name in names {
        if leftovers::left_by_the_dead(&name[prefix.len()..], &KINDS, '_') {
            let _ = admin.execute(AssertSqlSafe(drop_statement(&name))).await;
        }
    }
}

/// The SQLSTATE of a database error.
/// Makes a test's database from the template, claimed from the stock or else created:
/// its pool, the connection that made it, and what the stock held; `None` when there is
/// no template yet. With `sweep` (the label's prefix), first sweeps what this host's dead
/// processes left.
async fn make_database(
    url: String,
    template: String,
    name: String,
    sweep: Option<String>,
) -> Result<Option<(PgPool, PgConnection, Claim)>, sqlx::Error> {
    let mut admin = PgConnection::connect(&url).await?;
    if let Some(prefix) = sweep {
        sweep_dead(&mut admin, &prefix).await;
    }
    let claim = if template_stock::size() > 0 {
        template_stock::claim(&mut admin, &template, &name).await?
    } else {
        Claim {
            claimed: false,
            left: 0,
        }
    };
    if !claim.claimed {
        let created = admin
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            )))
            .await;
        match created {
            // invalid_catalog_name: the template does not exist.
            Err(error) if sqlstate(&error).as_deref() == Some("3D000") => {
                let _ = admin.close().await;
                return Ok(None);
            }
            created => created?,
        };
    }
    let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(options);
    Ok(Some((pool, admin, claim)))
}

/// Puts the template in place unless it is there: made as `build`, migrated, closed to
/// connections and renamed to `template`. A build that fails is dropped.
async fn make_template(
    url: String,
    template: String,
    build: String,
    migrator: Option<&'static Migrator>,
) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(&url).await?;
    let there: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut admin)
        .await?;
    if there.is_none() {
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{build}\"")))
            .await?;
        let built = build_template(&url, &mut admin, &build, &template, migrator).await;
        if built.is_err() {
            let _ = admin.execute(AssertSqlSafe(drop_statement(&build))).await;
        }
        built?;
    }
    admin.close().await
}

/// Migrates the empty database `build` and renames it to `template`.
async fn build_template(
    url: &str,
    admin: &mut PgConnection,
    build: &str,
    template: &str,
    migrator: Option<&'static Migrator>,
) -> Result<(), sqlx::Error> {
    if let Some(migrator) = migrator {
        let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.database(build);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let migrated = migrator.run(&pool).await;
        // Renaming it, and cloning it, need the database to have no sessions.
        pool.close().await;
        migrated?;
    }
    let note = format!(
        "sandbox-sqlx template ({}): drop it with TemplateDatabase::sweep_all",
        if migrator.is_some() {
            "migrated"
        } else {
            "empty"
        }
    );
    // A pooler in front of the server (PgBouncer) keeps the migrations' server session
    // after the pool closed, and renaming needs none: no one else uses the build, and
    // once connections are refused, what is left is ended (the rename waits for it).
    for statement in [
        format!("COMMENT ON DATABASE \"{build}\" IS '{note}'"),
        format!("ALTER DATABASE \"{build}\" WITH ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{build}' AND pid <> pg_backend_pid()"
        ),
    ] {
        admin.execute(AssertSqlSafe(statement)).await?;
    }
    let renamed = admin
        .execute(AssertSqlSafe(format!(
            "ALTER DATABASE \"{build}\" RENAME TO \"{template}\""
        )))
        .await;
    match renamed {
        // duplicate_database: a process that did not wait for the lock put one in place
        // first; it is as good as this one, which goes.
        Err(error) if sqlstate(&error).as_deref() == Some("42P04") => {
            admin.execute(AssertSqlSafe(drop_statement(build))).await?;
            Ok(())
        }
        renamed => renamed.map(|_| ()),
    }
}
