//! Setup done once for a whole test run, across its processes: a template built and
//! migrated (SQLite's template file, [`TemplateDatabase`](crate::TemplateDatabase)'s
//! template database), through ownership-runtime's run-wide singleton, on the background
//! runtime. In one process, the caller keeps a `OnceCell` in front of it, so that only
//! the first checkout of the process asks.

use std::future::Future;

use ownership_runtime::background;
use ownership_runtime::runwide::{RunWide, RunWideError};

use crate::error::SandboxError;

/// Runs `setup` once for the run: the first process of the run to get here runs it under
/// `run_wide`'s lock named `name`, the others wait for it and go on. A failure is
/// [`SandboxError::Template`] with `message` (what was being made), caused by the setup's
/// own error (which says what failed and how to fix it) or by the run-wide error (a lock
/// that could not be had).
pub(crate) async fn once_per_run<F, Fut, E>(
    label: &str,
    message: String,
    run_wide: RunWide,
    name: String,
    setup: F,
) -> Result<(), SandboxError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    // Known done in this run (a note on this machine): no hop to the background runtime,
    // which a test process (nextest's) would pay for every setup of its one test.
    if run_wide.noted_done(&name) {
        return Ok(());
    }
    let done = background::run(async move {
        run_wide
            .once(&name, setup)
            .await
            .map(|_| ())
            .map_err(|error| match error {
                RunWideError::SetupFailed { source, .. } => source,
                other => Box::new(other),
            })
    })
    .await;
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(SandboxError::Template {
            label: label.to_owned(),
            message,
            source: Some(source),
        }),
        Err(source) => Err(SandboxError::Background {
            label: label.to_owned(),
            source,
        }),
    }
}
