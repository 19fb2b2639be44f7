//! The errors of a facade, with messages that say which facade, which actor, and what to
//! do: [`FacadeError`] for managing mocks (install, allow, uninstall, defaults) and
//! [`CallError`] for a call that finds no implementation (what [`Facade::get`] panics
//! with).
//!
//! [`Facade::get`]: crate::Facade::get

use std::fmt;
use std::panic::Location;

use ownership_runtime::{ActorId, Callers, OwnershipError};

use crate::call_site;

/// Why [`Facade::install`](crate::Facade::install), [`Facade::allow`](crate::Facade::allow),
/// [`Facade::uninstall`](crate::Facade::uninstall) or
/// [`Facade::set_default`](crate::Facade::set_default) refused.
///
/// A refusal of the facade's ownership server that has no variant of its own is
/// [`FacadeError::Ownership`], with the server's error as its
/// [`source`](std::error::Error::source): show it with
/// [`error_chain`](ownership_runtime::error_chain).
///
/// ```
/// use mockall_bridge::{Facade, FacadeError};
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
/// // This thread runs for no actor: there is no test to own the fake.
/// let error = CLOCK.install_boxed(Box::new(Fixed(7))).unwrap_err();
/// assert!(matches!(error, FacadeError::NoActor { facade: "app::CLOCK", .. }));
/// assert!(error.to_string().contains("runs for no actor"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FacadeError {
    /// The calling code runs for no actor (`callers()` is empty), so nobody could own a
    /// mock.
    #[error(
        "cannot {operation} facade `{facade}` here: the calling code runs for no actor \
         (`ownership_runtime::callers()` is empty), so nobody could own the mock. Call it from \
         inside an `#[owned_test]` (the body, or a task or thread the test started), or run as \
         an actor with `Actor::enter` / `Actor::scope`."
    )]
    NoActor {
        /// The facade's name.
        facade: &'static str,
        /// What was asked: "install a mock into", "allow access to", "uninstall the mock of".
        operation: &'static str,
    },

    /// The owner already has a mock installed in this facade (installing twice is refused:
    /// the first mock's expectations would be silently lost).
    #[error(
        "{owner} already has a mock installed in facade `{facade}` (installed at {first}). \
         A facade holds one implementation per owner: put every expectation on that mock, or \
         call `uninstall()` first (it verifies the current mock and removes it), then install \
         the new one."
    )]
    AlreadyInstalled {
        /// The facade's name.
        facade: &'static str,
        /// The owner, the innermost caller.
        owner: ActorId,
        /// Where the mock in place was installed.
        first: &'static Location<'static>,
    },

    /// The calling actor is allowed to use another actor's mock, so it cannot install its
    /// own: expectations belong to the owner (as in Mox).
    #[error(
        "{actor} cannot install a mock into facade `{facade}`: it is allowed to use the mock \
         owned by {owner}, and expectations belong to the owner. Install the mock from \
         {owner} (usually the test itself), or use a different actor for work that needs its \
         own mock."
    )]
    InstallFromAllowedActor {
        /// The facade's name.
        facade: &'static str,
        /// The allowed actor that tried to install.
        actor: ActorId,
        /// The owner it is allowed through.
        owner: ActorId,
    },

    /// The facade is in shared mode (an `#[owned_test(shared)]` is running) and the caller
    /// is not the shared owner.
    #[error(
        "{actor} cannot install a mock into facade `{facade}`: a shared test is running \
         ({shared_owner}), and in shared mode only the shared owner installs mocks, which \
         every actor then uses. Install from the shared test itself."
    )]
    NotSharedOwner {
        /// The facade's name.
        facade: &'static str,
        /// The actor that tried to install.
        actor: ActorId,
        /// The shared owner.
        shared_owner: ActorId,
    },

    /// Nothing that the calling chain owns or is allowed to use is installed in the
    /// facade, so there is nothing to allow access to or to uninstall.
    #[error(
        "facade `{facade}` has no mock for the calling chain {callers}: it neither owns one \
         nor is allowed to use one, so there is nothing to {operation}. Install a mock first \
         (`install(mock)` from the test), then {operation} it."
    )]
    NothingInstalled {
        /// The facade's name.
        facade: &'static str,
        /// What was asked: "allow access to", "uninstall".
        operation: &'static str,
        /// The calling chain, innermost first.
        callers: Callers,
    },

    /// The actor to allow is already allowed to use another owner's mock.
    #[error(
        "{actor} cannot be allowed to use {new_owner}'s mock in facade `{facade}`: it already \
         uses the mock owned by {owner}. An actor serves one owner per facade: give each test \
         its own worker `Actor`, or run the tests that share the worker in shared mode."
    )]
    AlreadyAllowed {
        /// The facade's name.
        facade: &'static str,
        /// The actor to allow.
        actor: ActorId,
        /// The owner it already uses.
        owner: ActorId,
        /// The owner that tried to allow it.
        new_owner: ActorId,
    },

    /// The actor to allow has installed its own mock in the facade.
    #[error(
        "{actor} cannot be allowed to use another actor's mock in facade `{facade}`: it has \
         installed a mock of its own. Use a different actor for the work that needs the \
         other mock."
    )]
    AlreadyAnOwner {
        /// The facade's name.
        facade: &'static str,
        /// The actor that owns a mock.
        actor: ActorId,
    },

    /// The actor to own or to be allowed has ended, or its test has ended and its mocks
    /// were verified.
    #[error(
        "{actor} has ended (its test is over, or its `Actor` guard was dropped), so it can \
         neither own nor use a mock of facade `{facade}`. A task or thread outlived its test: \
         await or join it before the test returns, or give a long-lived worker an `Actor` of \
         its own and allow it."
    )]
    ActorEnded {
        /// The facade's name.
        facade: &'static str,
        /// The actor that has ended.
        actor: ActorId,
    },

    /// [`Facade::uninstall`](crate::Facade::uninstall) dropped the mock, and it reported
    /// unmet expectations (mockall panics on drop when they are not met).
    #[error(
        "the mock that {owner} installed in facade `{facade}` (at {installed_at}) was not \
         satisfied: {verdict}"
    )]
    Unsatisfied {
        /// The facade's name.
        facade: &'static str,
        /// The owner.
        owner: ActorId,
        /// Where the mock was installed.
        installed_at: &'static Location<'static>,
        /// The mock's own verdict (mockall's panic message).
        verdict: String,
    },

    /// A call through the facade held the owner's mock for longer than the facade waits.
    #[error(
        "could not take the mock of {owner} out of facade `{facade}`: a call through the \
         facade still held it after {waited_ms} ms (a guard from `get()` kept alive, or a call \
         that blocks). Drop guards before uninstalling, and don't block inside a mock."
    )]
    Busy {
        /// The facade's name.
        facade: &'static str,
        /// The owner.
        owner: ActorId,
        /// How long the facade waited, in milliseconds.
        waited_ms: u64,
    },

    /// [`Facade::set_default`](crate::Facade::set_default) was called after the default
    /// implementation was set or first used.
    #[error(
        "facade `{facade}` already has its default implementation (set before, or built at its \
         first use): set it once, at start-up, before the first call."
    )]
    DefaultAlreadySet {
        /// The facade's name.
        facade: &'static str,
    },

    /// Another refusal of the ownership server (the source says which).
    #[error("facade `{facade}` refused the request; its ownership server says why")]
    Ownership {
        /// The facade's name.
        facade: &'static str,
        /// The server's error.
        #[source]
        source: OwnershipError<()>,
    },
}

impl FacadeError {
    /// The name of the facade the error is about.
    ///
    /// ```
    /// use mockall_bridge::Facade;
    ///
    /// static NAMES: Facade<dyn Fn() -> String + Send + Sync> = Facade::new("app::NAMES");
    /// let error = NAMES.allow(ownership_runtime::Actor::new().id()).unwrap_err();
    /// assert_eq!(error.facade(), "app::NAMES");
    /// ```
    pub fn facade(&self) -> &'static str {
        match self {
            FacadeError::NoActor { facade, .. }
            | FacadeError::AlreadyInstalled { facade, .. }
            | FacadeError::InstallFromAllowedActor { facade, .. }
            | FacadeError::NotSharedOwner { facade, .. }
            | FacadeError::NothingInstalled { facade, .. }
            | FacadeError::AlreadyAllowed { facade, .. }
            | FacadeError::AlreadyAnOwner { facade, .. }
            | FacadeError::ActorEnded { facade, .. }
            | FacadeError::Unsatisfied { facade, .. }
            | FacadeError::Busy { facade, .. }
            | FacadeError::DefaultAlreadySet { facade }
            | FacadeError::Ownership { facade, .. } => facade,
        }
    }

    /// Turns an error of the facade's ownership server into the facade's own.
    pub(crate) fn from_ownership(
        facade: &'static str,
        source: OwnershipError<()>,
        new_owner: Option<ActorId>,
    ) -> FacadeError {
        match source {
            OwnershipError::AlreadyAllowed { actor, owner, .. } => match new_owner {
                Some(new_owner) => FacadeError::AlreadyAllowed {
                    facade,
                    actor,
                    owner,
                    new_owner,
                },
                None => FacadeError::InstallFromAllowedActor {
                    facade,
                    actor,
                    owner,
                },
            },
            OwnershipError::AlreadyAnOwner { actor, .. } => {
                FacadeError::AlreadyAnOwner { facade, actor }
            }
            OwnershipError::NotSharedOwner {
                actor,
                shared_owner,
                ..
            } => FacadeError::NotSharedOwner {
                facade,
                actor,
                shared_owner,
            },
            OwnershipError::ActorDown { actor, .. } => FacadeError::ActorEnded { facade, actor },
            source => FacadeError::Ownership { facade, source },
        }
    }
}

/// Why a call through a facade found no implementation: what
/// [`Facade::get`](crate::Facade::get) panics with, and
/// [`Facade::try_get`](crate::Facade::try_get) returns.
///
/// Its message says where the call was made (`get` and `try_get` are `#[track_caller]`),
/// and which method it called, as the source reads at that place:
/// ``facade `app::GATEWAY` has no mock for `GATEWAY.get().charge(..)` at src/shop.rs:12:30,
/// called by actor#3 (shop::tests::checkout), which neither owns a mock in it nor ...``,
/// then what to do. The method is read from the source file when the message is rendered
/// (tests run where their sources are); where the file isn't there, or the guard was kept
/// in a variable (`let gateway = GATEWAY.get();`), the message names the location alone:
/// ``has no mock for the call at src/shop.rs:12:30``.
///
/// ```
/// use mockall_bridge::{CallError, Facade};
///
/// trait Clock: Send + Sync {
///     fn now(&self) -> u64;
/// }
///
/// static CLOCK: Facade<dyn Clock> = Facade::new("app::CLOCK");
///
/// let error = CLOCK.try_get().map(|_| ()).unwrap_err();
/// assert!(matches!(error, CallError::NotOwned { facade: "app::CLOCK", .. }));
/// let message = error.to_string();
/// // `try_get` and `get` are `#[track_caller]`: the error says where the call was made...
/// assert!(message.contains("facade `app::CLOCK` has no mock for the call at "));
/// let CallError::NotOwned { at, .. } = error else { unreachable!() };
/// assert_eq!(at.file(), file!());
/// assert!(message.contains("give the facade a default implementation"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No actor of the calling chain owns a mock in the facade or is allowed to use one,
    /// and the facade has no default implementation.
    #[error("{}", not_owned(facade, at, callers, owners))]
    NotOwned {
        /// The facade's name.
        facade: &'static str,
        /// Where the call was made (the caller of `get` / `try_get`).
        at: &'static Location<'static>,
        /// The calling chain, innermost first.
        callers: Callers,
        /// The actors that own a mock in the facade right now (other tests, usually).
        owners: Vec<ActorId>,
    },

    /// The call runs for an actor that has ended (a test that is over): its mock was
    /// verified and removed, and such a call never reaches another test's mock, nor the
    /// default implementation.
    #[error(
        "facade `{facade}` was called ({}) for {actor}, which has ended: the test (or actor) \
         this code works for is over, and the mocks it owned were verified and removed. The caller \
         (chain {callers}) is a task or thread that outlived its test: await or join it before \
         the test returns, or give a long-lived worker an `Actor` of its own (`Worker::start`) \
         and allow it.",
        CallAt(at)
    )]
    Ended {
        /// The facade's name.
        facade: &'static str,
        /// Where the call was made (the caller of `get` / `try_get`).
        at: &'static Location<'static>,
        /// The actor that has ended.
        actor: ActorId,
        /// The calling chain, innermost first.
        callers: Callers,
    },

    /// The owner uninstalled its mock and has not installed another one.
    #[error(
        "facade `{facade}` was called ({}) for {owner}, which uninstalled its mock and has \
         not installed another one: install a new mock before calling again.",
        CallAt(at)
    )]
    Uninstalled {
        /// The facade's name.
        facade: &'static str,
        /// Where the call was made (the caller of `get` / `try_get`).
        at: &'static Location<'static>,
        /// The owner.
        owner: ActorId,
    },
}

/// How many owners the not-owned message names before it says "and N more".
const OWNERS_SHOWN: usize = 3;

/// A call's location, with the call as its source reads when that can be read
/// (`` `CLOCK.get().now(..)` at src/x.rs:3:11 ``; else ``the call at src/x.rs:3:11``).
struct CallAt<'a>(&'a Location<'static>);

impl fmt::Display for CallAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match call_site::read(self.0) {
            Some(call) => write!(f, "{call} at {}", self.0),
            None => write!(f, "the call at {}", self.0),
        }
    }
}

fn not_owned(
    facade: &str,
    at: &Location<'static>,
    callers: &Callers,
    owners: &[ActorId],
) -> String {
    let call = call_site::read(at);
    let what = match &call {
        Some(call) => format!("{call} at {at}"),
        None => format!("the call at {at}"),
    };
    // How the fixes name the facade: as the call's source does, when it was read.
    let on_facade = |method: &str| match call.as_ref().and_then(|call| call.receiver()) {
        Some(receiver) => format!("`{receiver}.{method}`"),
        None => format!("`.{method}` on the facade"),
    };
    let caller = match callers.first() {
        None => "code that runs for no actor (`ownership_runtime::callers()` is empty: a thread \
                 or runtime that no test started, or code outside any owned test)"
            .to_owned(),
        Some(actor) if callers.len() == 1 => {
            format!("{actor}, which neither owns a mock in it nor is allowed to use one")
        }
        Some(actor) => format!(
            "{actor}, running for {callers}, none of which owns a mock in it or is allowed to \
             use one"
        ),
    };
    let others = if owners.is_empty() {
        format!(
            "No actor owns a mock in it right now: if this call works for a test, install one in \
             that test first ({}).",
            on_facade("install(mock)")
        )
    } else {
        let mut named: Vec<String> = owners
            .iter()
            .take(OWNERS_SHOWN)
            .map(ToString::to_string)
            .collect();
        if owners.len() > OWNERS_SHOWN {
            named.push(format!("and {} more", owners.len() - OWNERS_SHOWN));
        }
        format!(
            "Mocks in it are owned right now by {}; if this call works for one of them, it must \
             be able to find that test:",
            named.join(", ")
        )
    };
    format!(
        "facade `{facade}` has no mock for {what}, called by {caller}. It has no default \
         implementation either.\n\
         {others}\n\
         \x20 - carry the test's callers into the code that calls: start it with \
         `ownership_runtime::spawn`, `spawn_blocking` or `thread::spawn`, or wrap its future \
         with `.in_current_callers()` (plain `tokio::spawn` carries them only on the test's \
         own runtime);\n\
         \x20 - or allow the calling actor from the test: {} (`ToAllow::lazy(..)` for a worker \
         that doesn't exist yet), or `ownership_runtime::allow_all(worker.id())` for everything \
         the test owns;\n\
         \x20 - or run the test in shared mode, `#[owned_test(shared)]`, where every actor uses \
         the test's mock;\n\
         \x20 - or, if this caller should use the real implementation, give the facade a \
         default implementation: `Facade::with_default(..)` or `.set_default(..)`.",
        on_facade("allow(worker.id())")
    )
}
