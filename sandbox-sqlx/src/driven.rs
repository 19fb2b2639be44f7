//! Where a checkout or checkin does its database work: [`Driven`].

use ownership_runtime::background::{self, BackgroundError};

/// Where a checkout or checkin does its database work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driven {
    /// In a task of its own on the background runtime, so that the caller's future can
    /// be dropped midway (its test's runtime shutting down, say) without stranding a
    /// connection.
    Spawned,
    /// Right in the caller's future, which a thread blocks on (with the background
    /// runtime's handle) to its end: the harness's hooks. Saves two thread hops.
    Here,
}

impl Driven {
    /// Runs `work` where this says.
    pub(crate) async fn run<T: Send + 'static>(
        self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, BackgroundError> {
        match self {
            Driven::Spawned => background::run(work).await,
            Driven::Here => Ok(work.await),
        }
    }
}
