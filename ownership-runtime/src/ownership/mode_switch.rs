//! [`ModeSwitch`]: an ownership server seen only as something whose mode can be switched,
//! whatever its key and metadata types, so that the harness can put every server of a
//! process in shared mode for a shared test.

use std::hash::Hash;
use std::sync::{Arc, Weak};

use super::{Mode, Ownership, Server};
use crate::error::SharedOwnerDown;

/// An ownership server whose mode the harness switches for shared tests. Implemented by
/// every [`Ownership`]; register one with
/// [`harness::register_server`](crate::harness::register_server).
///
/// ```
/// use ownership_runtime::{Actor, Mode, ModeSwitch, Ownership, SharedOwnerDown};
///
/// let clocks: Ownership<&str, u64> = Ownership::new();
/// let switch: &dyn ModeSwitch = &clocks;
/// let test = Actor::named("tests::shared");
/// switch.switch_mode(Mode::Shared(test.id()))?;
/// assert_eq!(clocks.mode(), Mode::Shared(test.id()));
/// switch.switch_mode(Mode::Private)?;
/// assert_eq!(clocks.mode(), Mode::Private);
/// # Ok::<(), SharedOwnerDown>(())
/// ```
pub trait ModeSwitch: Send + Sync {
    /// Switches the server to `mode`.
    ///
    /// # Errors
    ///
    /// When the shared owner has already ended.
    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown>;
}

impl<K, M> ModeSwitch for Server<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.set_mode(mode)
    }
}

impl<K, M> ModeSwitch for Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn switch_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.set_mode(mode)
    }
}

impl<K, M> Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    /// The server as a [`ModeSwitch`], held weakly: it doesn't keep the server alive.
    /// What [`harness::register_server`](crate::harness::register_server) takes.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Mode, Ownership};
    ///
    /// let flags: Ownership<&str, bool> = Ownership::new();
    /// let switch = flags.mode_switch();
    /// let test = Actor::named("tests::shared_flags");
    /// switch.upgrade().unwrap().switch_mode(Mode::Shared(test.id())).unwrap();
    /// assert_eq!(flags.mode(), Mode::Shared(test.id()));
    /// drop(flags);
    /// assert!(switch.upgrade().is_none()); // the server is gone with its last handle
    /// ```
    pub fn mode_switch(&self) -> Weak<dyn ModeSwitch> {
        let server: Arc<dyn ModeSwitch> = self.server.clone();
        Arc::downgrade(&server)
    }
}
