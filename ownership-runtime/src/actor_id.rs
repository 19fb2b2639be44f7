//! Actor identity: [`ActorId`], a small `Copy` value, unique within the process, that
//! names the actor in every error. [`Actor`](crate::Actor) makes one and keeps it alive;
//! [`crate::monitor`] knows whether it still is.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

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
    pub(crate) fn next(name: Option<&str>) -> ActorId {
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
