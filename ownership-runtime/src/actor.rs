//! The [`Actor`] guard that creates an actor identity ([`ActorId`]) and keeps it alive.
//!
//! An actor is anything that runs code on behalf of someone: a test, a long-lived
//! worker, a pool of threads. Its identity is an [`ActorId`], a small `Copy` value that
//! is unique within the process. The identity lives as long as its [`Actor`] guard:
//! when the guard drops, normally or while a panic unwinds through it, the actor is
//! *down*, and every ownership server that holds state for it is told at once (like an
//! Erlang monitor; see [`crate::monitor`]).

use std::fmt;
use std::future::Future;

use crate::actor_id::ActorId;
use crate::callers::{Entered, WithCallers};
use crate::monitor;

/// The guard that creates an actor identity and keeps it alive.
///
/// When the guard drops (at the end of a scope, or while a panic unwinds through it), the
/// actor is *down*: every [`Ownership`](crate::Ownership) server that holds state for it
/// cleans that state up before `drop` returns.
///
/// ```
/// use ownership_runtime::{callers, Actor, Ownership};
///
/// let server: Ownership<&str, u32> = Ownership::new();
/// let actor = Actor::named("tests::checkout");
/// server.get_and_update(actor.id(), "db", |_| ((), 1)).unwrap();
///
/// // Code that runs as the actor finds what it owns.
/// let _entered = actor.enter();
/// assert!(server.fetch_owner(&callers(), &"db").is_some());
/// drop(_entered);
///
/// let id = actor.id();
/// drop(actor); // the actor is down: its keys are released
/// assert!(server.get_owned(id).is_empty());
/// ```
#[must_use = "an actor ends when dropped: bind it (`let worker = Actor::new();`) and keep \
              it for as long as the actor must be alive"]
pub struct Actor {
    id: ActorId,
}

impl Actor {
    /// Creates an unnamed actor.
    ///
    /// ```
    /// let worker = ownership_runtime::Actor::new();
    /// assert!(worker.id().is_alive());
    /// ```
    pub fn new() -> Actor {
        Actor::create(None)
    }

    /// Creates an actor with a name, shown in every message about it (a test's name is
    /// its module path and function name, e.g. `orders::tests::places_an_order`).
    ///
    /// Each distinct name is stored once for the life of the process, so prefer stable
    /// names (a test, a worker's role) over names that embed a counter.
    ///
    /// ```
    /// let actor = ownership_runtime::Actor::named("payments::worker");
    /// assert_eq!(actor.id().name(), Some("payments::worker"));
    /// ```
    pub fn named(name: impl AsRef<str>) -> Actor {
        Actor::create(Some(name.as_ref()))
    }

    fn create(name: Option<&str>) -> Actor {
        let id = ActorId::next(name);
        monitor::register(id);
        Actor { id }
    }

    /// The actor's identity.
    ///
    /// ```
    /// let actor = ownership_runtime::Actor::new();
    /// let id = actor.id(); // Copy: keep it, send it, compare it
    /// assert_eq!(id, actor.id());
    /// ```
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The chain code runs with as this actor, here: this actor, then the current
    /// [`callers()`](crate::callers()). Hand it to code that runs elsewhere (see
    /// [`Callers::enter`](crate::Callers::enter)).
    ///
    /// ```
    /// use ownership_runtime::Actor;
    ///
    /// let test = Actor::named("test");
    /// let _test = test.enter();
    /// let worker = Actor::named("worker");
    /// assert_eq!(&worker.chain()[..], &[worker.id(), test.id()]);
    /// ```
    pub fn chain(&self) -> crate::Callers {
        crate::callers().pushed_front(self.id)
    }

    /// Runs `future` as this actor: while it runs, [`callers()`](crate::callers()) starts
    /// with this actor, followed by the chain current where `scope` was called.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let worker = Actor::named("worker");
    /// let seen = worker.scope(async { callers() }).await;
    /// assert_eq!(seen.first(), Some(&worker.id()));
    /// # });
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> WithCallers<F> {
        WithCallers::new(future, self.chain())
    }

    /// Runs the current thread as this actor until the returned guard drops: while it is
    /// held, [`callers()`](crate::callers()) starts with this actor.
    ///
    /// The guard is not `Send`: it belongs to the thread that entered. Don't hold it
    /// across an `.await`; use [`Actor::scope`] for async code.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor};
    ///
    /// let actor = Actor::new();
    /// {
    ///     let _entered = actor.enter();
    ///     assert_eq!(callers().first(), Some(&actor.id()));
    /// }
    /// assert!(!callers().contains(&actor.id()));
    /// ```
    pub fn enter(&self) -> Entered {
        Entered::new(self.id)
    }
}

impl Default for Actor {
    fn default() -> Self {
        Actor::new()
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Actor").field(&self.id).finish()
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        monitor::down(self.id);
    }
}
