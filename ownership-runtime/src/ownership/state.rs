//! The server's state: one commented structure, and the small operations on it that the
//! request handlers in the parent module combine.
//!
//! Layout, and why:
//!
//! - What each actor owns and is allowed lives in that actor's [`Entries`], in one of
//!   [`SHARDS`] read-write-locked maps chosen by the actor's number. A lookup reads only
//!   the shards of the actors in its chain, so concurrent tests (different actors) never
//!   wait on one another and never write to a shared cache line.
//! - Everything else, and the right to change anything, is behind one mutex
//!   ([`Writes`]). Writers hold it for the whole of a request and take shard write
//!   locks one at a time inside it; readers never take it.
//! - User code (update functions, lazy resolvers, `Drop` of metadata and resolvers) never
//!   runs under any of these locks.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::thread::ThreadId;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::actor_id::ActorId;

use super::LazyResolver;

/// How many independently locked parts the per-actor state is split into.
pub(super) const SHARDS: usize = 64;

/// One part of the per-actor state: the entries of the actors whose number falls in it.
type Shard<K, M> = RwLock<FxHashMap<ActorId, Entries<K, M>>>;

/// The whole state of one server.
pub(super) struct State<K, M> {
    /// Per-actor entries, by actor, split by actor number (see the module docs).
    shards: Box<[Padded<Shard<K, M>>]>,
    /// The shared owner while the server is in shared mode, `None` in private mode.
    shared_owner: RwLock<Option<ActorId>>,
    /// Mirrors `shared_owner.is_some()`, so private-mode lookups skip that lock.
    shared: AtomicBool,
    /// How many lazy allowances wait to be resolved, so lookups skip resolution when none
    /// do.
    lazy_pending: AtomicUsize,
    /// Serializes every change, and holds what only writers read.
    writes: Mutex<Writes<K>>,
    /// Signalled whenever an update function's result is stored (or abandoned), for
    /// requests that wait for a slot to become [`Slot::Ready`].
    slot_released: Condvar,
}

/// What only writers read, under [`State::writes`].
pub(super) struct Writes<K> {
    /// Lazy allowances not resolved yet, oldest first.
    pub(super) lazy: Vec<LazyAllowance<K>>,
    /// The number the next lazy allowance gets, to find it again after resolution.
    pub(super) next_lazy: u64,
    /// The actors this server has asked to be told about when they go down. Every actor
    /// that has entries, and the shared owner, is in here until it goes down.
    pub(super) monitored: FxHashSet<ActorId>,
}

/// What one actor owns and is allowed.
pub(super) struct Entries<K, M> {
    /// The keys it owns, with their metadata.
    pub(super) owned: FxHashMap<K, Slot<M>>,
    /// The keys it may use, each with the root owner that allowed it (allowances made
    /// through an allowed actor point straight at the owner: transitive, and independent
    /// of the actor in between).
    pub(super) allowed: FxHashMap<K, ActorId>,
    /// The actors allowed through it, to find their allowances when it goes.
    pub(super) dependents: FxHashSet<ActorId>,
    /// Whether its keys outlive it, until `cleanup_owner`.
    pub(super) manual_cleanup: bool,
}

/// The metadata of one owned key.
pub(super) enum Slot<M> {
    /// The metadata, available.
    Ready(M),
    /// Taken out by an update function running on the given thread; the key is owned
    /// meanwhile.
    Updating(ThreadId),
}

/// An allowance whose actors are found when a lookup of its key misses.
pub(super) struct LazyAllowance<K> {
    /// Identifies it among the pending ones.
    pub(super) number: u64,
    /// The key it allows.
    pub(super) key: K,
    /// The root owner it allows through.
    pub(super) owner: ActorId,
    /// Finds the actors to allow.
    pub(super) resolver: LazyResolver,
}

/// Keeps each shard on its own cache lines, so readers of different shards on different
/// cores don't slow each other down.
#[repr(align(128))]
struct Padded<T>(T);

impl<K, M> Default for Entries<K, M> {
    fn default() -> Self {
        Entries {
            owned: FxHashMap::default(),
            allowed: FxHashMap::default(),
            dependents: FxHashSet::default(),
            manual_cleanup: false,
        }
    }
}

impl<K, M> Entries<K, M> {
    /// Whether nothing is left worth keeping.
    pub(super) fn is_empty(&self) -> bool {
        self.owned.is_empty()
            && self.allowed.is_empty()
            && self.dependents.is_empty()
            && !self.manual_cleanup
    }
}

// Poisoning: no lock here is held while user code runs, except `K`'s `Hash`/`Eq`; the
// state stays consistent between single map operations, so a poisoned lock is used as is.

impl<K: Hash + Eq, M> State<K, M> {
    pub(super) fn new() -> Self {
        State {
            shards: (0..SHARDS).map(|_| Padded(RwLock::default())).collect(),
            shared_owner: RwLock::new(None),
            shared: AtomicBool::new(false),
            lazy_pending: AtomicUsize::new(0),
            writes: Mutex::new(Writes {
                lazy: Vec::new(),
                next_lazy: 0,
                monitored: FxHashSet::default(),
            }),
            slot_released: Condvar::new(),
        }
    }

    fn shard_of(&self, actor: ActorId) -> &Shard<K, M> {
        &self.shards[(actor.as_u64() % SHARDS as u64) as usize].0
    }

    /// Reads the shard that holds `actor`'s entries.
    pub(super) fn read(
        &self,
        actor: ActorId,
    ) -> RwLockReadGuard<'_, FxHashMap<ActorId, Entries<K, M>>> {
        self.shard_of(actor)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the shard that holds `actor`'s entries. Only with [`State::lock_writes`]
    /// held.
    pub(super) fn write(
        &self,
        actor: ActorId,
    ) -> RwLockWriteGuard<'_, FxHashMap<ActorId, Entries<K, M>>> {
        self.shard_of(actor)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the right to change the state.
    pub(super) fn lock_writes(&self) -> MutexGuard<'_, Writes<K>> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until some update function's result is stored; `writes` is released
    /// meanwhile.
    pub(super) fn wait_for_slot<'a>(
        &self,
        writes: MutexGuard<'a, Writes<K>>,
    ) -> MutexGuard<'a, Writes<K>> {
        self.slot_released
            .wait(writes)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the requests waiting in [`State::wait_for_slot`].
    pub(super) fn release_slots(&self) {
        self.slot_released.notify_all();
    }

    /// The shared owner, if the server is in shared mode.
    pub(super) fn shared_owner(&self) -> Option<ActorId> {
        if !self.shared.load(Ordering::Acquire) {
            return None;
        }
        *self
            .shared_owner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Switches mode. Only with [`State::lock_writes`] held.
    pub(super) fn set_shared_owner(&self, owner: Option<ActorId>) {
        *self
            .shared_owner
            .write()
            .unwrap_or_else(PoisonError::into_inner) = owner;
        self.shared.store(owner.is_some(), Ordering::Release);
    }

    /// Whether lazy allowances wait to be resolved.
    pub(super) fn has_lazy(&self) -> bool {
        self.lazy_pending.load(Ordering::Acquire) > 0
    }

    /// Records how many lazy allowances wait. Only with [`State::lock_writes`] held.
    pub(super) fn set_lazy_pending(&self, writes: &Writes<K>) {
        self.lazy_pending
            .store(writes.lazy.len(), Ordering::Release);
    }

    /// Whether `actor` owns `key`.
    pub(super) fn owns(&self, actor: ActorId, key: &K) -> bool {
        self.read(actor)
            .get(&actor)
            .is_some_and(|entries| entries.owned.contains_key(key))
    }

    /// The owner `actor` is allowed to use `key` through, if any.
    pub(super) fn allowed_through(&self, actor: ActorId, key: &K) -> Option<ActorId> {
        self.read(actor)
            .get(&actor)
            .and_then(|entries| entries.allowed.get(key).copied())
    }

    /// A copy of `owner`'s metadata for `key`, if it is ready.
    pub(super) fn metadata(&self, owner: ActorId, key: &K) -> Option<M>
    where
        M: Clone,
    {
        match self.read(owner).get(&owner)?.owned.get(key)? {
            Slot::Ready(metadata) => Some(metadata.clone()),
            Slot::Updating(_) => None,
        }
    }

    /// The owner `actor` gives access to `key` through: itself if it owns the key, or the
    /// owner that allowed it.
    pub(super) fn access_root(&self, actor: ActorId, key: &K) -> Option<ActorId> {
        let shard = self.read(actor);
        let entries = shard.get(&actor)?;
        if let Some(&owner) = entries.allowed.get(key) {
            Some(owner)
        } else if entries.owned.contains_key(key) {
            Some(actor)
        } else {
            None
        }
    }

    /// The first actor of `chain` that owns `key`, or the owner that allowed it.
    pub(super) fn lookup(&self, chain: &[ActorId], key: &K) -> Option<ActorId> {
        chain
            .iter()
            .find_map(|&caller| self.access_root(caller, key))
    }

    /// Applies `change` to `actor`'s entries (created if missing), then drops them if
    /// nothing is left. Only with [`State::lock_writes`] held.
    pub(super) fn update_entries<R>(
        &self,
        actor: ActorId,
        change: impl FnOnce(&mut Entries<K, M>) -> R,
    ) -> R {
        let mut shard = self.write(actor);
        let entries = shard.entry(actor).or_default();
        let result = change(entries);
        if entries.is_empty() {
            shard.remove(&actor);
        }
        result
    }

    /// Removes `actor`'s entries. Only with [`State::lock_writes`] held.
    pub(super) fn take_entries(&self, actor: ActorId) -> Option<Entries<K, M>> {
        self.write(actor).remove(&actor)
    }

    /// Puts entries back for `actor` unless they are empty. Only with
    /// [`State::lock_writes`] held.
    pub(super) fn put_entries(&self, actor: ActorId, entries: Entries<K, M>) {
        if !entries.is_empty() {
            self.write(actor).insert(actor, entries);
        }
    }

    /// Every actor's entries, for snapshots: the shards are read one at a time.
    pub(super) fn for_each_entries(&self, mut visit: impl FnMut(ActorId, &Entries<K, M>)) {
        for shard in self.shards.iter() {
            let shard = shard.0.read().unwrap_or_else(PoisonError::into_inner);
            for (&actor, entries) in shard.iter() {
                visit(actor, entries);
            }
        }
    }
}
