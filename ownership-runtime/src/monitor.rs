//! Down notification: which actors are alive, and who must be told when one goes down.
//!
//! This is the Erlang monitor, process-wide. Every live actor has an entry here from
//! [`Actor::new`](crate::Actor::new) until its guard drops. An ownership server that
//! starts holding state for an actor *monitors* it; when the actor's guard drops, the
//! entry is removed first (from then on the actor is down for everyone) and then every
//! monitoring server is told, outside any lock of this module.
//!
//! Monitoring an actor that is already down fails instead of registering, so a server
//! never keeps state for an actor that will never be reported down.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{LazyLock, Mutex, PoisonError, Weak};

use rustc_hash::FxHashMap;

use crate::actor_id::ActorId;

/// Told when a monitored actor goes down. Implemented by the ownership servers.
pub(crate) trait DownListener: Send + Sync {
    /// `actor`'s guard has dropped. Called once per monitor, on the dropping thread.
    fn actor_down(&self, actor: ActorId);
}

/// The number of independently locked parts of the registry: creating and dropping actors
/// on different threads rarely meet on one lock.
const SHARDS: usize = 32;

/// The monitors of one live actor.
type Monitors = Vec<Weak<dyn DownListener>>;

/// One live actor: its identity (with its name, for [`live_actor`]) and its monitors.
struct Live {
    actor: ActorId,
    monitors: Monitors,
}

/// Live actors, each with the servers that monitor it, split by actor number.
struct Registry {
    shards: [Mutex<FxHashMap<u64, Live>>; SHARDS],
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    shards: std::array::from_fn(|_| Mutex::default()),
});

fn shard(number: u64) -> std::sync::MutexGuard<'static, FxHashMap<u64, Live>> {
    let index = (number % SHARDS as u64) as usize;
    REGISTRY.shards[index]
        .lock()
        // The registry's maps are updated by single, non-panicking operations.
        .unwrap_or_else(PoisonError::into_inner)
}

/// Records a newly created actor as alive.
pub(crate) fn register(actor: ActorId) {
    let live = Live {
        actor,
        monitors: Vec::new(),
    };
    shard(actor.as_u64()).insert(actor.as_u64(), live);
}

/// Whether `actor` is alive.
pub(crate) fn is_alive(actor: ActorId) -> bool {
    shard(actor.as_u64()).contains_key(&actor.as_u64())
}

/// The live actor numbered `number` in this process (see [`ActorId::as_u64`]), with its
/// name; `None` once it is down.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn live_actor(number: u64) -> Option<ActorId> {
    shard(number).get(&number).map(|live| live.actor)
}

/// Asks that `listener` be told when `actor` goes down. Returns `false`, registering
/// nothing, when the actor is already down.
pub(crate) fn monitor(actor: ActorId, listener: Weak<dyn DownListener>) -> bool {
    match shard(actor.as_u64()).get_mut(&actor.as_u64()) {
        Some(Live { monitors, .. }) => {
            // Drop the monitors of servers that no longer exist while we are here.
            monitors.retain(|existing| existing.strong_count() > 0);
            monitors.push(listener);
            true
        }
        None => false,
    }
}

/// Marks `actor` down and tells its monitors.
///
/// Every monitor is told even if one panics (dropping an adapter's metadata may panic, as
/// a mockall mock with unmet expectations does); the first panic then continues.
pub(crate) fn down(actor: ActorId) {
    let monitors = shard(actor.as_u64())
        .remove(&actor.as_u64())
        .map(|live| live.monitors)
        .unwrap_or_default();
    let mut first_panic = None;
    for listener in monitors {
        if let Some(listener) = listener.upgrade() {
            let told = panic::catch_unwind(AssertUnwindSafe(|| listener.actor_down(actor)));
            if let Err(payload) = told {
                first_panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
}

impl ActorId {
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
        is_alive(self)
    }
}
