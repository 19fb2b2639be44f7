//! A headless Chromium for browser tests, driven through chromedriver (WebDriver) with
//! fantoccini.
//!
//! [`Browser::start`] starts chromedriver on a port it picks itself (`--port=0`, so no
//! two browsers race for one), and through it a headless Chromium with a profile of its
//! own: each browser has its own cookie jar, so concurrent tests never share a cookie.
//! The WebDriver client and its connections run on a small runtime of the browser's own:
//! they work for no test, leave no task on the test's runtime, and are not slowed by a
//! test's paused clock. Every wait is bounded ([`COMMAND_TIMEOUT`] by default). Dropping
//! the browser ends its session (Chromium quits), kills chromedriver and removes the
//! profile.
//!
//! [`CHROMIUM`] is a test resource (`#[owned_test(sandbox = [DB, CHROMIUM])]`) that skips
//! a test, with the reason printed by the harness, when Chromium or chromedriver isn't
//! installed; under `CI=true` the test fails instead.

use std::fmt;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use fantoccini::cookies::Cookie;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use ownership_runtime::harness::{Failure, TestContext, TestResource};
use serde_json::json;

/// How long chromedriver may take to say which port it serves.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to start Chromium and open a session with it.
const SESSION_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one WebDriver command (a navigation, a click, a lookup) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long dropping a browser waits for Chromium to quit before killing it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Browser::wait_for_text`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Chromium's command-line flags: headless, and runnable as root in a container (no
/// sandbox, no GPU, no `/dev/shm`, which containers keep small).
const CHROMIUM_FLAGS: [&str; 7] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,800",
];

/// What went wrong with the browser; its `Debug` is its message, so that a test's
/// `unwrap()` prints what to fix.
#[derive(thiserror::Error)]
pub enum BrowserError {
    /// A program isn't installed.
    #[error(
        "`{program}` was not found on PATH: install Debian's `chromium` and \
         `chromium-driver` packages (`apt-get install chromium chromium-driver`)"
    )]
    NotInstalled {
        /// The program looked for.
        program: &'static str,
    },
    /// The browser's profile folder or runtime could not be made.
    #[error("could not prepare the browser ({what}): {error}")]
    Setup {
        /// What was being made.
        what: String,
        /// Why it failed.
        error: std::io::Error,
    },
    /// chromedriver did not start.
    #[error("chromedriver ({}) did not start: {why}{log}", driver.display())]
    Driver {
        /// The program started.
        driver: PathBuf,
        /// Why it is taken to have failed.
        why: String,
        /// The end of chromedriver's log ([`log_tail`]).
        log: String,
    },
    /// chromedriver started, but could not start Chromium.
    #[error("chromedriver could not start headless Chromium ({}): {why}{log}", chromium.display())]
    Session {
        /// Chromium's program.
        chromium: PathBuf,
        /// Why.
        why: String,
        /// The end of chromedriver's log ([`log_tail`]).
        log: String,
    },
    /// A WebDriver command failed.
    #[error("the browser could not {what}: {error}")]
    Command {
        /// What it was asked to do.
        what: String,
        /// WebDriver's answer.
        error: CmdError,
    },
    /// The task that ran a command on the browser's runtime failed.
    #[error("the browser could not {what}: its task failed: {why}")]
    Crashed {
        /// What it was asked to do.
        what: String,
        /// How the task ended.
        why: String,
    },
    /// A command or a wait did not finish in time.
    #[error("the browser did not {what} within {after:?}{page}")]
    TimedOut {
        /// What it was asked to do.
        what: String,
        /// The bound.
        after: Duration,
        /// Where the page was and what it showed, when that could be read.
        page: String,
    },
}

impl fmt::Debug for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// "; chromedriver's log ends with: ..." (its last lines), or nothing when it is empty.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n  ");
    if tail.is_empty() {
        String::new()
    } else {
        format!(
            "; chromedriver's log ({}) ends with:\n  {tail}",
            log.display()
        )
    }
}

/// The program `name` on `PATH`.
fn find_program(name: &'static str) -> Result<PathBuf, BrowserError> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|folder| folder.join(name))
        .find(|path| path.is_file())
        .ok_or(BrowserError::NotInstalled { program: name })
}

/// Chromium and chromedriver, as installed.
fn programs() -> Result<(PathBuf, PathBuf), BrowserError> {
    Ok((find_program("chromium")?, find_program("chromedriver")?))
}

/// The test resource that skips a test when Chromium or chromedriver isn't installed
/// (fails it under `CI=true`).
pub static CHROMIUM: Installed = Installed;

/// See [`CHROMIUM`].
pub struct Installed;

impl TestResource for Installed {
    fn name(&self) -> String {
        "headless Chromium".to_owned()
    }

    fn before_test(&self, _: &TestContext) -> Result<(), Failure> {
        programs()
            .map(drop)
            .map_err(|missing| Failure::unavailable(missing.to_string()))
    }
}

/// A headless Chromium, and the chromedriver that drives it.
pub struct Browser {
    /// The WebDriver session (a handle to the session's task on `runtime`).
    client: Client,
    /// Runs the session's task and its connections, and every command (with its bound).
    runtime: Background,
    driver: Child,
    /// The profile folder (with chromedriver's log), removed on drop.
    folder: PathBuf,
}

impl Browser {
    /// Starts chromedriver and, through it, a headless Chromium with a fresh profile.
    ///
    /// # Errors
    ///
    /// [`BrowserError::NotInstalled`] when either program is missing; otherwise why
    /// chromedriver or Chromium did not start, with the end of chromedriver's log.
    pub async fn start() -> Result<Browser, BrowserError> {
        let (chromium, chromedriver) = programs()?;
        let folder = profile_folder()?;
        let log = folder.join("chromedriver.log");
        let (mut driver, port) = start_driver(&chromedriver, &log).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&folder);
        })?;
        let runtime = match Background::start() {
            Ok(runtime) => runtime,
            Err(error) => {
                end(&mut driver);
                let _ = std::fs::remove_dir_all(&folder);
                return Err(error);
            }
        };

        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": CHROMIUM_FLAGS
                    .iter()
                    .map(|flag| (*flag).to_owned())
                    .chain([format!("--user-data-dir={}", folder.join("profile").display())])
                    .collect::<Vec<_>>(),
            },
            "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let url = format!("http://127.0.0.1:{port}");
        let connecting = runtime.handle.spawn(async move {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities);
            tokio::time::timeout(SESSION_START_TIMEOUT, builder.connect(&url)).await
        });
        let why = match connecting.await {
            Ok(Ok(Ok(client))) => {
                return Ok(Browser {
                    client,
                    runtime,
                    driver,
                    folder,
                });
            }
            Ok(Ok(Err(error))) => error.to_string(),
            Ok(Err(_)) => format!("no session within {SESSION_START_TIMEOUT:?}"),
            Err(error) => format!("the task that connects failed: {error}"),
        };
        end(&mut driver);
        drop(runtime);
        let error = BrowserError::Session {
            chromium,
            why,
            log: log_tail(&log),
        };
        let _ = std::fs::remove_dir_all(&folder);
        Err(error)
    }

    /// Runs `command` on the browser's runtime, bounded by `bound`; `what` names it in
    /// errors ("go to http://…").
    async fn run<T, F, Fut>(
        &self,
        what: String,
        bound: Duration,
        command: F,
    ) -> Result<T, BrowserError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, CmdError>> + Send + 'static,
    {
        let command = command(self.client.clone());
        let done = self
            .runtime
            .handle
            .spawn(async move { tokio::time::timeout(bound, command).await });
        match done.await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(BrowserError::Command { what, error }),
            Ok(Err(_)) => Err(BrowserError::TimedOut {
                what,
                after: bound,
                page: String::new(),
            }),
            Err(error) => Err(BrowserError::Crashed {
                what,
                why: error.to_string(),
            }),
        }
    }

    /// Opens `url`, following redirects, and waits for the page to load.
    ///
    /// # Errors
    ///
    /// When the navigation fails or takes over [`COMMAND_TIMEOUT`].
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        let target = url.to_owned();
        self.run(
            format!("go to {url}"),
            COMMAND_TIMEOUT,
            |client| async move { client.goto(&target).await },
        )
        .await
    }

    /// The URL of the page the browser shows.
    ///
    /// # Errors
    ///
    /// When WebDriver fails to tell.
    pub async fn current_url(&self) -> Result<String, BrowserError> {
        self.run(
            "tell its URL".to_owned(),
            COMMAND_TIMEOUT,
            |client| async move { client.current_url().await.map(String::from) },
        )
        .await
    }

    /// The cookies the browser holds for the page it shows (with their attributes).
    ///
    /// # Errors
    ///
    /// When WebDriver fails to tell.
    pub async fn cookies(&self) -> Result<Vec<Cookie<'static>>, BrowserError> {
        self.run(
            "list its cookies".to_owned(),
            COMMAND_TIMEOUT,
            |client| async move { client.get_all_cookies().await },
        )
        .await
    }

    /// Clicks the element that `css` selects (the first one).
    ///
    /// # Errors
    ///
    /// When no element matches, or the click fails.
    pub async fn click(&self, css: &str) -> Result<(), BrowserError> {
        let selector = css.to_owned();
        self.run(
            format!("click `{css}`"),
            COMMAND_TIMEOUT,
            |client| async move { client.find(Locator::Css(&selector)).await?.click().await },
        )
        .await
    }

    /// Types `text` into the input that `css` selects, replacing what it held.
    ///
    /// # Errors
    ///
    /// When no element matches, or it takes no input.
    pub async fn fill(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let (selector, text) = (css.to_owned(), text.to_owned());
        self.run(
            format!("fill `{css}` with {:?}", text),
            COMMAND_TIMEOUT,
            |client| async move {
                let input = client.find(Locator::Css(&selector)).await?;
                input.clear().await?;
                input.send_keys(&text).await
            },
        )
        .await
    }

    /// Waits until the element that `css` selects shows text that `done` accepts, and
    /// returns that text; at most `bound`, looking every 50 ms.
    ///
    /// # Errors
    ///
    /// When it shows no such text after `bound` (the error says where the page was and
    /// what it showed), or WebDriver fails.
    pub async fn wait_for_text(
        &self,
        css: &str,
        bound: Duration,
        done: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<String, BrowserError> {
        let selector = css.to_owned();
        let waited = self
            .run(
                format!("show the awaited text in `{css}`"),
                bound,
                |client| async move {
                    loop {
                        let shown = match client.find(Locator::Css(&selector)).await {
                            Ok(element) => element.text().await,
                            Err(error) => Err(error),
                        };
                        match shown {
                            Ok(text) if done(&text) => return Ok(text),
                            Ok(_) => {}
                            // Not there yet, or replaced by the page's script: look again.
                            Err(error)
                                if error.is_no_such_element()
                                    || error.is_stale_element_reference() => {}
                            Err(error) => return Err(error),
                        }
                        tokio::time::sleep(POLL_EVERY).await;
                    }
                },
            )
            .await;
        match waited {
            Err(BrowserError::TimedOut { what, after, .. }) => Err(BrowserError::TimedOut {
                what,
                after,
                page: self.describe_page().await,
            }),
            other => other,
        }
    }

    /// "; the page at URL shows: TEXT", for errors (empty when it can't be read).
    async fn describe_page(&self) -> String {
        let read = self
            .run(
                "read the page".to_owned(),
                Duration::from_secs(5),
                |client| async move {
                    let url = client.current_url().await?;
                    let body = client.find(Locator::Css("body")).await?.text().await?;
                    Ok((url, body))
                },
            )
            .await;
        match read {
            Ok((url, body)) => format!("; the page at {url} shows: {body:?}"),
            Err(_) => String::new(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit Chromium. Waited for here with a
        // plain blocking wait, bounded, because Drop can't await.
        let (closed, wait) = mpsc::channel();
        let client = self.client.clone();
        self.runtime.handle.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.close()).await;
            let _ = closed.send(());
        });
        let _ = wait.recv_timeout(CLOSE_TIMEOUT + Duration::from_secs(1));
        end(&mut self.driver);
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The browser's own runtime (one worker thread), dropped without waiting for its tasks:
/// a runtime dropped inside a test's async code must be.
struct Background {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Background {
    fn start() -> Result<Background, BrowserError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("browser-webdriver")
            .enable_all()
            .build()
            .map_err(|error| BrowserError::Setup {
                what: "a runtime for the WebDriver client".to_owned(),
                error,
            })?;
        Ok(Background {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Kills chromedriver and, should it not have quit, Chromium: the driver leads a process
/// group of its own, which Chromium's processes join (`kill -KILL -<group>`: this crate
/// forbids the `unsafe` of calling `kill(2)` itself).
fn end(driver: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// A fresh folder for one browser's profile and chromedriver's log.
fn profile_folder() -> Result<PathBuf, BrowserError> {
    static MADE: AtomicU32 = AtomicU32::new(0);
    let folder = std::env::temp_dir().join(format!(
        "browser-test-{}-{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).map_err(|error| BrowserError::Setup {
        what: format!("the profile folder {}", folder.display()),
        error,
    })?;
    Ok(folder)
}

/// Starts chromedriver on a port it picks, and returns it with that port.
fn start_driver(chromedriver: &Path, log: &Path) -> Result<(Child, u16), BrowserError> {
    let failed = |why: String| BrowserError::Driver {
        driver: chromedriver.to_owned(),
        why,
        log: log_tail(log),
    };
    let mut driver = Command::new(chromedriver)
        .arg("--port=0")
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|error| failed(format!("could not run it: {error}")))?;
    let Some(stdout) = driver.stdout.take() else {
        unreachable!("stdout is piped")
    };
    // It says "ChromeDriver was started successfully on port 40123." on its standard
    // output; the thread reads it, then drains the rest until chromedriver exits.
    let (port, said) = mpsc::channel();
    std::thread::spawn(move || {
        let mut port = Some(port);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // (Its first line, "Starting ChromeDriver … on port 0", is what it was asked.)
            let said = line
                .split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(found) = said
                && let Some(sender) = port.take()
            {
                let _ = sender.send(found);
            }
        }
    });
    match said.recv_timeout(DRIVER_START_TIMEOUT) {
        Ok(port) => Ok((driver, port)),
        Err(waited) => {
            let status = driver.try_wait().ok().flatten();
            end(&mut driver);
            Err(failed(match (waited, status) {
                (mpsc::RecvTimeoutError::Timeout, _) => {
                    format!("it did not say its port within {DRIVER_START_TIMEOUT:?}")
                }
                (_, Some(status)) => format!("it exited ({status}) before saying its port"),
                (_, None) => "it closed its output before saying its port".to_owned(),
            }))
        }
    }
}
