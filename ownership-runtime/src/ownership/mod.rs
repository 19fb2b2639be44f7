//! The ownership server, [`Ownership<K, M>`]: who owns which key, who else may use it,
//! and what happens when an owner ends.
//!
//! The rules are NimbleOwnership's (Elixir), kept where they matter and fixed where they
//! surprise:
//!
//! - An actor becomes the **owner** of a key with [`Ownership::get_and_update`], which
//!   also stores the key's metadata (a connection, a mock).
//! - An owner, or an actor it allowed, may **allow** other actors to use the key
//!   ([`Ownership::allow`]). Allowances point at the *root* owner: they are transitive,
//!   and survive the actor in between going down. An allowance may be **lazy**: a
//!   resolver that names the actors to allow only when a lookup of that key misses
//!   (useful for workers that don't exist yet when the test allows them).
//! - A lookup ([`Ownership::fetch_owner`]) walks the [callers chain](crate::callers()),
//!   innermost first, and answers with the first actor that owns the key or is allowed to
//!   use it.
//! - In **shared mode** ([`Mode::Shared`]) every lookup finds the shared owner, whoever
//!   asks. When the shared owner goes down the server returns to private mode.
//! - When an owner goes **down** ([`Actor`](crate::Actor) dropped, also by a panic), its
//!   keys and every allowance that points to it are removed, unless it was set to
//!   [manual cleanup](Ownership::set_owner_to_manual_cleanup); an allowed actor going
//!   down loses only its own allowances.
//!
//! Unlike NimbleOwnership: an owner can allow others whatever its metadata is; a lazy
//! allowance that resolved to a live actor is not run again; an actor that has ended can
//! neither own nor be allowed anything ([`OwnershipError::ActorDown`]); and the shared
//! owner's keys are released when it goes down, like any owner's.
//!
//! # Concurrency
//!
//! Lookups take no global lock: what each actor owns is kept apart by actor (see
//! `state.rs`), so concurrent tests don't contend. Changes are serialized. User code
//! (update functions, lazy resolvers, the `Drop` of metadata) never runs under a lock,
//! so it may call the same server again.

mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Weak};

use self::state::{Entries, LazyAllowance, Slot, State, Writes};
use crate::actor_id::ActorId;
use crate::error::{OwnershipError, SharedOwnerDown};
use crate::monitor::{self, DownListener};

/// An ownership server: which actor owns each key of type `K` (with metadata `M`), and
/// which other actors may use it. Cheap to clone: clones share one server.
///
/// ```
/// use ownership_runtime::{callers, Actor, Found, Ownership};
///
/// let connections: Ownership<&str, u32> = Ownership::new();
/// let test = Actor::named("tests::checkout");
///
/// // The test owns the key "db", with connection number 7 as metadata.
/// connections.get_and_update(test.id(), "db", |_| ((), 7)).unwrap();
///
/// // A worker the test allowed finds the test as the owner.
/// let worker = Actor::named("worker");
/// connections.allow(test.id(), worker.id(), "db").unwrap();
/// assert_eq!(
///     connections.fetch_owner(&[worker.id()], &"db"),
///     Some(Found::Owner(test.id()))
/// );
/// assert_eq!(connections.get_owned(test.id()).get("db"), Some(&7));
///
/// // When the test ends, everything it owned goes with it.
/// drop(test);
/// assert_eq!(connections.fetch_owner(&[worker.id()], &"db"), None);
/// ```
pub struct Ownership<K, M> {
    pub(crate) server: Arc<Server<K, M>>,
}

/// The shared part of an [`Ownership`] handle.
pub(crate) struct Server<K, M> {
    state: State<K, M>,
    /// This server as a down listener, handed to [`monitor::monitor`].
    this: Weak<Server<K, M>>,
}

/// The server's mode.
///
/// ```
/// use ownership_runtime::{Actor, Mode, Ownership};
///
/// let server: Ownership<&str, ()> = Ownership::new();
/// assert_eq!(server.mode(), Mode::Private);
/// let test = Actor::new();
/// server.set_mode(Mode::Shared(test.id())).unwrap();
/// assert_eq!(server.mode(), Mode::Shared(test.id()));
/// drop(test); // the shared owner ended: back to private
/// assert_eq!(server.mode(), Mode::Private);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Lookups go through owners and allowances along the callers chain (the default).
    Private,
    /// Every lookup, from any actor, finds this owner.
    Shared(ActorId),
}

/// What [`Ownership::fetch_owner`] found.
///
/// ```
/// use ownership_runtime::{Actor, Found};
///
/// let owner = Actor::new();
/// assert_eq!(Found::Owner(owner.id()).id(), owner.id());
/// assert_eq!(Found::SharedOwner(owner.id()).id(), owner.id());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Found {
    /// The owner of the key, reached through the callers chain (the caller itself, or the
    /// owner that allowed it).
    Owner(ActorId),
    /// The server is in shared mode: this is the shared owner.
    SharedOwner(ActorId),
}

impl Found {
    /// The owner found, whichever way.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Found, Ownership, OwnershipError};
    ///
    /// let mailers: Ownership<&str, ()> = Ownership::new();
    /// let (test, worker) = (Actor::named("test"), Actor::named("worker"));
    /// mailers.get_and_update(test.id(), "smtp", |_| ((), ()))?;
    /// mailers.allow(test.id(), worker.id(), "smtp")?;
    /// let owner = mailers.fetch_owner(&[worker.id()], &"smtp").map(Found::id);
    /// assert_eq!(owner, Some(test.id()));
    /// # Ok::<(), OwnershipError<&str>>(())
    /// ```
    pub fn id(self) -> ActorId {
        match self {
            Found::Owner(id) | Found::SharedOwner(id) => id,
        }
    }
}

/// Whom [`Ownership::allow`] allows: an actor, or a lazy resolver.
///
/// ```
/// use ownership_runtime::{Actor, ToAllow};
///
/// let worker = Actor::new();
/// let direct: ToAllow = worker.id().into();
/// let id = worker.id();
/// let lazy = ToAllow::lazy(move || [id]);
/// # let _ = (direct, lazy);
/// ```
#[derive(Clone)]
pub enum ToAllow {
    /// This actor.
    Actor(ActorId),
    /// The actors the resolver names when a lookup of the key misses.
    Lazy(LazyResolver),
}

impl ToAllow {
    /// A lazy allowance: `resolve` is run (outside the server's locks) when a lookup of
    /// the key misses, and the live actors it returns are allowed. Once it has named a
    /// live actor it is done and is not run again; while it names none (the worker
    /// doesn't exist yet) it is kept and tried at the next miss. It is dropped when the
    /// owner ends.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ownership_runtime::{Actor, ActorId, Found, Ownership, ToAllow};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let test = Actor::new();
    /// server.get_and_update(test.id(), "db", |_| ((), ())).unwrap();
    ///
    /// // The worker is started later; the test allows "whoever the worker will be".
    /// let worker_slot: Arc<Mutex<Option<ActorId>>> = Arc::default();
    /// let slot = worker_slot.clone();
    /// let resolver = ToAllow::lazy(move || slot.lock().unwrap().clone());
    /// server.allow(test.id(), resolver, "db").unwrap();
    ///
    /// let worker = Actor::named("worker");
    /// *worker_slot.lock().unwrap() = Some(worker.id());
    /// assert_eq!(server.fetch_owner(&[worker.id()], &"db"), Some(Found::Owner(test.id())));
    /// ```
    pub fn lazy<F, I>(resolve: F) -> ToAllow
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = ActorId>,
    {
        ToAllow::Lazy(LazyResolver(Arc::new(move || {
            resolve().into_iter().collect()
        })))
    }
}

impl From<ActorId> for ToAllow {
    fn from(actor: ActorId) -> Self {
        ToAllow::Actor(actor)
    }
}

impl fmt::Debug for ToAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToAllow::Actor(actor) => f.debug_tuple("Actor").field(actor).finish(),
            ToAllow::Lazy(_) => f.write_str("Lazy(..)"),
        }
    }
}

/// The resolver of a lazy allowance (see [`ToAllow::lazy`]).
///
/// ```
/// use ownership_runtime::{Actor, Found, Ownership, OwnershipError, ToAllow};
///
/// let server: Ownership<&str, ()> = Ownership::new();
/// let (test, worker) = (Actor::new(), Actor::named("worker"));
/// for key in ["db", "mailer"] {
///     server.get_and_update(test.id(), key, |_| ((), ()))?;
/// }
/// let id = worker.id();
/// let ToAllow::Lazy(resolver) = ToAllow::lazy(move || [id]) else { unreachable!() };
/// // One resolver, cloned for two keys.
/// server.allow(test.id(), ToAllow::Lazy(resolver.clone()), "db")?;
/// server.allow(test.id(), ToAllow::Lazy(resolver), "mailer")?;
/// assert_eq!(server.fetch_owner(&[id], &"mailer"), Some(Found::Owner(test.id())));
/// # Ok::<(), OwnershipError<&str>>(())
/// ```
#[derive(Clone)]
pub struct LazyResolver(Arc<dyn Fn() -> Vec<ActorId> + Send + Sync>);

impl fmt::Debug for LazyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazyResolver").finish_non_exhaustive()
    }
}

impl LazyResolver {
    fn resolve(&self) -> Vec<ActorId> {
        (self.0)()
    }
}

/// A point-in-time view of a server, for debugging and for checking invariants in tests.
///
/// ```
/// use ownership_runtime::{Actor, Ownership};
///
/// let server: Ownership<&str, ()> = Ownership::new();
/// let (test, worker) = (Actor::new(), Actor::new());
/// server.get_and_update(test.id(), "db", |_| ((), ())).unwrap();
/// server.allow(test.id(), worker.id(), "db").unwrap();
///
/// let snapshot = server.snapshot();
/// assert_eq!(snapshot.owned[&test.id()], vec!["db"]);
/// assert_eq!(snapshot.allowed[&worker.id()], vec![("db", test.id())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot<K> {
    /// The mode.
    pub mode: Mode,
    /// Each owner's keys.
    pub owned: BTreeMap<ActorId, Vec<K>>,
    /// Each allowed actor's keys, with the owner each is allowed through.
    pub allowed: BTreeMap<ActorId, Vec<(K, ActorId)>>,
    /// The actors set to manual cleanup whose state has not been cleaned up yet (see
    /// [`Ownership::cleanup_owner`]).
    pub manual_cleanup: BTreeSet<ActorId>,
    /// Lazy allowances not resolved yet: their key and owner.
    pub lazy: Vec<(K, ActorId)>,
}

/// What a request removed, to be dropped once every lock is released (dropping metadata
/// or a resolver runs user code, which may call the server or drop an actor).
struct Removed<K, M> {
    #[expect(
        dead_code,
        reason = "held only to be dropped once the locks are released"
    )]
    metadata: Vec<M>,
    lazy: Vec<LazyAllowance<K>>,
}

impl<K, M> Default for Removed<K, M> {
    fn default() -> Self {
        Removed {
            metadata: Vec::new(),
            lazy: Vec::new(),
        }
    }
}

impl<K, M> Clone for Ownership<K, M> {
    fn clone(&self) -> Self {
        Ownership {
            server: self.server.clone(),
        }
    }
}

impl<K, M> Default for Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn default() -> Self {
        Ownership::new()
    }
}

impl<K, M> fmt::Debug for Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + fmt::Debug + 'static,
    M: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ownership").field(&self.snapshot()).finish()
    }
}

impl<K, M> Ownership<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    /// Creates an empty server in private mode.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use ownership_runtime::Ownership;
    ///
    /// // Adapters usually keep one per process.
    /// static MOCKS: LazyLock<Ownership<&'static str, String>> = LazyLock::new(Ownership::new);
    /// assert!(MOCKS.snapshot().owned.is_empty());
    /// ```
    pub fn new() -> Self {
        Ownership {
            server: Arc::new_cyclic(|this| Server {
                state: State::new(),
                this: this.clone(),
            }),
        }
    }

    /// Finds who serves `key` for code running with the chain `callers` (innermost
    /// first): in shared mode, the shared owner; otherwise the first actor of the chain
    /// that owns the key, or the owner that allowed it. Pending lazy allowances of the key
    /// are resolved when nothing is found, and the chain is tried once more.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor, Found, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let test = Actor::named("test");
    /// server.get_and_update(test.id(), "clock", |_| ((), ())).unwrap();
    ///
    /// let task = Actor::named("task");
    /// let chain = [task.id(), test.id()]; // a task spawned by the test
    /// assert_eq!(server.fetch_owner(&chain, &"clock"), Some(Found::Owner(test.id())));
    /// assert_eq!(server.fetch_owner(&callers(), &"clock"), None); // this thread: nobody
    /// ```
    pub fn fetch_owner(&self, callers: &[ActorId], key: &K) -> Option<Found> {
        let state = &self.server.state;
        if let Some(shared_owner) = state.shared_owner() {
            return Some(Found::SharedOwner(shared_owner));
        }
        if let Some(owner) = state.lookup(callers, key) {
            return Some(Found::Owner(owner));
        }
        if state.has_lazy() && self.server.resolve_lazy(key) {
            return state.lookup(callers, key).map(Found::Owner);
        }
        None
    }

    /// Makes `owner` the owner of `key` if it isn't yet, and updates its metadata: `update`
    /// gets the current metadata (`None` for a new key) and returns a result and the new
    /// metadata.
    ///
    /// `update` runs outside the server's locks, so it may call this server (other keys,
    /// lookups, allowances); the key stays owned meanwhile, and other updates of the same
    /// owner and key wait for it. If it panics, the metadata stays as it was (a new key is
    /// not created) and the panic continues.
    ///
    /// # Errors
    ///
    /// - [`OwnershipError::NotSharedOwner`]: shared mode, and `owner` isn't the shared
    ///   owner;
    /// - [`OwnershipError::AlreadyAllowed`]: `owner` is allowed to use another owner's
    ///   `key` (lazy allowances of the key are resolved first);
    /// - [`OwnershipError::ActorDown`]: `owner` has ended;
    /// - [`OwnershipError::ReentrantUpdate`]: called from inside `update` for the same
    ///   owner and key.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let counters: Ownership<&str, u32> = Ownership::new();
    /// let test = Actor::new();
    /// let first = counters.get_and_update(test.id(), "hits", |old| (old.copied(), 1)).unwrap();
    /// assert_eq!(first, None);
    /// let second = counters
    ///     .get_and_update(test.id(), "hits", |old| (old.copied(), old.unwrap() + 1))
    ///     .unwrap();
    /// assert_eq!(second, Some(1));
    /// assert_eq!(counters.get_owned(test.id())["hits"], 2);
    /// ```
    pub fn get_and_update<R, F>(
        &self,
        owner: ActorId,
        key: K,
        update: F,
    ) -> Result<R, OwnershipError<K>>
    where
        F: FnOnce(Option<&M>) -> (R, M),
    {
        let previous = self.server.take_slot(owner, &key)?;
        let mut restore = RestoreOnUnwind {
            server: &self.server,
            owner,
            key: &key,
            previous,
            armed: true,
        };
        let (result, metadata) = update(restore.previous.as_ref());
        restore.armed = false;
        let leftover = self.server.finish_slot(owner, &key, Some(metadata));
        drop(leftover);
        drop(restore);
        Ok(result)
    }

    /// Allows `to_allow` (an actor, or a [lazy resolver](ToAllow::lazy)) to use `key`
    /// through `with_access`, which must own the key or be allowed to use it. The
    /// allowance points at the root owner, so it outlives `with_access` if that is only
    /// an allowed actor. Allowing the same actor through the same owner again is a no-op.
    ///
    /// # Errors
    ///
    /// In this order: [`OwnershipError::CantAllowInSharedMode`];
    /// [`OwnershipError::AlreadyAnOwner`] (the target owns the key);
    /// [`OwnershipError::NotAllowed`] (`with_access` has no access);
    /// [`OwnershipError::AlreadyAllowed`] (the target is allowed through another owner);
    /// [`OwnershipError::ActorDown`] (the target has ended).
    ///
    /// ```
    /// use ownership_runtime::{Actor, Found, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let (test, pool, worker) = (Actor::new(), Actor::new(), Actor::new());
    /// server.get_and_update(test.id(), "db", |_| ((), ())).unwrap();
    /// server.allow(test.id(), pool.id(), "db").unwrap();
    /// server.allow(pool.id(), worker.id(), "db").unwrap(); // transitive
    ///
    /// drop(pool); // the actor in between ends; the worker keeps its allowance
    /// assert_eq!(server.fetch_owner(&[worker.id()], &"db"), Some(Found::Owner(test.id())));
    /// ```
    pub fn allow(
        &self,
        with_access: ActorId,
        to_allow: impl Into<ToAllow>,
        key: K,
    ) -> Result<(), OwnershipError<K>> {
        // Declared before the lock, so a resolver (user code) is dropped after it.
        let to_allow = to_allow.into();
        self.server.allow(with_access, &to_allow, key)
    }

    /// The keys `owner` owns, with a copy of their metadata. Waits for updates of its
    /// keys running on other threads; keys being updated by the calling thread (from
    /// inside their update function) are left out.
    ///
    /// `M::clone` runs while the server's write lock is held: it must not call the server.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, u32> = Ownership::new();
    /// let test = Actor::new();
    /// server.get_and_update(test.id(), "a", |_| ((), 1)).unwrap();
    /// server.get_and_update(test.id(), "b", |_| ((), 2)).unwrap();
    /// let owned = server.get_owned(test.id());
    /// assert_eq!((owned["a"], owned["b"]), (1, 2));
    /// ```
    pub fn get_owned(&self, owner: ActorId) -> HashMap<K, M>
    where
        M: Clone,
    {
        self.server.get_owned(owner)
    }

    /// A copy of the metadata `owner` holds for `key`, if it owns the key (and no update
    /// function is replacing it right now). The cheap way to reach one key's metadata on
    /// a hot path; keep `M` cheap to clone (an `Arc`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, Arc<String>> = Ownership::new();
    /// let test = Actor::new();
    /// server.get_and_update(test.id(), "db", |_| ((), Arc::new("conn".to_owned()))).unwrap();
    /// assert_eq!(server.metadata(test.id(), &"db").as_deref().map(String::as_str), Some("conn"));
    /// assert_eq!(server.metadata(test.id(), &"cache"), None);
    /// ```
    pub fn metadata(&self, owner: ActorId, key: &K) -> Option<M>
    where
        M: Clone,
    {
        self.server.state.metadata(owner, key)
    }

    /// Switches the server's mode. In [`Mode::Shared`], every lookup finds the shared
    /// owner; when the shared owner ends, the server returns to [`Mode::Private`].
    ///
    /// # Errors
    ///
    /// [`SharedOwnerDown`] when the shared owner has already ended; the mode is unchanged.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Found, Mode, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let test = Actor::new();
    /// server.set_mode(Mode::Shared(test.id())).unwrap();
    /// let stranger = Actor::new();
    /// assert_eq!(
    ///     server.fetch_owner(&[stranger.id()], &"clock"),
    ///     Some(Found::SharedOwner(test.id()))
    /// );
    /// server.set_mode(Mode::Private).unwrap();
    /// assert_eq!(server.fetch_owner(&[stranger.id()], &"clock"), None);
    /// ```
    pub fn set_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        self.server.set_mode(mode)
    }

    /// The server's current mode.
    ///
    /// ```
    /// use ownership_runtime::{Mode, Ownership};
    ///
    /// assert_eq!(Ownership::<u8, ()>::new().mode(), Mode::Private);
    /// ```
    pub fn mode(&self) -> Mode {
        self.server
            .state
            .shared_owner()
            .map_or(Mode::Private, Mode::Shared)
    }

    /// Keeps `owner`'s keys (and the allowances pointing to it) after it goes down, until
    /// [`Ownership::cleanup_owner`] is called. For adapters that must inspect what a test
    /// owned after the test's actor ended (to verify a mock, to roll back a connection).
    /// Has no effect for an actor that has already ended.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, u32> = Ownership::new();
    /// let test = Actor::new();
    /// let id = test.id();
    /// server.get_and_update(id, "mock", |_| ((), 1)).unwrap();
    /// server.set_owner_to_manual_cleanup(id);
    /// drop(test);
    /// assert_eq!(server.get_owned(id)["mock"], 1); // still there
    /// server.cleanup_owner(id);
    /// assert!(server.get_owned(id).is_empty());
    /// ```
    pub fn set_owner_to_manual_cleanup(&self, owner: ActorId) {
        self.server.set_owner_to_manual_cleanup(owner);
    }

    /// Removes `owner`'s keys, the allowances that point to it and its pending lazy
    /// allowances, as its going down would. Its own allowances (to use other owners' keys)
    /// stay.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let (test, worker) = (Actor::new(), Actor::new());
    /// server.get_and_update(test.id(), "db", |_| ((), ())).unwrap();
    /// server.allow(test.id(), worker.id(), "db").unwrap();
    /// server.cleanup_owner(test.id());
    /// assert_eq!(server.fetch_owner(&[worker.id()], &"db"), None);
    /// ```
    pub fn cleanup_owner(&self, owner: ActorId) {
        self.server.cleanup_owner(owner);
    }

    /// Takes back `actor`'s allowance to use `key` (not lazy ones still pending), and
    /// returns the owner it pointed at; `None` if it had none. The allowances made
    /// through `actor` point at the owner, so they stay. For "move this worker to
    /// another test's resource" (DBConnection's `unallow_existing`).
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let (first, second, worker) = (Actor::new(), Actor::new(), Actor::new());
    /// server.get_and_update(first.id(), "db", |_| ((), ())).unwrap();
    /// server.get_and_update(second.id(), "db", |_| ((), ())).unwrap();
    /// server.allow(first.id(), worker.id(), "db").unwrap();
    ///
    /// assert_eq!(server.disallow(worker.id(), &"db"), Some(first.id()));
    /// server.allow(second.id(), worker.id(), "db").unwrap(); // no longer AlreadyAllowed
    /// assert_eq!(server.disallow(worker.id(), &"cache"), None);
    /// ```
    pub fn disallow(&self, actor: ActorId, key: &K) -> Option<ActorId> {
        let state = &self.server.state;
        let _writes = state.lock_writes();
        // The owner's `dependents` may keep `actor`: removing allowances there only drops
        // those that point at the owner, so a stale entry harms nothing.
        state.update_entries(actor, |entries| entries.allowed.remove(key))
    }

    /// A point-in-time view of the whole server (see [`Snapshot`]).
    ///
    /// ```
    /// use ownership_runtime::{Mode, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// assert_eq!(server.snapshot().mode, Mode::Private);
    /// ```
    pub fn snapshot(&self) -> Snapshot<K> {
        self.server.snapshot()
    }
}

/// Puts the previous metadata back if an update function panics.
struct RestoreOnUnwind<'a, K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    server: &'a Server<K, M>,
    owner: ActorId,
    key: &'a K,
    previous: Option<M>,
    armed: bool,
}

impl<K, M> Drop for RestoreOnUnwind<'_, K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn drop(&mut self) {
        if self.armed {
            let previous = self.previous.take();
            let leftover = self.server.finish_slot(self.owner, self.key, previous);
            drop(leftover);
        }
    }
}

/// What the slot of an owned key holds when an update wants it.
enum SlotState<M> {
    /// Taken for this update, with the previous metadata (`None` for a new key).
    Taken(Option<M>),
    /// Another thread is updating it.
    Busy,
    /// This thread is updating it already.
    Reentrant,
}

impl<K, M> Server<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    /// Asks to be told when `actor` goes down; `false` if it already has.
    fn monitor(&self, writes: &mut Writes<K>, actor: ActorId) -> bool {
        if writes.monitored.contains(&actor) {
            return true;
        }
        let listener: Weak<dyn DownListener> = self.this.clone();
        let alive = monitor::monitor(actor, listener);
        if alive {
            writes.monitored.insert(actor);
        }
        alive
    }

    /// Records that `actor` may use `key` through `owner`.
    fn add_allowance(&self, actor: ActorId, key: K, owner: ActorId) {
        self.state
            .update_entries(actor, |entries| entries.allowed.insert(key, owner));
        self.state
            .update_entries(owner, |entries| entries.dependents.insert(actor));
    }

    /// Handles `get_and_update`'s first half: checks the rules and takes the key's slot,
    /// creating the key if needed.
    fn take_slot(&self, owner: ActorId, key: &K) -> Result<Option<M>, OwnershipError<K>> {
        let state = &self.state;
        let this_thread = std::thread::current().id();
        let mut lazy_resolved = false;
        loop {
            let mut writes = state.lock_writes();
            if let Some(shared_owner) = state.shared_owner()
                && shared_owner != owner
            {
                return Err(OwnershipError::NotSharedOwner {
                    key: key.clone(),
                    actor: owner,
                    shared_owner,
                });
            }
            let owns = state.owns(owner, key);
            if !owns && !lazy_resolved && writes.lazy.iter().any(|lazy| lazy.key == *key) {
                // A lazy allowance may make `owner` an allowed actor: resolve it first.
                drop(writes);
                self.resolve_lazy(key);
                lazy_resolved = true;
                continue;
            }
            if let Some(other) = state.allowed_through(owner, key) {
                return Err(OwnershipError::AlreadyAllowed {
                    key: key.clone(),
                    actor: owner,
                    owner: other,
                });
            }
            if !owns && !self.monitor(&mut writes, owner) {
                return Err(OwnershipError::ActorDown {
                    key: key.clone(),
                    actor: owner,
                });
            }
            let slot = state.update_entries(owner, |entries| match entries.owned.get_mut(key) {
                None => {
                    entries
                        .owned
                        .insert(key.clone(), Slot::Updating(this_thread));
                    SlotState::Taken(None)
                }
                Some(Slot::Updating(thread)) if *thread == this_thread => SlotState::Reentrant,
                Some(Slot::Updating(_)) => SlotState::Busy,
                Some(slot) => match std::mem::replace(slot, Slot::Updating(this_thread)) {
                    Slot::Ready(previous) => SlotState::Taken(Some(previous)),
                    Slot::Updating(_) => SlotState::Busy,
                },
            });
            match slot {
                SlotState::Taken(previous) => return Ok(previous),
                SlotState::Reentrant => {
                    return Err(OwnershipError::ReentrantUpdate {
                        key: key.clone(),
                        owner,
                    });
                }
                SlotState::Busy => drop(state.wait_for_slot(writes)),
            }
        }
    }

    /// Ends an update: replaces the slot this thread took with `metadata`, or removes the
    /// key when it is `None` (an update of a new key whose function panicked). Returns the
    /// metadata if the slot is gone (the owner went down or was cleaned up meanwhile), for
    /// the caller to drop outside the locks.
    fn finish_slot(&self, owner: ActorId, key: &K, metadata: Option<M>) -> Option<M> {
        let state = &self.state;
        let this_thread = std::thread::current().id();
        let writes = state.lock_writes();
        let leftover = state.update_entries(owner, |entries| {
            let ours = matches!(
                entries.owned.get(key),
                Some(Slot::Updating(thread)) if *thread == this_thread
            );
            if !ours {
                return metadata;
            }
            match metadata {
                Some(metadata) => {
                    if let Some(slot) = entries.owned.get_mut(key) {
                        *slot = Slot::Ready(metadata);
                    }
                }
                None => {
                    entries.owned.remove(key);
                }
            }
            None
        });
        state.release_slots();
        drop(writes);
        leftover
    }

    fn allow(
        &self,
        with_access: ActorId,
        to_allow: &ToAllow,
        key: K,
    ) -> Result<(), OwnershipError<K>> {
        let state = &self.state;
        let mut writes = state.lock_writes();
        if let Some(shared_owner) = state.shared_owner() {
            return Err(OwnershipError::CantAllowInSharedMode { key, shared_owner });
        }
        if let ToAllow::Actor(target) = *to_allow
            && state.owns(target, &key)
        {
            return Err(OwnershipError::AlreadyAnOwner { key, actor: target });
        }
        let Some(owner) = state.access_root(with_access, &key) else {
            return Err(OwnershipError::NotAllowed {
                key,
                actor: with_access,
            });
        };
        match to_allow {
            ToAllow::Actor(target) => match state.allowed_through(*target, &key) {
                Some(other) if other != owner => Err(OwnershipError::AlreadyAllowed {
                    key,
                    actor: *target,
                    owner: other,
                }),
                Some(_) => Ok(()),
                None if !self.monitor(&mut writes, *target) => Err(OwnershipError::ActorDown {
                    key,
                    actor: *target,
                }),
                None => {
                    self.add_allowance(*target, key, owner);
                    Ok(())
                }
            },
            ToAllow::Lazy(resolver) => {
                let number = writes.next_lazy;
                writes.next_lazy += 1;
                writes.lazy.push(LazyAllowance {
                    number,
                    key,
                    owner,
                    resolver: resolver.clone(),
                });
                state.set_lazy_pending(&writes);
                Ok(())
            }
        }
    }

    /// Runs the pending lazy allowances of `key` (outside the locks) and applies what they
    /// name. Returns whether any of them resolved.
    fn resolve_lazy(&self, key: &K) -> bool {
        let state = &self.state;
        let pending: Vec<(u64, LazyResolver)> = state
            .lock_writes()
            .lazy
            .iter()
            .filter(|lazy| lazy.key == *key)
            .map(|lazy| (lazy.number, lazy.resolver.clone()))
            .collect();
        if pending.is_empty() {
            return false;
        }
        let named: Vec<(u64, Vec<ActorId>)> = pending
            .iter()
            .map(|(number, resolver)| (*number, resolver.resolve()))
            .collect();

        let mut removed: Removed<K, M> = Removed::default();
        let mut writes = state.lock_writes();
        for (number, actors) in named {
            let Some(position) = writes.lazy.iter().position(|lazy| lazy.number == number) else {
                continue; // resolved by another lookup meanwhile, or its owner ended
            };
            let (key, owner) = (
                writes.lazy[position].key.clone(),
                writes.lazy[position].owner,
            );
            let mut named_a_live_actor = false;
            for actor in actors {
                if !self.monitor(&mut writes, actor) {
                    continue;
                }
                named_a_live_actor = true;
                if !state.owns(actor, &key) && state.allowed_through(actor, &key).is_none() {
                    self.add_allowance(actor, key.clone(), owner);
                }
            }
            if named_a_live_actor {
                removed.lazy.push(writes.lazy.remove(position));
            }
        }
        state.set_lazy_pending(&writes);
        drop(writes);
        let resolved = !removed.lazy.is_empty();
        drop(removed);
        drop(pending);
        resolved
    }

    fn get_owned(&self, owner: ActorId) -> HashMap<K, M>
    where
        M: Clone,
    {
        let state = &self.state;
        let this_thread = std::thread::current().id();
        let mut writes = state.lock_writes();
        loop {
            let busy = {
                let shard = state.read(owner);
                let Some(entries) = shard.get(&owner) else {
                    return HashMap::new();
                };
                let busy = entries
                    .owned
                    .values()
                    .any(|slot| matches!(slot, Slot::Updating(thread) if *thread != this_thread));
                if !busy {
                    return entries
                        .owned
                        .iter()
                        .filter_map(|(key, slot)| match slot {
                            Slot::Ready(metadata) => Some((key.clone(), metadata.clone())),
                            Slot::Updating(_) => None,
                        })
                        .collect();
                }
                busy
            };
            debug_assert!(busy);
            writes = state.wait_for_slot(writes);
        }
    }

    pub(crate) fn set_mode(&self, mode: Mode) -> Result<(), SharedOwnerDown> {
        let mut writes = self.state.lock_writes();
        match mode {
            Mode::Private => self.state.set_shared_owner(None),
            Mode::Shared(owner) => {
                if !self.monitor(&mut writes, owner) {
                    return Err(SharedOwnerDown { actor: owner });
                }
                self.state.set_shared_owner(Some(owner));
            }
        }
        Ok(())
    }

    fn set_owner_to_manual_cleanup(&self, owner: ActorId) {
        let mut writes = self.state.lock_writes();
        if self.monitor(&mut writes, owner) {
            self.state
                .update_entries(owner, |entries| entries.manual_cleanup = true);
        }
    }

    fn cleanup_owner(&self, owner: ActorId) {
        let state = &self.state;
        let mut writes = state.lock_writes();
        let removed = match state.take_entries(owner) {
            Some(mut entries) => {
                let allowed = std::mem::take(&mut entries.allowed);
                let removed = self.remove_owner(&mut writes, owner, entries);
                state.put_entries(
                    owner,
                    Entries {
                        allowed,
                        ..Entries::default()
                    },
                );
                removed
            }
            None => self.remove_owner(&mut writes, owner, Entries::default()),
        };
        state.release_slots();
        drop(writes);
        drop(removed);
    }

    /// Removes what `owner` owned (its `entries`, already taken out of the shards): the
    /// allowances pointing to it and its pending lazy allowances. Returns what must be
    /// dropped once the locks are released.
    fn remove_owner(
        &self,
        writes: &mut Writes<K>,
        owner: ActorId,
        entries: Entries<K, M>,
    ) -> Removed<K, M> {
        for &dependent in &entries.dependents {
            self.state.update_entries(dependent, |dependent| {
                dependent.allowed.retain(|_, root| *root != owner);
            });
        }
        let (lazy, kept) = std::mem::take(&mut writes.lazy)
            .into_iter()
            .partition(|lazy| lazy.owner == owner);
        writes.lazy = kept;
        self.state.set_lazy_pending(writes);
        let metadata = entries
            .owned
            .into_values()
            .filter_map(|slot| match slot {
                Slot::Ready(metadata) => Some(metadata),
                Slot::Updating(_) => None,
            })
            .collect();
        Removed { metadata, lazy }
    }

    fn snapshot(&self) -> Snapshot<K> {
        let state = &self.state;
        let writes = state.lock_writes();
        let mut snapshot = Snapshot {
            mode: state.shared_owner().map_or(Mode::Private, Mode::Shared),
            owned: BTreeMap::new(),
            allowed: BTreeMap::new(),
            manual_cleanup: BTreeSet::new(),
            lazy: writes
                .lazy
                .iter()
                .map(|lazy| (lazy.key.clone(), lazy.owner))
                .collect(),
        };
        state.for_each_entries(|actor, entries| {
            if !entries.owned.is_empty() {
                snapshot
                    .owned
                    .insert(actor, entries.owned.keys().cloned().collect());
            }
            if !entries.allowed.is_empty() {
                let allowed = entries
                    .allowed
                    .iter()
                    .map(|(key, owner)| (key.clone(), *owner))
                    .collect();
                snapshot.allowed.insert(actor, allowed);
            }
            if entries.manual_cleanup {
                snapshot.manual_cleanup.insert(actor);
            }
        });
        drop(writes);
        snapshot
    }
}

impl<K, M> DownListener for Server<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + Sync + 'static,
{
    fn actor_down(&self, actor: ActorId) {
        let state = &self.state;
        let mut writes = state.lock_writes();
        writes.monitored.remove(&actor);
        if state.shared_owner() == Some(actor) {
            state.set_shared_owner(None);
        }
        let removed = match state.take_entries(actor) {
            None => Removed::default(),
            Some(mut entries) => {
                // Its own allowances go with it.
                for (_, owner) in entries.allowed.drain() {
                    state.update_entries(owner, |owner| {
                        owner.dependents.remove(&actor);
                    });
                }
                if entries.manual_cleanup {
                    state.put_entries(actor, entries);
                    Removed::default()
                } else {
                    self.remove_owner(&mut writes, actor, entries)
                }
            }
        };
        state.release_slots();
        drop(writes);
        drop(removed);
    }
}
