//! Which tests of the run's processes still run, as servers in *other* processes see it.
//!
//! A server in the test's own process asks the actor registry. A server in another
//! process can't, so the first token a test makes leaves a marker file,
//! `ownership-runwide/http/<run>/live/<pid>-<start>-<test>` in the target directory, that
//! goes when the test's actor goes down. A test whose process died (leaving its markers)
//! counts as ended too: the marker names the process by id and start time.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use super::token::Issuer;
use crate::actor_id::ActorId;
use crate::ownership::Ownership;
use crate::runwide::{default_dir, process_start_time};

/// The marker of one test: removed when dropped, which the ownership server below does
/// when the test's actor goes down.
#[derive(Debug)]
struct Marker {
    path: PathBuf,
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The markers of this process's tests, each owned by its test (released when it ends).
static MARKERS: LazyLock<Ownership<(), Arc<Marker>>> = LazyLock::new(Ownership::new);

/// The folder of the markers of the run tagged `run`.
pub(super) fn folder(run: &str) -> PathBuf {
    default_dir().join("http").join(run).join("live")
}

fn marker_path(run: &str, issuer: Issuer, test: u64) -> PathBuf {
    folder(run).join(format!("{}-{}-{test}", issuer.pid, issuer.start))
}

/// Notes that `test`, of this process, makes tokens: leaves its marker, once. A marker
/// that can't be written costs only servers in other processes, which then reject the
/// test's tokens as ended; that is logged.
pub(super) fn note_live(run: &str, issuer: Issuer, test: ActorId) {
    let noted = MARKERS.get_and_update(test, (), |existing| match existing {
        Some(marker) => (Ok(()), Arc::clone(marker)),
        None => {
            let path = marker_path(run, issuer, test.as_u64());
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, b""));
            (written, Arc::new(Marker { path }))
        }
    });
    if let Ok(Err(error)) = noted {
        tracing::warn!(
            %test,
            %error,
            "could not leave the marker that tells servers in other processes that this \
             test runs; they will reject its ownership tokens"
        );
    }
}

/// Whether `test` of `issuer`, a process of the run tagged `run`, still runs.
pub(super) fn is_live(run: &str, issuer: Issuer, test: u64) -> bool {
    let process_alive = issuer.start == 0 || process_start_time(issuer.pid) == Some(issuer.start);
    process_alive && marker_path(run, issuer, test).exists()
}
