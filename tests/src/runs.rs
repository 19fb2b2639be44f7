//! Separate test runs, played by this test binary's own `#[ignore]`d fixtures in processes
//! of their own: each with its own run id (`OWNERSHIP_RUN_ID`), one test per process as
//! nextest runs them, here or in a pid namespace of its own (`unshare`), or with a folder
//! mounted read-only. How the workspace tests what runs sharing one database server or
//! folder do to each other.
//!
//! A test drives its runs step by step, with no timing: a fixture [`report`]s what it
//! did (an event, with a value), and waits, where the test wants it to, for a command
//! ([`await_command`]); the test waits for the events it needs ([`Run::wait_for`]) and
//! sends commands ([`Run::tell`]). Every wait is bounded ([`WAIT`]). Events and commands
//! are files in the test's own folder ([`Runs::dir`]).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The longest any wait for a run (an event, a command, an exit) lasts.
pub const WAIT: Duration = Duration::from_secs(90);

const DIR: &str = "OWNERSHIP_E2E_RUNS_DIR";
const FIXTURE: &str = "OWNERSHIP_E2E_RUNS_FIXTURE";

/// Where a run's processes run.
#[derive(Debug, Clone)]
pub enum Place {
    /// In this machine's namespaces, as a second checkout's `cargo test` would.
    Here,
    /// In a pid namespace of their own (`unshare --pid --fork --mount-proc`), as in a
    /// container of their own; the first fixture gets the pid `first_pid` there, so that
    /// runs in two namespaces don't use the same pids.
    OwnPidNamespace {
        /// The first fixture's pid in the namespace (at least 2).
        first_pid: u32,
    },
    /// Here, but with `folder` mounted read-only (a bind mount in a mount namespace of
    /// their own): the way to make a folder unwritable for root, which ignores
    /// permissions.
    ReadOnly {
        /// The folder that refuses writes.
        folder: PathBuf,
    },
}

/// The test runs of one test: a folder of their own for events and commands.
#[derive(Debug)]
pub struct Runs {
    dir: PathBuf,
    id: String,
}

/// One run: a process that runs one or more fixtures, one after another, in one place.
#[derive(Debug)]
pub struct Run {
    dir: PathBuf,
    name: String,
    child: Child,
}

impl Runs {
    /// A fresh folder for the runs of `test`.
    ///
    /// # Panics
    ///
    /// If the folder can't be made.
    ///
    /// ```
    /// let runs = ownership_e2e::runs::Runs::new("doc");
    /// assert!(runs.dir().is_dir());
    /// ```
    pub fn new(test: &str) -> Runs {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let id = format!("{test}-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(format!("ownership-runs-{id}"));
        fs::create_dir_all(&dir).expect("a folder for the runs");
        Runs { dir, id }
    }

    /// The runs' folder, for what a test shares with them (files, a gate).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A name unique to this test's runs, made of `[a-z0-9]`, `length` long at most (at
    /// least 4): for labels, keys and file names that no other test (or earlier run of
    /// this one) uses.
    ///
    /// ```
    /// let runs = ownership_e2e::runs::Runs::new("doc");
    /// let unique = runs.unique(8);
    /// assert!(unique.len() <= 8);
    /// assert_ne!(unique, ownership_e2e::runs::Runs::new("doc").unique(8));
    /// ```
    pub fn unique(&self, length: usize) -> String {
        let hash = ownership_runtime::runwide::stable_hash(&self.id);
        let mut unique = format!("{hash:016x}");
        unique.truncate(length.max(4));
        unique
    }

    /// Starts a run in `place` that runs the ignored tests `fixtures` of this binary, one
    /// after another (stopping at the first that fails), each as a process of its own
    /// with its own run id, with the variables `env` set.
    ///
    /// # Panics
    ///
    /// If the process can't be started.
    pub fn start(&self, place: Place, fixtures: &[&str], env: &[(&str, String)]) -> Run {
        let name = fixtures.join("+");
        let out = File::create(self.dir.join(format!("{name}.out"))).expect("an output file");
        let err = out.try_clone().expect("an output file");
        let executable = std::env::current_exe().expect("the test binary's path");
        // `$1`: what to do first; `$2`: this binary; then the fixtures.
        let script = "eval \"$1\" || exit 97; binary=$2; shift 2; \
             for fixture in \"$@\"; do \
             OWNERSHIP_E2E_RUNS_FIXTURE=$fixture OWNERSHIP_RUN_ID=$OWNERSHIP_E2E_RUNS_ID-$fixture \
             \"$binary\" --ignored --exact \"$fixture\" --nocapture --test-threads=1 || exit $?; \
             done; exit 0";
        let (wrapper, first): (Vec<String>, String) = match &place {
            Place::Here => (vec![], ":".to_owned()),
            Place::OwnPidNamespace { first_pid } => (
                unshare(&["--pid", "--fork", "--kill-child", "--mount-proc"]),
                format!(
                    "echo {} > /proc/sys/kernel/ns_last_pid",
                    first_pid.saturating_sub(1)
                ),
            ),
            Place::ReadOnly { folder } => (
                unshare(&["--mount", "--fork", "--kill-child"]),
                format!(
                    "mount --bind -o ro '{0}' '{0}'",
                    folder.display().to_string().replace('\'', "")
                ),
            ),
        };
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg("sh");
                command
            }
            None => Command::new("sh"),
        };
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(first)
            .arg(executable)
            .args(fixtures)
            .env(DIR, &self.dir)
            .env("OWNERSHIP_E2E_RUNS_ID", &self.id)
            // One test per process, as nextest runs them.
            .env("NEXTEST_EXECUTION_MODE", "process-per-test")
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(out)
            .stderr(err);
        let child = command.spawn().expect("the run starts");
        Run {
            dir: self.dir.clone(),
            name,
            child,
        }
    }
}

impl Drop for Runs {
    /// The folder goes with a test that passed; a failed one's stays, to look at.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `unshare` with `flags`; as another user than root, in a user namespace of its own
/// where it is root (what lets it make the other namespaces).
fn unshare(flags: &[&str]) -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    let root = fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0);
    let mut command = vec!["unshare".to_owned()];
    if !root {
        command.extend(["--user".to_owned(), "--map-root-user".to_owned()]);
    }
    command.extend(flags.iter().map(|flag| (*flag).to_owned()));
    command
}

impl Run {
    /// What the run printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(self.dir.join(format!("{}.out", self.name))).unwrap_or_default()
    }

    /// Waits until `fixture` reported `event`, and returns the value it reported.
    ///
    /// # Panics
    ///
    /// If the run ends first, or after [`WAIT`], with what it printed.
    pub fn wait_for(&mut self, fixture: &str, event: &str) -> String {
        let file = event_file(&self.dir, fixture, event);
        let started = Instant::now();
        loop {
            if let Ok(value) = fs::read_to_string(&file) {
                return value;
            }
            // Looked at again after the exit: an event written just before it counts.
            let exited = self.child.try_wait().ok().flatten();
            if let Some(status) = exited {
                if let Ok(value) = fs::read_to_string(&file) {
                    return value;
                }
                panic!(
                    "the run {} ended ({status}) before {fixture} reported {event}:\n{}",
                    self.name,
                    self.output()
                );
            }
            assert!(
                started.elapsed() < WAIT,
                "{fixture} did not report {event} within {WAIT:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the run has ended.
    pub fn has_ended(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Tells `fixture` to go on past its [`await_command`] of `command`.
    ///
    /// # Panics
    ///
    /// If the command can't be written.
    pub fn tell(&self, fixture: &str, command: &str) {
        write_atomically(&command_file(&self.dir, fixture, command), "");
    }

    /// Lets a fixture that holds something (a database, a file) go: tells it to
    /// `finish`, checks that it then reports `still` as `ok` (what it held still works),
    /// and waits for the run to end ([`Run::finish`]).
    ///
    /// # Panics
    ///
    /// If it reports anything else, or the run fails.
    pub fn let_go(mut self, fixture: &str) -> String {
        self.tell(fixture, "finish");
        let still = self.wait_for(fixture, "still");
        assert_eq!(still, "ok", "{fixture}, let go: {still}");
        self.finish()
    }

    /// Waits for the run to end, and returns what it printed.
    ///
    /// # Panics
    ///
    /// If it failed, or still runs after [`WAIT`].
    pub fn finish(mut self) -> String {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                let output = self.output();
                assert!(
                    status.success(),
                    "the run {} failed ({status}):\n{output}",
                    self.name
                );
                return output;
            }
            assert!(
                started.elapsed() < WAIT,
                "the run {} did not end within {WAIT:?}:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    /// A run still going when its test fails is killed (with `--kill-child`, `unshare`
    /// takes its namespace's processes with it).
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn event_file(dir: &Path, fixture: &str, event: &str) -> PathBuf {
    dir.join(format!("{fixture}.event.{event}"))
}

fn command_file(dir: &Path, fixture: &str, command: &str) -> PathBuf {
    dir.join(format!("{fixture}.command.{command}"))
}

/// Written whole or not at all, for a reader that polls.
fn write_atomically(file: &Path, value: &str) {
    let partial = file.with_extension("partial");
    fs::write(&partial, value).expect("the runs' folder is writable");
    fs::rename(&partial, file).expect("the runs' folder is writable");
}

/// Whether this process is a fixture that a test started as a run.
///
/// ```
/// // A test binary run by hand, or by cargo, is not a run.
/// assert!(!ownership_e2e::runs::in_a_run());
/// ```
pub fn in_a_run() -> bool {
    std::env::var_os(DIR).is_some() && std::env::var_os(FIXTURE).is_some()
}

fn this_fixture() -> (PathBuf, String) {
    let dir = std::env::var_os(DIR).expect("a fixture started by a test, through Runs::start");
    let fixture = std::env::var(FIXTURE).expect("a fixture started by a test");
    (PathBuf::from(dir), fixture)
}

/// In a fixture: reports `event`, with `value`, to the test that started it.
///
/// # Panics
///
/// Outside a run (see [`in_a_run`]).
pub fn report(event: &str, value: &str) {
    let (dir, fixture) = this_fixture();
    write_atomically(&event_file(&dir, &fixture, event), value);
}

/// In a fixture: waits until the test that started it sends `command`.
///
/// # Panics
///
/// Outside a run, or after [`WAIT`].
pub fn await_command(command: &str) {
    let (dir, fixture) = this_fixture();
    let file = command_file(&dir, &fixture, command);
    let started = Instant::now();
    while !file.exists() {
        assert!(
            started.elapsed() < WAIT,
            "{fixture}: no `{command}` within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// In a fixture: ends the process at once, as a crash does (with its status success, so
/// that the run goes on to its next fixture): no destructor runs, no harness hook, no
/// cleanup of what the process made.
pub fn crash() {
    std::process::exit(0);
}
