//! The callers chain: which actors the code running now works for.
//!
//! [`callers()`] returns the chain innermost first, like Elixir's `[self() | $callers]`.
//! It is assembled from three places, in this order:
//!
//! 1. actors entered on this thread with [`Actor::enter`](crate::Actor::enter), the most
//!    recent first;
//! 2. the chain of the current task, set by [`Actor::scope`](crate::Actor::scope),
//!    [`InCallers::in_current_callers`](crate::InCallers::in_current_callers) and
//!    [`spawn`](crate::spawn) (a snapshot of the chain where it was captured);
//! 3. the chain of the thread, set by [`Callers::enter`], by the spawn wrappers
//!    and on every thread of a runtime built with
//!    [`build_runtime`](crate::build_runtime).
//!
//! An actor that appears in more than one of them is listed once, where it first appears.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use smallvec::SmallVec;
use tokio::task::futures::TaskLocalFuture;

use crate::actor_id::ActorId;

/// A chain of actors, innermost first. Cheap to clone for the short chains of real
/// programs (up to four actors are stored inline).
///
/// ```
/// use ownership_runtime::{Actor, Callers};
///
/// let (test, worker) = (Actor::named("test"), Actor::named("worker"));
/// let chain: Callers = [worker.id(), test.id()].into_iter().collect();
/// assert_eq!(chain.first(), Some(&worker.id()));
/// assert_eq!(chain.len(), 2);
/// assert_eq!(
///     chain.to_string(),
///     format!("[{}, {}]", worker.id(), test.id())
/// );
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Callers {
    chain: SmallVec<[ActorId; 4]>,
}

impl Callers {
    /// The empty chain: code that runs for nobody.
    ///
    /// ```
    /// assert!(ownership_runtime::Callers::empty().is_empty());
    /// ```
    pub fn empty() -> Callers {
        Callers::default()
    }

    /// This chain with `actor` added in front (as the innermost caller). If the actor is
    /// already in the chain it moves to the front.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Callers};
    ///
    /// let (a, b) = (Actor::new(), Actor::new());
    /// let chain = Callers::empty().pushed_front(a.id()).pushed_front(b.id());
    /// assert_eq!(&chain[..], &[b.id(), a.id()]);
    /// ```
    pub fn pushed_front(&self, actor: ActorId) -> Callers {
        let mut chain = SmallVec::with_capacity(self.chain.len() + 1);
        chain.push(actor);
        chain.extend(self.chain.iter().copied().filter(|&id| id != actor));
        Callers { chain }
    }

    /// Runs `future` with this chain as its task's chain.
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor, Callers};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let worker = Actor::new();
    /// let chain = Callers::empty().pushed_front(worker.id());
    /// assert_eq!(chain.clone().scope(async { callers() }).await, chain);
    /// # });
    /// ```
    pub fn scope<F: Future>(self, future: F) -> WithCallers<F> {
        WithCallers::new(future, self)
    }

    /// Makes this chain the current thread's chain until the returned guard drops (it
    /// then restores the previous one). This is what the spawn wrappers do in the new
    /// thread; use it for threads you start some other way (a thread pool, a callback
    /// from a C library).
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor};
    ///
    /// let test = Actor::named("test");
    /// let chain = test.chain();
    /// std::thread::spawn(move || {
    ///     let _guard = chain.enter();
    ///     assert_eq!(callers().first(), Some(&test.id()));
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn enter(&self) -> EnteredChain {
        let previous =
            THREAD.with(|thread| std::mem::replace(&mut thread.borrow_mut().base, self.clone()));
        EnteredChain {
            previous: Some(previous),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this chain as the current thread's chain (see [`Callers::enter`]).
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor};
    ///
    /// let worker = Actor::new();
    /// let chain = worker.chain();
    /// assert_eq!(chain.in_scope(callers), chain);
    /// ```
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }
}

impl Deref for Callers {
    type Target = [ActorId];

    fn deref(&self) -> &[ActorId] {
        &self.chain
    }
}

impl FromIterator<ActorId> for Callers {
    fn from_iter<I: IntoIterator<Item = ActorId>>(iter: I) -> Self {
        let mut callers = Callers::empty();
        for actor in iter {
            push_unique(&mut callers.chain, actor);
        }
        callers
    }
}

impl<'a> IntoIterator for &'a Callers {
    type Item = &'a ActorId;
    type IntoIter = std::slice::Iter<'a, ActorId>;

    fn into_iter(self) -> Self::IntoIter {
        self.chain.iter()
    }
}

impl fmt::Display for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, actor) in self.chain.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{actor}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn push_unique(chain: &mut SmallVec<[ActorId; 4]>, actor: ActorId) {
    if !chain.contains(&actor) {
        chain.push(actor);
    }
}

/// What a thread knows of the chain it runs for.
#[derive(Default)]
struct ThreadChain {
    /// Actors entered with `Actor::enter`, oldest first (the last is the innermost).
    entered: SmallVec<[ActorId; 2]>,
    /// The chain the whole thread works for (a runtime's thread, a propagated thread).
    base: Callers,
}

thread_local! {
    static THREAD: RefCell<ThreadChain> = RefCell::default();
}

tokio::task_local! {
    static TASK: Callers;
}

/// The chain of actors the code running now works for, innermost first.
///
/// Ownership servers look a key up for each actor of the chain in turn
/// ([`Ownership::fetch_owner`](crate::Ownership::fetch_owner)), so code that runs for a
/// test finds the test's resources, and so do tasks and threads it starts.
///
/// The chain is assembled from three places, in this order (an actor that appears in
/// more than one is listed once, where it first appears):
///
/// 1. actors entered on this thread with [`Actor::enter`](crate::Actor::enter), the most
///    recent first;
/// 2. the chain of the current task, set by [`Actor::scope`](crate::Actor::scope),
///    [`InCallers::in_current_callers`](crate::InCallers::in_current_callers) and
///    [`spawn`](crate::spawn) (a snapshot of the chain where it was captured);
/// 3. the chain of the thread, set by [`Callers::enter`], by the spawn wrappers and on
///    every thread of a runtime built with [`build_runtime`](crate::build_runtime).
///
/// ```
/// use ownership_runtime::{callers, Actor};
///
/// assert!(callers().is_empty()); // a plain thread works for nobody
///
/// let test = Actor::named("tests::checkout");
/// let worker = Actor::named("worker");
/// let _test = test.enter();
/// let _worker = worker.enter();
/// assert_eq!(&callers()[..], &[worker.id(), test.id()]);
/// ```
pub fn callers() -> Callers {
    // `try_with`: a thread being torn down (its locals destroyed) works for nobody.
    THREAD
        .try_with(|thread| {
            let thread = thread.borrow();
            let task = TASK.try_with(Callers::clone).ok();
            if thread.entered.is_empty() && task.is_none() {
                return thread.base.clone();
            }
            let mut chain = SmallVec::new();
            for &actor in thread.entered.iter().rev() {
                push_unique(&mut chain, actor);
            }
            for source in [task.as_ref(), Some(&thread.base)].into_iter().flatten() {
                for &actor in source.iter() {
                    push_unique(&mut chain, actor);
                }
            }
            Callers { chain }
        })
        .unwrap_or_default()
}

/// The guard returned by [`Actor::enter`](crate::Actor::enter): while it lives, the
/// entered actor is the innermost caller on this thread.
///
/// ```
/// use ownership_runtime::{callers, Actor, Entered};
///
/// let worker = Actor::named("worker");
/// let entered: Entered = worker.enter();
/// assert_eq!(callers().first(), Some(&worker.id()));
/// drop(entered); // the thread works for nobody again
/// assert!(callers().is_empty());
/// ```
#[must_use = "the actor is entered only while the guard lives: bind it \
              (`let _entered = actor.enter();`) for the code that runs as the actor"]
pub struct Entered {
    actor: ActorId,
    _not_send: PhantomData<*const ()>,
}

impl Entered {
    pub(crate) fn new(actor: ActorId) -> Entered {
        THREAD.with(|thread| thread.borrow_mut().entered.push(actor));
        Entered {
            actor,
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // Guards usually drop in reverse order; remove the latest entry of this actor
        // so that an out-of-order drop still leaves the other entries in place.
        let _ = THREAD.try_with(|thread| {
            let entered = &mut thread.borrow_mut().entered;
            if let Some(position) = entered.iter().rposition(|&id| id == self.actor) {
                entered.remove(position);
            }
        });
    }
}

/// The guard returned by [`Callers::enter`]: restores the thread's previous chain when it
/// drops.
///
/// ```
/// use ownership_runtime::{callers, Actor, Callers};
///
/// let (outer, inner) = (Actor::named("outer"), Actor::named("inner"));
/// let outer_chain = Callers::empty().pushed_front(outer.id());
/// let _outer = outer_chain.enter();
/// {
///     let _inner = Callers::empty().pushed_front(inner.id()).enter();
///     assert_eq!(&callers()[..], &[inner.id()]);
/// }
/// assert_eq!(callers(), outer_chain); // the inner guard restored the outer chain
/// ```
#[must_use = "the chain is entered only while the guard lives: bind it \
              (`let _entered = chain.enter();`) for the code that runs for the chain"]
pub struct EnteredChain {
    previous: Option<Callers>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for EnteredChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnteredChain")
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl Drop for EnteredChain {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = THREAD.try_with(|thread| thread.borrow_mut().base = previous);
        }
    }
}

/// Makes `callers` the current thread's chain for the rest of the thread's life (used by
/// runtime thread-start hooks, which have no scope to restore).
pub(crate) fn set_thread_chain(callers: Callers) {
    THREAD.with(|thread| thread.borrow_mut().base = callers);
}

pin_project_lite::pin_project! {
    /// A future that runs with a given callers chain as its task's chain. Made by
    /// [`Actor::scope`](crate::Actor::scope), [`Callers::scope`] and
    /// [`InCallers`](crate::InCallers).
    ///
    /// ```
    /// use ownership_runtime::{callers, Actor, WithCallers};
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let test = Actor::named("tests::report");
    /// let future: WithCallers<_> = test.scope(async { callers() });
    /// assert!(callers().is_empty()); // only the future runs for the test
    /// assert_eq!(future.await.first(), Some(&test.id()));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCallers<F: Future> {
        #[pin]
        inner: TaskLocalFuture<Callers, F>,
    }
}

impl<F: Future> WithCallers<F> {
    pub(crate) fn new(future: F, callers: Callers) -> WithCallers<F> {
        WithCallers {
            inner: TASK.scope(callers, future),
        }
    }
}

impl<F: Future> Future for WithCallers<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F: Future> fmt::Debug for WithCallers<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCallers").finish_non_exhaustive()
    }
}
