//! The facade: a process-wide global that app code calls like a trait object, and into
//! which each test installs its own implementation.
//!
//! - [`Facade<T>`]: declared once, usually as a `static`, with an optional default
//!   (production) implementation. [`Facade::get`] resolves the calling chain
//!   ([`callers()`]) to the mock of the test it works for, or to the default.
//! - [`Guard`]: what a call borrows; derefs to `&T`.
//! - [`Installable`] and [`installable!`](crate::installable): what lets
//!   [`Facade::install`] take a mock as is, without boxing it.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::{Arc, OnceLock};

use ownership_runtime::harness::TestResource;
use ownership_runtime::{ActorId, ToAllow, callers};

use crate::error::{CallError, FacadeError};
use crate::mocks::{Lookup, Mocks, TAKE_WAIT, Unverified};
use crate::slot::{Lease, Leave};

/// A global that app code calls like a `T` (usually a trait object, `dyn Trait`), and into
/// which each test installs its own implementation: a mockall mock, or any fake.
///
/// App code calls through [`Facade::get`], which gives the implementation for the code
/// that runs now:
///
/// - the mock installed by the test this code works for: the test itself, its tasks and
///   threads (anything whose [`callers()`] chain leads to the test), and the actors the
///   test [allowed](Facade::allow);
/// - in a shared test (`#[owned_test(shared)]`), that test's mock, whoever calls;
/// - otherwise the default implementation (production, a plain `#[test]`, a test that
///   installed nothing); without one, `get` panics with a message that names the facade
///   and the caller and says how to fix it (see [`CallError::NotOwned`]).
///
/// Until a mock is installed in a facade for the first time, a call doesn't even look at
/// the callers: it is the default implementation, at the cost of two atomic loads.
///
/// When a test ends, the harness takes each mock the test installed out of its facade
/// and drops it on the test's thread, which is when mockall checks expectations: unmet ones
/// fail that test (see the [crate docs](crate)).
///
/// `T` must be `Send + Sync` to be shared between threads: declare the trait with
/// `Send + Sync` supertraits, or use `Facade<dyn Trait + Send + Sync>`.
///
/// ```
/// use mockall_bridge::Facade;
///
/// pub trait Clock: Send + Sync {
///     fn now(&self) -> u64;
/// }
///
/// struct SystemClock;
/// impl Clock for SystemClock {
///     fn now(&self) -> u64 {
///         1_700_000_000
///     }
/// }
///
/// pub static CLOCK: Facade<dyn Clock> =
///     Facade::with_default("app::CLOCK", || Box::new(SystemClock));
///
/// fn expired(deadline: u64) -> bool {
///     CLOCK.get().now() > deadline
/// }
///
/// assert!(expired(1_600_000_000)); // no test owns CLOCK here: the system clock
/// ```
pub struct Facade<T: ?Sized + 'static> {
    name: &'static str,
    make_default: Option<fn() -> Box<T>>,
    /// The default implementation, once set or built.
    default: OnceLock<Box<T>>,
    /// The installed mocks, from the first install on.
    mocks: OnceLock<Arc<Mocks<T>>>,
}

impl<T: ?Sized + 'static> Facade<T> {
    /// A facade named `name` (shown in every message about it; a path such as
    /// `"payments::GATEWAY"` tells users where it is), with no default implementation.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    ///
    /// trait Mailer: Send + Sync {
    ///     fn send(&self, to: &str) -> bool;
    /// }
    ///
    /// static MAILER: Facade<dyn Mailer> = Facade::new(concat!(module_path!(), "::MAILER"));
    /// assert!(MAILER.name().ends_with("::MAILER"));
    /// ```
    pub const fn new(name: &'static str) -> Facade<T> {
        Facade {
            name,
            make_default: None,
            default: OnceLock::new(),
            mocks: OnceLock::new(),
        }
    }

    /// A facade named `name` with a default implementation, built by `make` at its first
    /// use (once per process). Calls that no test owns get it.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    ///
    /// trait Mailer: Send + Sync {
    ///     fn send(&self, to: &str) -> bool;
    /// }
    /// struct Smtp;
    /// impl Mailer for Smtp {
    ///     fn send(&self, _to: &str) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// static MAILER: Facade<dyn Mailer> = Facade::with_default("app::MAILER", || Box::new(Smtp));
    /// assert!(MAILER.get().send("ada@example.com"));
    /// ```
    pub const fn with_default(name: &'static str, make: fn() -> Box<T>) -> Facade<T> {
        Facade {
            name,
            make_default: Some(make),
            default: OnceLock::new(),
            mocks: OnceLock::new(),
        }
    }

    /// The facade's name.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    ///
    /// static IDS: Facade<dyn Fn() -> u64 + Send + Sync> = Facade::new("app::IDS");
    /// assert_eq!(IDS.name(), "app::IDS");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: ?Sized + Send + Sync + 'static> Facade<T> {
    /// The implementation for the code running now: the mock of the test it works for, or
    /// the default implementation (see [`Facade`]).
    ///
    /// The guard borrows the implementation: a mock stays in its facade and is only lent
    /// to calls, so that it can be verified when its test ends. Keep the guard for the call
    /// (`FACADE.get().method(..)`); a guard kept after its test ended delays that test's
    /// verification (for at most 2 s, then the test fails saying so).
    ///
    /// # Panics
    ///
    /// When there is no implementation for this call (no mock reachable from the calling
    /// chain, and no default), or the call works for a test that has ended: with the text
    /// of the [`CallError`] that [`Facade::try_get`] would return.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::with_default("app::CLOCK", || Box::new(Fixed(1)));
    ///
    /// run_async(TestConfig::new("docs::get"), || async {
    ///     CLOCK.install_boxed(Box::new(Fixed(42))).unwrap();
    ///     assert_eq!(CLOCK.get().now(), 42);
    ///     // The test's tasks see its clock too.
    ///     assert_eq!(tokio::spawn(async { CLOCK.get().now() }).await.unwrap(), 42);
    /// });
    /// assert_eq!(CLOCK.get().now(), 1); // outside the test: the default
    /// ```
    #[track_caller]
    pub fn get(&self) -> Guard<'_, T> {
        match self.try_get() {
            Ok(guard) => guard,
            Err(error) => panic!("{}", ownership_runtime::error_chain(&error)),
        }
    }

    /// Like [`Facade::get`], but returns the error instead of panicking.
    ///
    /// # Errors
    ///
    /// - [`CallError::NotOwned`]: no mock is reachable from the calling chain, and the
    ///   facade has no default implementation;
    /// - [`CallError::Ended`]: the calling chain leads to an actor that has ended (a test
    ///   that is over): the call gets neither another test's mock nor the default;
    /// - [`CallError::Uninstalled`]: the owner uninstalled its mock and installed no other.
    ///
    /// ```
    /// use mockall_bridge::{CallError, Facade};
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    /// assert!(matches!(CLOCK.try_get(), Err(CallError::NotOwned { .. })));
    /// ```
    #[track_caller]
    pub fn try_get(&self) -> Result<Guard<'_, T>, CallError> {
        let at = Location::caller();
        match self.mocks.get() {
            // No mock was ever installed here: nobody to look for.
            None => self.default_guard().ok_or_else(|| CallError::NotOwned {
                facade: self.name,
                at,
                callers: callers(),
                owners: Vec::new(),
            }),
            Some(mocks) => self.lookup(mocks, at),
        }
    }

    fn lookup(
        &self,
        mocks: &Mocks<T>,
        at: &'static Location<'static>,
    ) -> Result<Guard<'_, T>, CallError> {
        let chain = callers();
        match mocks.lookup(&chain, at)? {
            Lookup::Installed(lease, owner) => Ok(Guard {
                inner: Inner::Installed { lease, owner },
            }),
            Lookup::Miss => {
                if let Some(&ended) = chain.iter().find(|actor| !actor.is_alive()) {
                    return Err(CallError::Ended {
                        facade: self.name,
                        at,
                        actor: ended,
                        callers: chain,
                    });
                }
                self.default_guard().ok_or_else(|| CallError::NotOwned {
                    facade: self.name,
                    at,
                    callers: chain,
                    owners: mocks.owner_list(),
                })
            }
        }
    }

    fn default_guard(&self) -> Option<Guard<'_, T>> {
        let implementation = match self.default.get() {
            Some(implementation) => implementation,
            None => self.default.get_or_init(self.make_default?),
        };
        Some(Guard {
            inner: Inner::Default(implementation),
        })
    }

    /// Installs `implementation` (a mockall mock, or any fake) as the mock of the actor
    /// that runs this code, the innermost of [`callers()`]: in a test's body and in its
    /// tasks and threads, the test. From then on, every call that works for that actor
    /// gets it, and when its test ends it is verified.
    ///
    /// For a facade of a trait object `dyn Trait`, declare once that the trait's
    /// implementations can be installed as they are, with
    /// [`installable!(dyn Trait)`](crate::installable), or use [`Facade::install_boxed`].
    ///
    /// # Errors
    ///
    /// - [`FacadeError::NoActor`]: the code runs for no actor (outside any owned test);
    /// - [`FacadeError::AlreadyInstalled`]: the owner has a mock in this facade already
    ///   (install once per test, or [`uninstall`](Facade::uninstall) first);
    /// - [`FacadeError::InstallFromAllowedActor`]: the calling actor is allowed to use
    ///   another actor's mock; expectations belong to the owner;
    /// - [`FacadeError::NotSharedOwner`]: a shared test is running, and the caller isn't it;
    /// - [`FacadeError::ActorEnded`]: the calling actor (its test) has ended.
    ///
    /// A refused implementation is leaked, not dropped: dropping a mockall mock whose
    /// expectations never had a chance to be met would panic.
    ///
    /// ```
    /// use mockall_bridge::{Facade, installable};
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// pub trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// installable!(dyn Clock);
    ///
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    ///
    /// run_async(TestConfig::new("docs::install"), || async {
    ///     CLOCK.install(Fixed(42)).unwrap();
    ///     assert_eq!(CLOCK.get().now(), 42);
    ///     // Once per test: a second install is refused.
    ///     assert!(CLOCK.install(Fixed(43)).is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn install<M>(&self, implementation: M) -> Result<(), FacadeError>
    where
        T: Installable<M>,
    {
        let at = Location::caller();
        self.install_at(T::boxed(implementation), at)
    }

    /// Like [`Facade::install`], for a boxed implementation: `install_boxed(Box::new(mock))`
    /// works for any facade, with no [`installable!`](crate::installable) declaration.
    ///
    /// # Errors
    ///
    /// As [`Facade::install`].
    ///
    /// ```
    /// use mockall_bridge::Facade;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    ///
    /// run_async(TestConfig::new("docs::install_boxed"), || async {
    ///     CLOCK.install_boxed(Box::new(Fixed(42))).unwrap();
    ///     assert_eq!(CLOCK.get().now(), 42);
    /// });
    /// ```
    #[track_caller]
    pub fn install_boxed(&self, implementation: Box<T>) -> Result<(), FacadeError> {
        self.install_at(implementation, Location::caller())
    }

    fn install_at(
        &self,
        implementation: Box<T>,
        at: &'static Location<'static>,
    ) -> Result<(), FacadeError> {
        let chain = callers();
        let Some(&owner) = chain.first() else {
            leak(implementation);
            return Err(FacadeError::NoActor {
                facade: self.name,
                operation: "install a mock into",
            });
        };
        self.mocks()
            .install(owner, implementation, at)
            .map_err(|(error, rejected)| {
                if let Some(rejected) = rejected {
                    leak(rejected);
                }
                error
            })
    }

    /// The facade's mocks, created (and registered with the harness) at the first install.
    fn mocks(&self) -> &Mocks<T> {
        self.mocks.get_or_init(|| {
            let mocks = Arc::new(Mocks::new(self.name));
            let registered: Arc<dyn TestResource> = mocks.clone();
            ownership_runtime::harness::register_resource(Arc::downgrade(&registered));
            mocks
        })
    }

    /// Allows `to_allow` (an actor, or a lazy resolver made with [`ToAllow::lazy`]) to use
    /// the mock that the calling code uses, like Mox's `allow`: a long-lived worker that
    /// has an [`Actor`](ownership_runtime::Actor) of its own then uses the test's mock.
    ///
    /// Call it from the test (or from an actor it allowed: allowances are transitive). The
    /// allowance ends with the test. In a shared test it succeeds and changes nothing:
    /// every actor uses the test's mock already (as with Mox), so suite helpers can call
    /// `allow` in both modes.
    ///
    /// # Errors
    ///
    /// - [`FacadeError::NoActor`]: the code runs for no actor;
    /// - [`FacadeError::NothingInstalled`]: no mock is reachable from the calling chain
    ///   (install first, then allow);
    /// - [`FacadeError::AlreadyAllowed`]: the actor uses another test's mock;
    /// - [`FacadeError::AlreadyAnOwner`]: the actor installed a mock of its own;
    /// - [`FacadeError::ActorEnded`]: the actor has ended.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    /// use ownership_runtime::Worker;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    /// use tokio::sync::oneshot;
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    ///
    /// run_async(TestConfig::new("docs::allow"), || async {
    ///     CLOCK.install_boxed(Box::new(Fixed(42))).unwrap();
    ///     // A worker with an actor, a thread and a runtime of its own: no test's callers.
    ///     let (go, start) = oneshot::channel::<()>();
    ///     let (reading, read) = oneshot::channel();
    ///     let worker = Worker::start("app::worker", async move {
    ///         start.await.unwrap();
    ///         let _ = reading.send(CLOCK.get().now());
    ///     })
    ///     .unwrap();
    ///     CLOCK.allow(worker.id()).unwrap();
    ///     go.send(()).unwrap();
    ///     assert_eq!(read.await.unwrap(), 42);
    ///     worker.join().unwrap();
    /// });
    /// ```
    pub fn allow(&self, to_allow: impl Into<ToAllow>) -> Result<(), FacadeError> {
        let to_allow = to_allow.into();
        let chain = callers();
        if chain.is_empty() {
            return Err(FacadeError::NoActor {
                facade: self.name,
                operation: "allow access to",
            });
        }
        match self
            .mocks
            .get()
            .and_then(|mocks| mocks.allow_from(&chain, to_allow))
        {
            Some(outcome) => outcome,
            None => Err(FacadeError::NothingInstalled {
                facade: self.name,
                operation: "allow access to",
                callers: chain,
            }),
        }
    }

    /// Takes the calling actor's mock out of the facade and drops it now, which verifies a
    /// mockall mock: for a test that checks one phase's expectations before setting the
    /// next (`uninstall`, then `install` a new mock). Allowances stay in place. Until the
    /// next install, calls for the owner fail with [`CallError::Uninstalled`].
    ///
    /// # Errors
    ///
    /// - [`FacadeError::Unsatisfied`]: the mock's expectations were not met (its verdict);
    ///   it is removed all the same;
    /// - [`FacadeError::NoActor`], [`FacadeError::NothingInstalled`]: the calling actor
    ///   has no mock installed here (only the owner can uninstall);
    /// - [`FacadeError::Busy`]: a guard from [`Facade::get`] held the mock for 2 s.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    /// use ownership_runtime::harness::{TestConfig, run_async};
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    ///
    /// run_async(TestConfig::new("docs::uninstall"), || async {
    ///     CLOCK.install_boxed(Box::new(Fixed(1))).unwrap();
    ///     assert_eq!(CLOCK.get().now(), 1);
    ///     CLOCK.uninstall().unwrap();
    ///     assert!(CLOCK.try_get().is_err());
    ///     CLOCK.install_boxed(Box::new(Fixed(2))).unwrap();
    ///     assert_eq!(CLOCK.get().now(), 2);
    /// });
    /// ```
    pub fn uninstall(&self) -> Result<(), FacadeError> {
        let chain = callers();
        let Some(&owner) = chain.first() else {
            return Err(FacadeError::NoActor {
                facade: self.name,
                operation: "uninstall the mock of",
            });
        };
        let outcome = self
            .mocks
            .get()
            .and_then(|mocks| mocks.take_and_verify(owner, Leave::Uninstalled));
        match outcome {
            None => Err(FacadeError::NothingInstalled {
                facade: self.name,
                operation: "uninstall",
                callers: chain,
            }),
            Some(Ok(())) => Ok(()),
            Some(Err(Unverified::Unsatisfied { at, verdict })) => Err(FacadeError::Unsatisfied {
                facade: self.name,
                owner,
                installed_at: at,
                verdict,
            }),
            Some(Err(Unverified::Busy)) => Err(FacadeError::Busy {
                facade: self.name,
                owner,
                waited_ms: u64::try_from(TAKE_WAIT.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// Sets the default implementation, for one that needs run-time configuration (an
    /// HTTP client with a base URL): call it once at start-up, before the first call. It
    /// takes the place of a [`with_default`](Facade::with_default) one that was not built
    /// yet.
    ///
    /// # Errors
    ///
    /// [`FacadeError::DefaultAlreadySet`] if a default was set before or already built by
    /// a call; `implementation` is dropped.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    ///
    /// trait Greeter: Send + Sync {
    ///     fn greet(&self) -> String;
    /// }
    /// struct Configured(String);
    /// impl Greeter for Configured {
    ///     fn greet(&self) -> String {
    ///         format!("hello from {}", self.0)
    ///     }
    /// }
    ///
    /// static GREETER: Facade<dyn Greeter> = Facade::new("app::GREETER");
    ///
    /// GREETER.set_default(Box::new(Configured("eu-west".into()))).unwrap();
    /// assert_eq!(GREETER.get().greet(), "hello from eu-west");
    /// assert!(GREETER.set_default(Box::new(Configured("us-east".into()))).is_err());
    /// ```
    pub fn set_default(&self, implementation: Box<T>) -> Result<(), FacadeError> {
        self.default
            .set(implementation)
            .map_err(|_rejected| FacadeError::DefaultAlreadySet { facade: self.name })
    }
}

/// Keeps a refused implementation (its box, or its only `Arc`) from being dropped (see
/// [`Facade::install`]).
fn leak<I>(implementation: I) {
    std::mem::forget(implementation);
}

impl<T: ?Sized + 'static> fmt::Debug for Facade<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facade")
            .field("name", &self.name)
            .field(
                "default",
                &(self.make_default.is_some() || self.default.get().is_some()),
            )
            .finish_non_exhaustive()
    }
}

/// The implementation a call got from [`Facade::get`]: derefs to `&T`.
///
/// A test's mock is lent to the call for as long as the guard lives, so drop the guard
/// when the call is done (`FACADE.get().method(..)` does, and so does
/// `FACADE.get().method(..).await`). The guard holds no lock and is `Send`, so an `async`
/// call keeps it across its `.await`s, also in spawned tasks: the test's tasks are
/// cancelled before its mocks are verified, so a call still in flight as the test ends
/// doesn't delay verification (see [Async dependencies](crate#async-dependencies)).
///
/// ```
/// use mockall_bridge::{Facade, Guard};
///
/// trait Clock: Send + Sync {
///     fn now(&self) -> u64;
/// }
/// struct SystemClock;
/// impl Clock for SystemClock {
///     fn now(&self) -> u64 {
///         1_700_000_000
///     }
/// }
///
/// static CLOCK: Facade<dyn Clock> = Facade::with_default("app::CLOCK", || Box::new(SystemClock));
///
/// let clock = CLOCK.get();
/// assert_eq!(clock.now(), 1_700_000_000);
/// assert_eq!(Guard::owner(&clock), None); // the default implementation
/// ```
#[must_use = "the guard lends the implementation for a call: call it through the guard \
              (`FACADE.get().method(..)`)"]
pub struct Guard<'a, T: ?Sized + 'static> {
    inner: Inner<'a, T>,
}

enum Inner<'a, T: ?Sized + 'static> {
    Default(&'a T),
    /// A test's mock, lent by its slot: it stays there while the guard lives.
    Installed {
        lease: Lease<T>,
        owner: ActorId,
    },
}

impl<T: ?Sized + 'static> Guard<'_, T> {
    /// The actor whose mock this is (the test), or `None` for the default implementation.
    /// An associated function, so that it never hides a method of `T`.
    ///
    /// ```
    /// use mockall_bridge::{Facade, Guard};
    /// use ownership_runtime::harness::{TestConfig, run_async};
    /// use ownership_runtime::callers;
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 {
    ///         self.0
    ///     }
    /// }
    ///
    /// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
    ///
    /// run_async(TestConfig::new("docs::owner"), || async {
    ///     CLOCK.install_boxed(Box::new(Fixed(42))).unwrap();
    ///     let test = callers()[0];
    ///     assert_eq!(Guard::owner(&CLOCK.get()), Some(test));
    /// });
    /// ```
    pub fn owner(guard: &Self) -> Option<ActorId> {
        match guard.inner {
            Inner::Default(_) => None,
            Inner::Installed { owner, .. } => Some(owner),
        }
    }
}

impl<T: ?Sized + 'static> Deref for Guard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.inner {
            Inner::Default(implementation) => implementation,
            Inner::Installed { lease, .. } => lease,
        }
    }
}

impl<T: ?Sized + 'static> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Default(_) => f.write_str("Guard(default)"),
            Inner::Installed { owner, .. } => write!(f, "Guard(mock of {owner})"),
        }
    }
}

/// `Self: Installable<M>`: an `M` can be installed where a `Self` is expected, with
/// [`Facade::install`]. Every sized `T` is installable into a `Facade<T>`; for a trait
/// object, [`installable!(dyn Trait)`](crate::installable) declares that every
/// `M: Trait + Send + Sync + 'static` (a mockall mock, a fake) is.
///
/// ```
/// use mockall_bridge::{Facade, Installable};
///
/// pub trait Clock: Send + Sync {
///     fn now(&self) -> u64;
/// }
/// mockall_bridge::installable!(dyn Clock);
///
/// struct Fixed(u64);
/// impl Clock for Fixed {
///     fn now(&self) -> u64 {
///         self.0
///     }
/// }
///
/// let boxed: Box<dyn Clock> = <dyn Clock as Installable<Fixed>>::boxed(Fixed(3));
/// assert_eq!(boxed.now(), 3);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{M}` cannot be installed as it is into a `Facade<{Self}>`",
    label = "not installable as `{Self}`",
    note = "for a trait object, declare once that its implementations can be installed: \
            `mockall_bridge::installable!({Self});`",
    note = "or install a box: `.install_boxed(Box::new(mock))`"
)]
pub trait Installable<M> {
    /// Boxes `implementation` as a `Self`.
    ///
    /// ```
    /// use mockall_bridge::Installable;
    ///
    /// // Every sized type is installable as itself (a `Facade<Rates>` takes a `Rates`).
    /// #[derive(Debug, PartialEq)]
    /// struct Rates {
    ///     eur_in_cents: u32,
    /// }
    /// let boxed: Box<Rates> = Installable::boxed(Rates { eur_in_cents: 108 });
    /// assert_eq!(*boxed, Rates { eur_in_cents: 108 });
    /// ```
    fn boxed(implementation: M) -> Box<Self>;
}

impl<T> Installable<T> for T {
    fn boxed(implementation: T) -> Box<T> {
        Box::new(implementation)
    }
}

/// Declares that every implementation of a trait (`M: Trait + Send + Sync + 'static`: a
/// mockall mock, a hand-written fake) can be installed as it is into a `Facade<dyn Trait>`
/// with [`Facade::install`], without boxing it first. Write it once per trait, next to the
/// trait (it implements [`Installable`] for the trait object type, which must be local).
///
/// ```
/// use mockall_bridge::{Facade, installable};
/// use ownership_runtime::harness::{TestConfig, run_async};
///
/// pub trait Mailer: Send + Sync {
///     fn send(&self, to: &str) -> bool;
/// }
/// installable!(dyn Mailer);
///
/// // Extra bounds are kept: `dyn Tr + Send + Sync` works too.
/// pub trait Ledger {
///     fn balance(&self) -> i64;
/// }
/// installable!(dyn Ledger + Send + Sync);
///
/// struct Rejects;
/// impl Mailer for Rejects {
///     fn send(&self, _to: &str) -> bool {
///         false
///     }
/// }
///
/// static MAILER: Facade<dyn Mailer> = Facade::new("app::MAILER");
///
/// run_async(TestConfig::new("docs::installable"), || async {
///     MAILER.install(Rejects).unwrap();
///     assert!(!MAILER.get().send("ada@example.com"));
/// });
/// ```
#[macro_export]
macro_rules! installable {
    (dyn $($bounds:tt)+) => {
        impl<__Implementation> $crate::Installable<__Implementation> for dyn $($bounds)+
        where
            __Implementation: $($bounds)+ + ::core::marker::Send + ::core::marker::Sync + 'static,
        {
            fn boxed(implementation: __Implementation) -> ::std::boxed::Box<Self> {
                ::std::boxed::Box::new(implementation)
            }
        }
    };
}
