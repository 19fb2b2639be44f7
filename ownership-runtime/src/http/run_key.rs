//! The run's signing key: 32 random bytes, made by the first process of the run that
//! needs one, and kept in a file that the run's other processes read.
//!
//! The file is `ownership-runwide/http/<run>/key` in the target directory (folder `0700`,
//! file `0600`), so a server in another process of the run (one started once for the run,
//! say) checks the tokens the tests make. Where the file can't be written, the process
//! keeps a key of its own in memory: its own servers still check its tokens, servers
//! elsewhere reject them as forged, and a warning says why.
//!
//! Folders of runs older than a day are removed when a run makes its key.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::token::{hex, unhex};
use crate::runwide::default_dir;

/// How long a run's folder is kept after it was last touched.
const KEEP_RUNS_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// A run's signing key.
#[derive(Debug)]
pub(super) struct RunKey {
    bytes: [u8; 32],
}

impl RunKey {
    /// The key's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn random() -> io::Result<RunKey> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes).map_err(io::Error::other)?;
        Ok(RunKey { bytes })
    }

    fn parse(text: &str) -> Option<RunKey> {
        let bytes = unhex(text.trim())?.try_into().ok()?;
        Some(RunKey { bytes })
    }
}

/// The key of the run tagged `run` (read or made once per process).
///
/// # Errors
///
/// Only when the system's random source fails.
pub(super) fn current(run: &str) -> io::Result<Arc<RunKey>> {
    static KEY: Mutex<Option<(String, Arc<RunKey>)>> = Mutex::new(None);
    let mut cached = KEY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((tag, key)) = cached.as_ref()
        && tag == run
    {
        return Ok(Arc::clone(key));
    }
    let key = Arc::new(shared_or_own(&default_dir().join("http"), run)?);
    *cached = Some((run.to_owned(), Arc::clone(&key)));
    Ok(key)
}

/// The run's shared key from its file (made now if it is the first), or one of this
/// process's own when the file can't be used.
fn shared_or_own(folder: &Path, run: &str) -> io::Result<RunKey> {
    match shared(folder, run) {
        Ok(key) => Ok(key),
        Err(error) => {
            tracing::warn!(
                folder = %folder.display(),
                %error,
                "the run's ownership-token key can't be shared through its file: this \
                 process signs with a key of its own, which servers in other processes \
                 reject"
            );
            RunKey::random()
        }
    }
}

fn shared(folder: &Path, run: &str) -> io::Result<RunKey> {
    let path = folder.join(run).join("key");
    if let Some(key) = read(&path)? {
        return Ok(key);
    }
    sweep_old_runs(folder);
    let run_folder = folder.join(run);
    private_folder(&run_folder)?;
    // Written under a name of this process's, then linked into place: the first link
    // wins, and every process reads the same key.
    let draft = run_folder.join(format!("key.{}.draft", std::process::id()));
    write_private(&draft, &hex(&RunKey::random()?.bytes))?;
    let linked = fs::hard_link(&draft, &path);
    let _ = fs::remove_file(&draft);
    match linked {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    read(&path)?.ok_or_else(|| io::Error::other(format!("{} is not a key", path.display())))
}

fn read(path: &Path) -> io::Result<Option<RunKey>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(RunKey::parse(&text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn private_folder(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

fn write_private(path: &PathBuf, text: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Removes the folders of runs not touched for [`KEEP_RUNS_FOR`].
fn sweep_old_runs(folder: &Path) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > KEEP_RUNS_FOR);
        if old {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_processes_of_a_run_share_one_key() {
        let folder = std::env::temp_dir().join(format!("run-key-test-{}", std::process::id()));
        let first = shared(&folder, "run-a").unwrap();
        let again = shared(&folder, "run-a").unwrap();
        let other = shared(&folder, "run-b").unwrap();
        assert_eq!(first.bytes, again.bytes);
        assert_ne!(first.bytes, other.bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(folder.join("run-a/key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&folder).unwrap();
    }
}
