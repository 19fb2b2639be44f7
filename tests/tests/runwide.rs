//! Run-wide setup across real processes: this test binary starts copies of itself (the
//! ignored `runwide_child` test) that race for one setup, and kills the one running it
//! with SIGKILL, on the file backend and on the local PostgreSQL server.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ownership_e2e::{postgres_available, postgres_url};
use ownership_runtime::runwide::{Once, RunWide, RunWideError, current_run_id};

const PROCESSES: usize = 8;

/// A fresh folder and run id for one test.
fn scratch(test: &str) -> (PathBuf, String) {
    let unique = format!(
        "{test}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = std::env::temp_dir().join(format!("runwide-{unique}"));
    fs::create_dir_all(&dir).unwrap();
    (dir, unique)
}

fn append(log: &Path, line: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn lines_starting(log: &Path, prefix: &str) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// One racing process. Configured through the environment by `start_children`.
#[test]
#[ignore = "fixture: started as a subprocess by the run-wide tests"]
fn runwide_child() {
    let log = PathBuf::from(std::env::var("RUNWIDE_LOG").expect("started by a run-wide test"));
    let name = std::env::var("RUNWIDE_NAME").unwrap();
    let hang_first = std::env::var("RUNWIDE_HANG_FIRST").is_ok();
    let run_wide = match std::env::var("RUNWIDE_BACKEND").unwrap().as_str() {
        "file" => RunWide::file_in(std::env::var("RUNWIDE_DIR").unwrap()),
        _ => RunWide::postgres(postgres_url()),
    }
    .timeout(Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = std::process::id();
    let outcome = runtime.block_on(run_wide.once(&name, || async {
        append(&log, &format!("started {pid}"));
        let first = lines_starting(&log, "started").len() == 1;
        if hang_first && first {
            // Waits to be killed in the middle of the setup.
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        append(&log, &format!("completed {pid}"));
        Ok::<_, String>(())
    }));
    let outcome = outcome.unwrap();
    println!(
        "outcome: {}",
        if outcome.ran_here() {
            "ran-here"
        } else {
            "already-done"
        }
    );
}

/// Starts the racing processes at once.
fn start_children(envs: &[(&str, String)]) -> Vec<Child> {
    (0..PROCESSES)
        .map(|_| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args([
                    "--ignored",
                    "--exact",
                    "runwide_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (key, value) in envs {
                command.env(key, value);
                if *key == "RUNWIDE_DIR" {
                    // Notes of setups done (see `RunWide::note_done`) go to the test's
                    // folder, not the target directory other runs use.
                    command.env("CARGO_TARGET_DIR", value);
                }
            }
            command.spawn().unwrap()
        })
        .collect()
}

/// Waits for a child, at most `limit`; returns what it printed.
fn finish(mut child: Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a child process hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "a child failed:\n{printed}");
    printed
}

fn outcomes(printed: &[String], which: &str) -> usize {
    printed
        .iter()
        .filter(|out| out.contains(&format!("outcome: {which}")))
        .count()
}

fn eight_processes_run_the_setup_once(backend: &str) {
    let (dir, run_id) = scratch(&format!("once-{backend}"));
    let log = dir.join("log");
    let children = start_children(&[
        ("RUNWIDE_BACKEND", backend.to_owned()),
        ("RUNWIDE_DIR", dir.display().to_string()),
        ("RUNWIDE_LOG", log.display().to_string()),
        ("RUNWIDE_NAME", format!("setup-{run_id}")),
        ("OWNERSHIP_RUN_ID", run_id),
    ]);
    let printed: Vec<String> = children
        .into_iter()
        .map(|child| finish(child, Duration::from_secs(60)))
        .collect();
    assert_eq!(lines_starting(&log, "started").len(), 1);
    assert_eq!(lines_starting(&log, "completed").len(), 1);
    assert_eq!(outcomes(&printed, "ran-here"), 1);
    assert_eq!(outcomes(&printed, "already-done"), PROCESSES - 1);
}

fn a_killed_holder_is_taken_over(backend: &str) {
    let (dir, run_id) = scratch(&format!("takeover-{backend}"));
    let log = dir.join("log");
    let mut children = start_children(&[
        ("RUNWIDE_BACKEND", backend.to_owned()),
        ("RUNWIDE_DIR", dir.display().to_string()),
        ("RUNWIDE_LOG", log.display().to_string()),
        ("RUNWIDE_NAME", format!("setup-{run_id}")),
        ("RUNWIDE_HANG_FIRST", "1".to_owned()),
        ("OWNERSHIP_RUN_ID", run_id),
    ]);
    // Wait for the first holder to be inside the setup, then kill it (SIGKILL).
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder_pid = loop {
        if let Some(line) = lines_starting(&log, "started").first() {
            break line["started ".len()..].parse::<u32>().unwrap();
        }
        assert!(Instant::now() < deadline, "no process started the setup");
        std::thread::sleep(Duration::from_millis(10));
    };
    let index = children
        .iter()
        .position(|child| child.id() == holder_pid)
        .unwrap();
    let mut holder = children.remove(index);
    let killed_at = Instant::now();
    holder.kill().unwrap();
    holder.wait().unwrap();

    // Another process takes over within a bounded time and completes the setup.
    let printed: Vec<String> = children
        .into_iter()
        .map(|child| finish(child, Duration::from_secs(30)))
        .collect();
    assert!(killed_at.elapsed() < Duration::from_secs(30));
    let started = lines_starting(&log, "started");
    let completed = lines_starting(&log, "completed");
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(
        completed.len(),
        1,
        "the setup completed exactly once: {completed:?}"
    );
    assert_ne!(completed[0], format!("completed {holder_pid}"));
    assert_eq!(outcomes(&printed, "ran-here"), 1);
    assert_eq!(outcomes(&printed, "already-done"), PROCESSES - 2);
}

#[test]
fn file_backend_eight_processes_run_the_setup_once() {
    eight_processes_run_the_setup_once("file");
}

#[test]
fn file_backend_a_killed_holder_is_taken_over() {
    a_killed_holder_is_taken_over("file");
}

#[test]
fn postgres_backend_eight_processes_run_the_setup_once() {
    if postgres_available("postgres_backend_eight_processes_run_the_setup_once") {
        eight_processes_run_the_setup_once("postgres");
    }
}

#[test]
fn postgres_backend_a_killed_holder_is_taken_over() {
    if postgres_available("postgres_backend_a_killed_holder_is_taken_over") {
        a_killed_holder_is_taken_over("postgres");
    }
}

#[test]
fn a_held_lock_times_out_naming_its_holder() {
    let (dir, run_id) = scratch("timeout");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let run_wide = RunWide::file_in(&dir).with_run_id(&run_id);
        let held = run_wide.lock("service").await.unwrap();
        let waiting = run_wide.clone().timeout(Duration::from_millis(100));
        let error = waiting.lock("service").await.unwrap_err();
        assert!(matches!(error, RunWideError::Timeout { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("the run-wide lock `service`"), "{message}");
        assert!(
            message.contains(&format!(
                "held by process {} of run {run_id}",
                std::process::id()
            )),
            "{message}"
        );
        assert!(
            message.contains("raise the wait with `RunWide::timeout`"),
            "{message}"
        );
        held.release().await;
        assert!(waiting.lock("service").await.is_ok());
    });
}

#[test]
fn a_new_run_runs_the_setup_again() {
    let (dir, run_id) = scratch("new-run");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ok = || async { Ok::<_, String>(()) };
        let first = RunWide::file_in(&dir).with_run_id(format!("{run_id}-1"));
        assert_eq!(first.once("schema", ok).await.unwrap(), Once::RanHere);
        assert_eq!(first.once("schema", ok).await.unwrap(), Once::AlreadyDone);
        let second = RunWide::file_in(&dir).with_run_id(format!("{run_id}-2"));
        assert_eq!(second.once("schema", ok).await.unwrap(), Once::RanHere);
    });
}

/// Prints the default run id; started as a subprocess.
#[test]
#[ignore = "fixture: started as a subprocess by the run id test"]
fn print_run_id() {
    println!("run id: {}", current_run_id());
}

#[test]
fn children_of_one_process_share_a_run_id_like_the_test_binaries_of_one_cargo_test() {
    let run_id_of_child = || {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "print_run_id", "--nocapture"])
            .env_remove("OWNERSHIP_RUN_ID")
            .env_remove("NEXTEST_RUN_ID")
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        printed
            .lines()
            .find_map(|line| line.strip_prefix("run id: ").map(str::to_owned))
            .unwrap()
    };
    let (first, second) = (run_id_of_child(), run_id_of_child());
    assert_eq!(first, second);
    assert!(
        first.starts_with(&format!("parent-{}-", std::process::id())),
        "{first}"
    );
}

/// A server no process can reach: a setup that needs the backend fails there.
const UNREACHABLE: &str = "postgres://root@127.0.0.1:9/nowhere";

/// Notes `RUNWIDE_NAME` done if `RUNWIDE_NOTE` is set, then runs it once against an
/// unreachable backend and prints what happened; started as a subprocess.
#[test]
#[ignore = "fixture: started as a subprocess by the notes test"]
fn note_child() {
    let name = std::env::var("RUNWIDE_NAME").expect("started by the notes test");
    let run_wide = RunWide::postgres(UNREACHABLE);
    if std::env::var("RUNWIDE_NOTE").is_ok() {
        run_wide.note_done(&name).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let once = runtime
        .block_on(run_wide.once(&name, || async { Err::<(), _>("the setup was not to run") }));
    match once {
        Ok(once) => println!("outcome: {once:?}"),
        Err(RunWideError::Backend { .. }) => println!("outcome: needed the backend"),
        Err(error) => panic!("unexpected: {error}"),
    }
}

#[test]
fn a_setup_one_process_noted_done_needs_no_backend_in_the_rest_of_a_named_run() {
    let (dir, unique) = scratch("noted");
    let name = format!("noted-{unique}");
    let child = |run_id: Option<&str>, note: bool| {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--ignored", "--exact", "note_child", "--nocapture"])
            .env("RUNWIDE_NAME", &name)
            .env("CARGO_TARGET_DIR", &dir)
            .env_remove("OWNERSHIP_RUN_ID")
            .env_remove("NEXTEST_RUN_ID")
            .env_remove("RUNWIDE_NOTE");
        if let Some(run_id) = run_id {
            command.env("NEXTEST_RUN_ID", run_id);
        }
        if note {
            command.env("RUNWIDE_NOTE", "1");
        }
        let output = command.output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "the child failed:\n{printed}");
        printed
            .lines()
            .find_map(|line| line.strip_prefix("outcome: ").map(str::to_owned))
            .unwrap()
    };
    let (run, next_run) = (format!("{unique}-1"), format!("{unique}-2"));
    assert_eq!(child(Some(&run), false), "needed the backend");
    assert_eq!(child(Some(&run), true), "AlreadyDone");
    // Later processes of the run find the note; the next run doesn't.
    assert_eq!(child(Some(&run), false), "AlreadyDone");
    assert_eq!(child(Some(&next_run), false), "needed the backend");
    // A run known only by its parent process (a binary run by hand from a shell) neither
    // writes nor trusts notes: the shell outlives many runs.
    assert_eq!(child(None, true), "needed the backend");
    assert_eq!(child(None, false), "needed the backend");
}
