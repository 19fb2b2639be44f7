//! Keyed single flight: concurrent requests for the same key share one run of its loader.
//!
//! Cachex's Courier, for async Rust. [`SingleFlight::fetch`] runs the loader for a key
//! unless a run is already in flight, in which case it waits for that run and gets its
//! value (or its error). The answer says which happened ([`Fetched`]). Failures are never
//! kept: the next fetch runs the loader again. Successful values are kept, forever, for a
//! while, or not at all ([`Keep`]).
//!
//! Loaders run on a small runtime of their own (one worker thread, shared by the process),
//! not on the caller's: a load started by one test outlives that test's runtime, and a
//! caller that stops waiting (its future dropped) cancels nothing for the others. The
//! loader runs for the [callers chain](crate::callers()) of the fetch that started it.
//!
//! A loader may fetch other keys (of this or another `SingleFlight`); a loader that
//! fetches its own key waits for itself forever.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::background;
use crate::harness::payload_message;
use crate::propagate::InCallers;

/// How long a successful value is kept for later fetches of its key.
///
/// ```
/// use std::time::Duration;
/// use ownership_runtime::flight::Keep;
///
/// let _ = [Keep::Forever, Keep::Never, Keep::For(Duration::from_secs(60))];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Until the `SingleFlight` is dropped (the default): the loader runs once per key.
    #[default]
    Forever,
    /// Not at all: only fetches that overlap share a load.
    Never,
    /// For this long after the load ended.
    For(Duration),
}

/// What a fetch got, and how.
///
/// ```
/// use ownership_runtime::flight::Fetched;
///
/// let fetched = Fetched::Loaded(7);
/// assert!(fetched.was_loaded());
/// assert_eq!(fetched.into_value(), 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<V> {
    /// This fetch ran the loader (Cachex's `:commit`).
    Loaded(V),
    /// This fetch waited for a load another fetch had started.
    Joined(V),
    /// The value was kept from an earlier load.
    Kept(V),
}

impl<V> Fetched<V> {
    /// The value, however it was got.
    ///
    /// ```
    /// use ownership_runtime::flight::{LoadError, SingleFlight};
    ///
    /// # tokio::runtime::Builder::new_current_thread()
    /// #     .enable_all().build().unwrap().block_on(async {
    /// let ports: SingleFlight<&str, u16> = SingleFlight::new();
    /// let port = ports.fetch("mail", || async { Ok::<_, String>(2525) }).await?.into_value();
    /// assert_eq!(port, 2525);
    /// # Ok::<(), LoadError>(())
    /// # })?;
    /// # Ok::<(), LoadError>(())
    /// ```
    pub fn into_value(self) -> V {
        match self {
            Fetched::Loaded(value) | Fetched::Joined(value) | Fetched::Kept(value) => value,
        }
    }

    /// Whether this fetch ran the loader.
    ///
    /// ```
    /// use ownership_runtime::flight::Fetched;
    ///
    /// let outcomes = [Fetched::Loaded(()), Fetched::Joined(()), Fetched::Kept(())];
    /// assert_eq!(outcomes.map(|fetched| fetched.was_loaded()), [true, false, false]);
    /// ```
    pub fn was_loaded(&self) -> bool {
        matches!(self, Fetched::Loaded(_))
    }
}

/// A loader's error, shared by every fetch that waited for the same load.
pub type LoaderError = Arc<dyn std::error::Error + Send + Sync>;

/// Why a fetch got no value. Every fetch that waited for the same load gets the same
/// error (it is cheap to clone: the loader's error is shared). The loader's error is the
/// [`source`](std::error::Error::source); show the whole with
/// [`error_chain`](crate::error_chain).
///
/// ```
/// use ownership_runtime::error_chain;
/// use ownership_runtime::flight::{LoadError, SingleFlight};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let schemas: SingleFlight<&str, ()> = SingleFlight::new();
/// let refused = std::io::Error::other("connection refused");
/// let error = schemas.fetch("schema", || async { Err::<(), _>(refused) }).await.unwrap_err();
/// assert!(matches!(&error, LoadError::Failed { key, .. } if key == "\"schema\""));
/// assert_eq!(
///     error_chain(&error).to_string(),
///     "the loader of \"schema\" failed (failures are not kept: the next fetch runs the \
///      loader again): connection refused"
/// );
/// # });
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The loader returned an error (the source).
    #[error(
        "the loader of {key} failed (failures are not kept: the next fetch runs the loader \
         again)"
    )]
    Failed {
        /// The key, as `Debug` shows it.
        key: String,
        /// The loader's error.
        #[source]
        source: LoaderError,
    },
    /// The loader panicked.
    #[error(
        "the loader of {key} panicked: {message} (failures are not kept: the next fetch runs the \
         loader again)"
    )]
    Panicked {
        /// The key, as `Debug` shows it.
        key: String,
        /// The panic's message.
        message: String,
    },
    /// The load could not run to its end: the process's background runtime could not
    /// start (the source says why), or stopped during the load.
    #[error(
        "the loader of {key} could not run to its end: the process's background runtime \
         could not start or stopped during the load (a process that is exiting, or out of \
         threads)"
    )]
    NotRun {
        /// The key, as `Debug` shows it.
        key: String,
        /// Why, when known (the background runtime's error, the load task's).
        #[source]
        source: Option<LoaderError>,
    },
}

type Outcome<V> = Result<V, LoadError>;

/// The state of one key.
enum Slot<V> {
    /// A load is in flight; its outcome will be sent here.
    Loading(watch::Receiver<Option<Outcome<V>>>),
    /// A kept value, and until when it is kept.
    Kept { value: V, until: Option<Instant> },
}

struct Inner<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    keep: Keep,
}

/// Concurrent fetches of a key share one run of its loader (see the [module docs](self)).
/// Cheap to clone: clones share their loads and kept values.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use ownership_runtime::flight::SingleFlight;
///
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let schemas: SingleFlight<&str, String> = SingleFlight::new();
/// let load = || async {
///     RUNS.fetch_add(1, Ordering::SeqCst);
///     Ok::<_, std::io::Error>("migrated".to_owned())
/// };
/// let (a, b) = tokio::join!(schemas.fetch("app", load), schemas.fetch("app", load));
/// assert_eq!(a.unwrap().into_value(), "migrated");
/// assert_eq!(b.unwrap().into_value(), "migrated");
/// assert_eq!(RUNS.load(Ordering::SeqCst), 1);
/// # });
/// ```
pub struct SingleFlight<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for SingleFlight<K, V> {
    fn clone(&self) -> Self {
        SingleFlight {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight")
            .field("keep", &self.inner.keep)
            .finish_non_exhaustive()
    }
}

impl<K, V> Default for SingleFlight<K, V>
where
    K: Hash + Eq + Clone + fmt::Debug + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        SingleFlight::new()
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Hash + Eq + Clone + fmt::Debug + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A `SingleFlight` that keeps successful values forever.
    ///
    /// ```
    /// let templates: ownership_runtime::flight::SingleFlight<String, u64> = Default::default();
    /// # let _ = templates;
    /// ```
    pub fn new() -> Self {
        SingleFlight::keeping(Keep::Forever)
    }

    /// A `SingleFlight` that keeps successful values as `keep` says.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ownership_runtime::flight::{Keep, SingleFlight};
    ///
    /// let tokens: SingleFlight<&str, String> = SingleFlight::keeping(Keep::For(Duration::from_secs(30)));
    /// # let _ = tokens;
    /// ```
    pub fn keeping(keep: Keep) -> Self {
        SingleFlight {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                keep,
            }),
        }
    }

    /// The value of `key`: kept from an earlier load, or from the load in flight, or from
    /// a new run of `loader`, which is called (to make its future) only in that last case.
    ///
    /// # Errors
    ///
    /// The loader's error or panic, as a [`LoadError`], for this fetch and every fetch
    /// that waited for the same run.
    ///
    /// ```
    /// use ownership_runtime::flight::{Fetched, SingleFlight};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flight: SingleFlight<u32, u32> = SingleFlight::new();
    /// let first = flight.fetch(1, || async { Ok::<_, String>(10) }).await.unwrap();
    /// let second = flight.fetch(1, || async { Ok::<_, String>(20) }).await.unwrap();
    /// assert_eq!((first, second), (Fetched::Loaded(10), Fetched::Kept(10)));
    ///
    /// let failed = flight.fetch(2, || async { Err::<u32, _>("no such key") }).await;
    /// let error = failed.unwrap_err();
    /// assert!(ownership_runtime::error_chain(&error).to_string().ends_with(": no such key"));
    /// # });
    /// ```
    pub async fn fetch<F, Fut, E>(&self, key: K, loader: F) -> Result<Fetched<V>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let (mut outcome, started_here) = {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match slots.get(&key) {
                Some(Slot::Kept { value, until })
                    if until.is_none_or(|until| Instant::now() < until) =>
                {
                    return Ok(Fetched::Kept(value.clone()));
                }
                Some(Slot::Loading(outcome)) => (outcome.clone(), false),
                _ => {
                    let (sender, outcome) = watch::channel(None);
                    slots.insert(key.clone(), Slot::Loading(outcome.clone()));
                    drop(slots);
                    self.start(key.clone(), loader(), sender);
                    (outcome, true)
                }
            }
        };
        let outcome = match outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            // The load's task was dropped before it ended: the background runtime is gone.
            Err(_) => None,
        };
        let value = outcome.unwrap_or_else(|| {
            Err(LoadError::NotRun {
                key: format!("{key:?}"),
                source: None,
            })
        })?;
        Ok(if started_here {
            Fetched::Loaded(value)
        } else {
            Fetched::Joined(value)
        })
    }

    /// Forgets the kept value of `key`, if any; the next fetch runs the loader again.
    ///
    /// ```
    /// use ownership_runtime::flight::SingleFlight;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flight: SingleFlight<u32, u32> = SingleFlight::new();
    /// flight.fetch(1, || async { Ok::<_, String>(10) }).await.unwrap();
    /// flight.forget(&1);
    /// let again = flight.fetch(1, || async { Ok::<_, String>(11) }).await.unwrap();
    /// assert!(again.was_loaded());
    /// # });
    /// ```
    pub fn forget(&self, key: &K) {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(slots.get(key), Some(Slot::Kept { .. })) {
            slots.remove(key);
        }
    }

    /// Runs `load` on the background runtime and reports its outcome.
    fn start<Fut, E>(&self, key: K, load: Fut, sender: watch::Sender<Option<Outcome<V>>>)
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let mut finish = Finish {
            inner: self.inner.clone(),
            key,
            sender,
            done: false,
        };
        let handle = match background::handle() {
            Ok(handle) => handle,
            Err(error) => {
                let key = format!("{:?}", finish.key);
                let source: Box<dyn std::error::Error + Send + Sync> = error.into();
                finish.complete(Err(LoadError::NotRun {
                    key,
                    source: Some(Arc::from(source)),
                }));
                return;
            }
        };
        // The loader runs as a task of its own, so that its panic is caught by tokio and
        // reaches the waiters as an error.
        let task = handle.spawn(load.in_current_callers());
        handle.spawn(async move {
            let key = format!("{:?}", finish.key);
            let outcome = match task.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(LoadError::Failed {
                    key,
                    source: Arc::from(error.into()),
                }),
                Err(error) if error.is_panic() => Err(LoadError::Panicked {
                    key,
                    message: payload_message(&*error.into_panic()),
                }),
                Err(error) => Err(LoadError::NotRun {
                    key,
                    source: Some(Arc::new(error)),
                }),
            };
            finish.complete(outcome);
        });
    }
}

/// Ends one load: stores or forgets the value, then wakes the waiters. If dropped before
/// completing (its task cancelled), it removes the load so that later fetches start anew.
struct Finish<K: Hash + Eq, V> {
    inner: Arc<Inner<K, V>>,
    key: K,
    sender: watch::Sender<Option<Outcome<V>>>,
    done: bool,
}

impl<K: Hash + Eq + Clone, V: Clone> Finish<K, V> {
    fn complete(&mut self, outcome: Outcome<V>) {
        self.done = true;
        {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Update the state before waking anyone: a fetch after the wake-up finds the
            // value kept, or nothing after a failure.
            let ours = matches!(slots.get(&self.key), Some(Slot::Loading(receiver)) if receiver.same_channel(&self.sender.subscribe()));
            if ours {
                match (&outcome, self.inner.keep) {
                    (Ok(value), Keep::Forever) => {
                        slots.insert(
                            self.key.clone(),
                            Slot::Kept {
                                value: value.clone(),
                                until: None,
                            },
                        );
                    }
                    (Ok(value), Keep::For(duration)) => {
                        let until = Some(Instant::now() + duration);
                        slots.insert(
                            self.key.clone(),
                            Slot::Kept {
                                value: value.clone(),
                                until,
                            },
                        );
                    }
                    _ => {
                        slots.remove(&self.key);
                    }
                }
            }
        }
        self.sender.send_replace(Some(outcome));
    }
}

impl<K: Hash + Eq, V> Drop for Finish<K, V> {
    fn drop(&mut self) {
        if !self.done {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slots.remove(&self.key);
        }
    }
}
