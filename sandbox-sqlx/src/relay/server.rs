//! The relay process: it listens on a Unix socket, hands each test process a server
//! backend that an earlier test process used, and takes it back when that process is
//! gone.
//!
//! - **A backend per client, for the client's whole connection** (PostgreSQL's session
//!   pooling): the relay forwards whole messages both ways and looks at nothing but
//!   their framing.
//! - **The first client of a backend logs in itself**: the relay forwards its startup
//!   message and its side of the authentication to the server, and keeps what the
//!   server sent after `AuthenticationOk` (the session's parameters and keys). A later
//!   client with the same startup message (same user, database and options) gets those
//!   bytes at once, from a backend that is already warm.
//! - **A client that leaves** (it exits, or sends `Terminate`) leaves its backend in the
//!   relay, which waits for the answers the client still had coming, then sends `Sync`,
//!   `ROLLBACK` and `DISCARD ALL` (which drops prepared statements, temporary tables,
//!   session settings and advisory locks) and keeps the backend only if all of that
//!   answered as it should within [`RESET_WAIT`]. The test's transaction is therefore
//!   rolled back even when its process was killed.
//! - Idle backends are closed after [`IDLE_BACKEND`]; the relay exits once no client has
//!   come for [`IDLE_EXIT`].
//! - **Behind a pooler** (PgBouncer), which keeps backends warm itself, the relay steps
//!   aside: the first backend given back is asked which server process answers it, and a
//!   pooler answers cancels itself, so the process its greeting announced is another.
//!   The relay then keeps no backend (each would hold one of the pooler's server
//!   connections from every other client), marks its place so that test processes
//!   connect directly, takes its socket away, and exits once its clients are gone.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UnixListener, UnixStream};

use super::wire::{self, CANCEL_REQUEST, Framed, GSS_REQUEST, SSL_REQUEST};

/// How long a backend whose client left may take to answer what the client still had
/// coming and the relay's reset, before the relay closes it instead.
pub(super) const RESET_WAIT: Duration = Duration::from_secs(10);

/// How long an unused backend stays open.
pub(super) const IDLE_BACKEND: Duration = Duration::from_secs(60);

/// How long the relay waits for a client before it exits.
pub(super) const IDLE_EXIT: Duration = Duration::from_secs(10);

/// How many unused backends the relay keeps for one kind of client (startup message).
const KEPT_PER_KIND: usize = 16;

/// The relay's state.
struct Relay {
    /// The server, as `host:port`.
    upstream: String,
    /// The socket it serves, taken away once the server proved to be a pooler.
    socket: PathBuf,
    /// Whether a backend was asked yet whether the server is a pooler.
    checked: AtomicBool,
    /// The server is a pooler: backends are closed, not kept.
    pooled: AtomicBool,
    /// Unused backends, by the startup message of the clients they can serve.
    idle: Mutex<HashMap<Vec<u8>, Vec<Backend>>>,
    /// Clients connected now.
    clients: AtomicUsize,
    /// When the last client left (or the relay started).
    last_client: Mutex<Instant>,
}

/// A server backend, between messages.
struct Backend {
    reader: Framed<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    /// What the server sent its first client after `AuthenticationOk` (parameters,
    /// keys, `ReadyForQuery`), with `AuthenticationOk` first: what a later client gets.
    greeting: Vec<u8>,
    /// The server process that the greeting's cancel key names.
    announced: Option<u32>,
    /// When it was last given back.
    since: Instant,
}

/// Serves the relay on `socket` for the server at `upstream`, while this process holds
/// the relay's lock in `socket`'s folder (another relay holds it: returns at once), until
/// no client has come for `idle_exit` ([`IDLE_EXIT`] for the run's relay).
pub(super) async fn serve(socket: &Path, upstream: String, idle_exit: Duration) -> io::Result<()> {
    let folder = socket.parent().unwrap_or(Path::new("."));
    let lock = std::fs::File::create(folder.join(super::LOCK_FILE))?;
    if lock.try_lock().is_err() {
        return Ok(());
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    restrict(socket)?;
    let relay = Arc::new(Relay {
        upstream,
        socket: socket.to_owned(),
        checked: AtomicBool::new(false),
        pooled: AtomicBool::new(false),
        idle: Mutex::default(),
        clients: AtomicUsize::new(0),
        last_client: Mutex::new(Instant::now()),
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                relay.clients.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay.clone().serve_client(client));
            }
            () = tokio::time::sleep(idle_exit.min(Duration::from_millis(500))) => {
                relay.close_stale().await;
                if relay.clients.load(Ordering::SeqCst) == 0
                    && relay.last_client().elapsed() >= idle_exit
                {
                    break;
                }
            }
        }
    }
    // New clients find no socket (and connect directly) from here on.
    let _ = std::fs::remove_file(socket);
    drop(listener);
    let backends: Vec<Backend> = relay.take_all();
    for backend in backends {
        backend.terminate().await;
    }
    // Its folder goes with it (a process that comes now makes it again).
    let _ = std::fs::remove_dir_all(folder);
    drop(lock);
    Ok(())
}

/// Lets only this user connect to the socket.
fn restrict(socket: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
}

impl Relay {
    fn last_client(&self) -> Instant {
        *self
            .last_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<Backend>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves one client until it leaves, then takes its backend back.
    async fn serve_client(self: Arc<Self>, client: UnixStream) {
        let _ = self.relay_client(client).await;
        *self
            .last_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.clients.fetch_sub(1, Ordering::SeqCst);
    }

    async fn relay_client(&self, client: UnixStream) -> io::Result<()> {
        let (read, write) = client.into_split();
        let mut client_reader = Framed::new(read);
        let mut client_writer = BufWriter::new(write);
        let startup = loop {
            let Some((code, bytes)) = client_reader.next_opening().await? else {
                return Ok(());
            };
            match code {
                // The socket is local: no encryption to offer.
                SSL_REQUEST | GSS_REQUEST => {
                    client_writer.write_all(b"N").await?;
                    client_writer.flush().await?;
                }
                CANCEL_REQUEST => {
                    let mut server = TcpStream::connect(&self.upstream).await?;
                    return server.write_all(&bytes).await;
                }
                // A startup message (of protocol 3.0, or another version, which the
                // server then says it doesn't speak).
                _ => break bytes,
            }
        };
        let taken = self.take_idle(&startup);
        let mut backend = match taken {
            Some(backend) => {
                client_writer.write_all(&backend.greeting).await?;
                client_writer.flush().await?;
                backend
            }
            None => match self
                .log_in(&startup, &mut client_reader, &mut client_writer)
                .await?
            {
                Some(backend) => backend,
                None => return Ok(()),
            },
        };
        let (mut sent, mut answered) = (0u64, 0u64);
        let left = tokio::select! {
            left = to_server(&mut client_reader, &mut backend.writer, &mut sent) => left,
            gone = to_client(&mut backend.reader, &mut client_writer, &mut answered) => {
                gone?;
                return Ok(()); // the server closed the backend
            }
        };
        left?;
        if backend.reset(sent.saturating_sub(answered)).await.is_ok()
            && self.may_keep(&mut backend).await
        {
            self.give_back(startup, backend);
        } else {
            backend.terminate().await;
        }
        Ok(())
    }

    /// Whether the relay may keep a reset backend: not behind a pooler, as the first
    /// backend given back tells (see the module's docs); when it tells so, the place is
    /// marked and the socket taken away. A backend whose answer could not be read is
    /// not kept (and the next one is asked).
    async fn may_keep(&self, backend: &mut Backend) -> bool {
        if !self.checked.swap(true, Ordering::SeqCst) {
            match backend.answered_by_another().await {
                Ok(false) => {}
                Ok(true) => {
                    let _ = std::fs::write(super::pooler_mark(&self.socket), b"pooler");
                    let _ = std::fs::remove_file(&self.socket);
                    self.pooled.store(true, Ordering::SeqCst);
                }
                Err(_) => {
                    self.checked.store(false, Ordering::SeqCst);
                    return false;
                }
            }
        }
        !self.pooled.load(Ordering::SeqCst)
    }

    /// Opens a backend for `startup`, relaying the client's authentication; keeps what
    /// the server sends after `AuthenticationOk` for later clients. `None`: the server
    /// refused (the client got its error) or either side closed.
    async fn log_in<C, W>(
        &self,
        startup: &[u8],
        client_reader: &mut Framed<C>,
        client_writer: &mut BufWriter<W>,
    ) -> io::Result<Option<Backend>>
    where
        C: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let server = TcpStream::connect(&self.upstream).await?;
        server.set_nodelay(true)?;
        let (read, write) = server.into_split();
        let mut reader = Framed::new(read);
        let mut writer = BufWriter::new(write);
        writer.write_all(startup).await?;
        writer.flush().await?;
        let mut greeting: Option<Vec<u8>> = None;
        let mut announced = None;
        loop {
            tokio::select! {
                message = reader.next() => {
                    let Some(message) = message? else { return Ok(None) };
                    client_writer.write_all(&message.bytes).await?;
                    if message.is_authentication_ok() {
                        greeting = Some(message.bytes.clone());
                    } else if let Some(greeting) = &mut greeting {
                        greeting.extend_from_slice(&message.bytes);
                    }
                    match message.kind() {
                        b'K' => announced = first_u32(message.body()),
                        b'Z' => {
                            client_writer.flush().await?;
                            break;
                        }
                        b'E' => {
                            client_writer.flush().await?;
                            return Ok(None);
                        }
                        _ if !reader.has_message() => client_writer.flush().await?,
                        _ => {}
                    }
                }
                message = client_reader.next() => {
                    let Some(message) = message? else { return Ok(None) };
                    writer.write_all(&message.bytes).await?;
                    writer.flush().await?;
                }
            }
        }
        let Some(greeting) = greeting else {
            return Ok(None);
        };
        Ok(Some(Backend {
            reader,
            writer,
            greeting,
            announced,
            since: Instant::now(),
        }))
    }

    /// An unused backend for clients of `startup` that is still open: one that the
    /// server closed meanwhile (a restart, `pg_terminate_backend`, `DROP DATABASE ..
    /// WITH (FORCE)`) has something to read (its error, the end of its stream) and is
    /// dropped instead.
    fn take_idle(&self, startup: &[u8]) -> Option<Backend> {
        loop {
            let mut backend = self.idle().get_mut(startup)?.pop()?;
            if backend.reader.next().now_or_never().is_none() {
                return Some(backend);
            }
        }
    }

    fn give_back(&self, startup: Vec<u8>, mut backend: Backend) {
        backend.since = Instant::now();
        let mut idle = self.idle();
        let kept = idle.entry(startup).or_default();
        if kept.len() < KEPT_PER_KIND {
            kept.push(backend);
        }
    }

    /// Closes the backends unused for [`IDLE_BACKEND`].
    async fn close_stale(&self) {
        let stale: Vec<Backend> = {
            let mut idle = self.idle();
            let mut stale = Vec::new();
            for backends in idle.values_mut() {
                let (old, fresh) = std::mem::take(backends)
                    .into_iter()
                    .partition(|backend| backend.since.elapsed() >= IDLE_BACKEND);
                *backends = fresh;
                stale.extend::<Vec<Backend>>(old);
            }
            idle.retain(|_, backends| !backends.is_empty());
            stale
        };
        for backend in stale {
            backend.terminate().await;
        }
    }

    fn take_all(&self) -> Vec<Backend> {
        self.idle()
            .drain()
            .flat_map(|(_, backends)| backends)
            .collect()
    }
}

/// Forwards the client's messages to the server until the client leaves (its stream
/// ends or fails, or it sends `Terminate`, which the relay keeps from the server),
/// counting those that the server answers with a `ReadyForQuery`. An error is the
/// server's.
async fn to_server<C: AsyncRead + Unpin>(
    client: &mut Framed<C>,
    server: &mut BufWriter<OwnedWriteHalf>,
    sent: &mut u64,
) -> io::Result<()> {
    // A client that exits with answers unread resets its socket: it is gone all the
    // same, and its backend is reset as after any other end.
    while let Ok(Some(message)) = client.next().await {
        match message.kind() {
            b'X' => break,
            // Sync, a simple query, a function call: each ends with a ReadyForQuery.
            b'S' | b'Q' | b'F' => *sent += 1,
            _ => {}
        }
        server.write_all(&message.bytes).await?;
        if !client.has_message() {
            server.flush().await?;
        }
    }
    Ok(())
}

/// Forwards the server's messages to the client, counting `ReadyForQuery`s, until the
/// server closes the backend.
async fn to_client<W: AsyncWrite + Unpin>(
    server: &mut Framed<OwnedReadHalf>,
    client: &mut BufWriter<W>,
    answered: &mut u64,
) -> io::Result<()> {
    while let Some(message) = server.next().await? {
        if message.kind() == b'Z' {
            *answered += 1;
        }
        client.write_all(&message.bytes).await?;
        if !server.has_message() {
            client.flush().await?;
        }
    }
    Ok(())
}

impl Backend {
    /// Gets the backend ready for another client: reads the `awaiting` answers its last
    /// client had coming, then ends whatever that client left open. Fails if anything
    /// answers otherwise than a clean backend would, or takes longer than
    /// [`RESET_WAIT`].
    async fn reset(&mut self, awaiting: u64) -> io::Result<()> {
        let mut reset = wire::message(b'S', &[]);
        reset.extend(wire::query("ROLLBACK"));
        reset.extend(wire::query("DISCARD ALL"));
        self.writer.write_all(&reset).await?;
        self.writer.flush().await?;
        let expected = awaiting + 3;
        let answers = async {
            let mut answered = 0;
            while answered < expected {
                let Some(message) = self.reader.next().await? else {
                    return Err(unclean("the server closed the backend"));
                };
                let last = answered + 1 == expected;
                match message.kind() {
                    b'Z' => {
                        answered += 1;
                        if answered == expected && message.body() != b"I" {
                            return Err(unclean("the backend is still in a transaction"));
                        }
                    }
                    b'E' if last => return Err(unclean("DISCARD ALL failed")),
                    _ => {}
                }
            }
            Ok(())
        };
        tokio::time::timeout(RESET_WAIT, answers)
            .await
            .unwrap_or_else(|_| Err(unclean("the backend took too long to answer")))
    }

    /// Whether a server process other than the one its greeting announced answers the
    /// backend (`pg_backend_pid()`): a pooler's, which answers cancels itself. Asked of a
    /// reset backend, which it leaves as it was.
    async fn answered_by_another(&mut self) -> io::Result<bool> {
        let Some(announced) = self.announced else {
            return Ok(false);
        };
        self.writer
            .write_all(&wire::query("SELECT pg_backend_pid()"))
            .await?;
        self.writer.flush().await?;
        let answer = async {
            let mut answering = None;
            while let Some(message) = self.reader.next().await? {
                match message.kind() {
                    // One column: its length, then the number as text.
                    b'D' => {
                        answering = message
                            .body()
                            .get(6..)
                            .and_then(|text| std::str::from_utf8(text).ok())
                            .and_then(|text| text.parse::<u32>().ok());
                    }
                    b'Z' => return Ok(answering),
                    _ => {}
                }
            }
            Err(unclean("the server closed the backend"))
        };
        let answering = tokio::time::timeout(RESET_WAIT, answer)
            .await
            .unwrap_or_else(|_| Err(unclean("the backend took too long to answer")))?;
        Ok(answering.is_some_and(|answering| answering != announced))
    }

    /// Closes the backend: `Terminate`, then the connection.
    async fn terminate(mut self) {
        let _ = self.writer.write_all(&wire::message(b'X', &[])).await;
        let _ = self.writer.shutdown().await;
    }
}

/// The big-endian number that `bytes` start with.
fn first_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// Why a backend can't serve another client.
fn unclean(why: &str) -> io::Error {
    io::Error::other(format!("the relay did not keep a backend: {why}"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::str::FromStr as _;

    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{Connection as _, Executor as _};

    use super::*;

    /// A relay for the test server, on a socket of the test's own, served for `body`.
    fn with_relay<F, Fut>(test: &str, body: F)
    where
        F: FnOnce(PgConnectOptions, PathBuf) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if !ownership_e2e::postgres_available(test) {
            return;
        }
        let direct = PgConnectOptions::from_str(&ownership_e2e::postgres_url()).unwrap();
        let folder = std::env::temp_dir().join(format!(
            "sandbox-sqlx-relay-test-{}-{test}",
            std::process::id()
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let socket = super::super::socket_in(&folder, direct.get_port());
        let upstream = format!("{}:{}", direct.get_host(), direct.get_port());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let relay = tokio::spawn({
                let socket = socket.clone();
                async move { serve(&socket, upstream, Duration::from_secs(30)).await }
            });
            while !socket.exists() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            body(direct.clone().socket(&folder), socket.clone()).await;
            relay.abort();
        });
        let _ = std::fs::remove_dir_all(&folder);
    }

    async fn pid(connection: &mut PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(connection)
            .await
            .unwrap()
    }

    /// A connection on the backend `pid`, once the relay has it back from its last
    /// client (a client that comes while it is still being reset gets a new backend,
    /// held open here until then so that it doesn't go back to the relay first).
    async fn reused(relayed: &PgConnectOptions, backend: i32) -> PgConnection {
        let mut others = Vec::new();
        for _ in 0..200 {
            let mut connection = PgConnection::connect_with(relayed).await.unwrap();
            if pid(&mut connection).await == backend {
                for other in others {
                    PgConnection::close(other).await.unwrap();
                }
                return connection;
            }
            others.push(connection);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the relay never gave the backend {backend} again");
    }

    #[test]
    fn a_backend_serves_the_next_client_with_nothing_of_the_last_one_left() {
        with_relay("relay_reuse", |relayed, _| async move {
            let table = format!("relay_probe_{}", std::process::id());
            let mut setup = PgConnection::connect_with(&relayed).await.unwrap();
            setup
                .execute(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE {table} (id int)"
                )))
                .await
                .unwrap();
            let first_pid = pid(&mut setup).await;
            setup.close().await.unwrap();

            // A test that dies in the middle of its transaction, holding all sorts of
            // session state: its connection just goes away.
            let mut first = reused(&relayed, first_pid).await;
            first
                .execute(sqlx::AssertSqlSafe(format!(
                    "SELECT set_config('app.mark', 'first', false), pg_advisory_lock(7); \
                     CREATE TEMP TABLE scratch (id int); BEGIN; INSERT INTO {table} VALUES (1)"
                )))
                .await
                .unwrap();
            drop(first);

            let mut second = reused(&relayed, first_pid).await;
            let (mark, locks, scratch): (Option<String>, i64, Option<String>) = sqlx::query_as(
                "SELECT current_setting('app.mark', true), \
                 (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                  AND pid = pg_backend_pid()), to_regclass('scratch')::text",
            )
            .fetch_one(&mut second)
            .await
            .unwrap();
            assert!(mark.unwrap_or_default().is_empty(), "settings are reset");
            assert_eq!(locks, 0, "advisory locks are released");
            assert_eq!(scratch, None, "temporary tables are dropped");
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&mut second)
                    .await
                    .unwrap();
            assert_eq!(rows, 0, "the dead client's transaction was rolled back");
            second
                .execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
                .await
                .unwrap();
            second.close().await.unwrap();
        });
    }

    #[test]
    fn a_client_that_leaves_in_the_middle_of_a_query_leaves_a_clean_backend() {
        with_relay("relay_mid_query", |relayed, _| async move {
            let mut first = PgConnection::connect_with(&relayed).await.unwrap();
            let sleeping = sqlx::query("SELECT pg_sleep(0.3)").execute(&mut first);
            let cut = tokio::time::timeout(Duration::from_millis(50), sleeping).await;
            assert!(cut.is_err(), "the query was cut off");
            drop(first);
            // Whichever backend it gets, the next client sees only its own answers (none
            // of the cut-off query's).
            for _ in 0..3 {
                let mut next = PgConnection::connect_with(&relayed).await.unwrap();
                let answer: i32 = sqlx::query_scalar("SELECT 42")
                    .fetch_one(&mut next)
                    .await
                    .unwrap();
                assert_eq!(answer, 42);
                next.close().await.unwrap();
            }
        });
    }

    #[test]
    fn a_backend_the_server_closed_while_unused_is_not_handed_out() {
        with_relay("relay_terminated", |relayed, _| async move {
            let mut first = PgConnection::connect_with(&relayed).await.unwrap();
            let backend = pid(&mut first).await;
            first.close().await.unwrap();
            let direct = PgConnectOptions::from_str(&ownership_e2e::postgres_url()).unwrap();
            let mut admin = PgConnection::connect_with(&direct).await.unwrap();
            // Once the relay has it back (its reset done), the server ends it.
            for _ in 0..200 {
                let idle: Option<String> =
                    sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
                        .bind(backend)
                        .fetch_optional(&mut admin)
                        .await
                        .unwrap();
                if idle.as_deref() == Some("idle") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                .bind(backend)
                .fetch_one(&mut admin)
                .await
                .unwrap();
            assert!(ended);
            for _ in 0..200 {
                let gone: bool = sqlx::query_scalar(
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                )
                .bind(backend)
                .fetch_one(&mut admin)
                .await
                .unwrap();
                if gone {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            admin.close().await.unwrap();
            let mut next = PgConnection::connect_with(&relayed).await.unwrap();
            assert_ne!(
                pid(&mut next).await,
                backend,
                "a live backend, not the ended one"
            );
            next.close().await.unwrap();
        });
    }

    #[test]
    fn a_refused_login_reaches_the_client() {
        with_relay("relay_refused", |relayed, _| async move {
            let missing = relayed.clone().database("sandbox_sqlx_no_such_database");
            let error = PgConnection::connect_with(&missing).await.err().unwrap();
            assert!(
                error.to_string().contains("sandbox_sqlx_no_such_database"),
                "{error}"
            );
            // The relay serves on.
            let mut connection = PgConnection::connect_with(&relayed).await.unwrap();
            connection.ping().await.unwrap();
            connection.close().await.unwrap();
        });
    }

    #[test]
    fn a_second_relay_of_a_folder_leaves_at_once_and_an_idle_one_exits() {
        with_relay("relay_lock", |relayed, socket| async move {
            let other = serve(&socket, "127.0.0.1:1".to_owned(), Duration::from_secs(30));
            tokio::time::timeout(Duration::from_secs(5), other)
                .await
                .expect("the second relay leaves at once")
                .unwrap();
            let mut connection = PgConnection::connect_with(&relayed).await.unwrap();
            connection.ping().await.unwrap();
            connection.close().await.unwrap();
        });
        with_relay("relay_idle", |_, socket| async move {
            let folder = socket.parent().unwrap().join("idle");
            std::fs::create_dir_all(&folder).unwrap();
            let idle_socket = folder.join(".s.PGSQL.5432");
            let idle = serve(
                &idle_socket,
                "127.0.0.1:1".to_owned(),
                Duration::from_millis(100),
            );
            tokio::time::timeout(Duration::from_secs(5), idle)
                .await
                .expect("an idle relay exits")
                .unwrap();
            assert!(!idle_socket.exists(), "and removes its socket");
            assert!(!folder.exists(), "and its folder");
        });
    }
}
