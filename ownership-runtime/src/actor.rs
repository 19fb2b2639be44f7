//! Actor identity: [`ActorId`] and the [`Actor`] guard that creates one.
//!
//! An actor is anything that runs code on behalf of someone: a test, a long-lived
//! worker, a pool of threads. Its identity is an [`ActorId`], a small `Copy` value that
//! is unique within the process. The identity lives as long as its [`Actor`] guard:
//! when the guard drops, normally or while a panic unwinds through it, the actor is
//! *down*, and every ownership server that holds state for it is told at once (like an
//! Erlang monitor; see [`crate::monitor`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

use crate::callers::{Entered, WithCallers};
use crate::monitor;

/// The identity of an actor: unique within the process, `Copy`, cheap to compare and
/// to hash (only the number takes part in both).
///
/// It is displayed as `actor#42`, or `actor#42 (tests::checkout)` when the actor has a
/// name, so error messages say which test or worker they are about.
///
/// ```
/// use ownership_runtime::Actor;
///
/// let actor = Actor::named("tests::checkout");
/// let id = actor.id();
/// assert!(id.to_string().starts_with("actor#"));
/// assert!(id.to_string().ends_with(" (tests::checkout)"));
/// assert_eq!(id.name(), Some("tests::checkout"));
/// assert!(id.is_alive());
/// drop(actor);
/// assert!(!id.is_alive());
/// ```
#[derive(Clone, Copy)]
pub struct ActorId {
    number: NonZeroU64,
    name: Option<&'static ActorName>,
}

/// An interned actor name. Names are interned (each distinct name is stored once for the
/// life of the process) so that [`ActorId`] stays `Copy` and 16 bytes wide.
struct ActorName {
    text: Box<str>,
}

/// Every distinct actor name seen so far, by its text.
static NAMES: LazyLock<Mutex<HashMap<&'static str, &'static ActorName>>> =
    LazyLock::new(Default::default);

/// The next actor number; numbers start at 1 and are never reused.
static NEXT_NUMBER: AtomicU64 = AtomicU64::new(1);

fn intern(name: &str) -> &'static ActorName {
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(interned) = names.get(name) {
        return interned;
    }
    let interned: &'static ActorName = Box::leak(Box::new(ActorName { text: name.into() }));
    names.insert(&interned.text, interned);
    interned
}

impl ActorId {
    fn next(name: Option<&str>) -> ActorId {
        let number = NEXT_NUMBER.fetch_add(1, Ordering::Relaxed);
        ActorId {
            // The counter starts at 1 and would need 2^64 actors to wrap.
            number: NonZeroU64::new(number).unwrap_or(NonZeroU64::MIN),
            name: name.map(intern),
        }
    }

    /// The actor's number: unique within the process, never reused.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    ///
    /// let (a, b) = (Actor::new(), Actor::new());
    /// assert_ne!(a.id().as_u64(), b.id().as_u64());
    /// ```
    pub fn as_u64(self) -> u64 {
        self.number.get()
    }

    /// The actor's name, if it was created with [`Actor::named`].
    ///
    /// ```
    /// use ownership_runtime::Actor;
    ///
    /// assert_eq!(Actor::named("worker").id().name(), Some("worker"));
    /// assert_eq!(Actor::new().id().name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        self.name.map(|name| &*name.text)
    }

    /// Whether the actor's [`Actor`] guard is still alive.
    ///
    /// ```
    /// use ownership_runtime::Actor;
    ///
    /// let actor = Actor::new();
    /// let id = actor.id();
    /// assert!(id.is_alive());
    /// drop(actor);
    /// assert!(!id.is_alive());
    /// ```
    pub fn is_alive(self) -> bool {
        monitor::is_alive(self)
    }
}

impl PartialEq for ActorId {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

impl Eq for ActorId {}

impl Hash for ActorId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl PartialOrd for ActorId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ActorId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.number.cmp(&other.number)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.number)?;
        if let Some(name) = self.name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

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
