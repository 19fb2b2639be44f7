//! The errors of the ownership server, with messages that say what to do, and the one way
//! this workspace shows an error with its causes ([`error_chain`]).

use crate::actor_id::ActorId;

/// Why an [`Ownership`](crate::Ownership) server refused a request. Every variant carries
/// the key it was about; adapters wrap these errors with their own context (which
/// sandbox, which mock).
///
/// ```
/// use ownership_runtime::{Actor, Ownership, OwnershipError};
///
/// let server: Ownership<&str, ()> = Ownership::new();
/// let (stranger, worker) = (Actor::named("stranger"), Actor::named("worker"));
/// let error = server.allow(stranger.id(), worker.id(), "db").unwrap_err();
/// assert!(matches!(error, OwnershipError::NotAllowed { key: "db", .. }));
/// assert!(error.to_string().contains("(stranger) cannot allow other actors to use \"db\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnershipError<K> {
    /// `actor` asked to allow another actor to use `key`, but it neither owns the key nor
    /// is allowed to use it.
    #[error(
        "{actor} cannot allow other actors to use {key:?}: it neither owns that key nor is \
         allowed to use it. Only the owner, or an actor the owner allowed, can allow others: \
         call `allow` with the owner (usually the test) as the actor with access, or make \
         {actor} an owner first."
    )]
    NotAllowed {
        /// The key.
        key: K,
        /// The actor that has no access.
        actor: ActorId,
    },

    /// `actor` is already allowed to use `key` through `owner`, so it can't own the key
    /// itself or be allowed through another owner.
    #[error(
        "{actor} is already allowed to use {key:?} by its owner {owner}, so it can neither \
         own that key itself nor be allowed by another owner. An actor serves one owner per \
         key: don't share it between tests (give each test its own worker Actor), or run the \
         tests that share it in shared mode."
    )]
    AlreadyAllowed {
        /// The key.
        key: K,
        /// The actor that is already allowed.
        actor: ActorId,
        /// The owner it is allowed through.
        owner: ActorId,
    },

    /// `actor` owns `key`, so it can't be allowed to use another owner's.
    #[error(
        "{actor} already owns {key:?}, so it cannot be allowed to use another owner's \
         {key:?}. Use a different actor for the work that needs the other owner's resource."
    )]
    AlreadyAnOwner {
        /// The key.
        key: K,
        /// The actor that owns the key.
        actor: ActorId,
    },

    /// The server is in shared mode, where allowances make no sense.
    #[error(
        "cannot allow access to {key:?}: the server is in shared mode with {shared_owner} as \
         the shared owner, and in shared mode every actor already uses the shared owner's \
         resources. Drop the `allow` call, or allow before switching to shared mode."
    )]
    CantAllowInSharedMode {
        /// The key.
        key: K,
        /// The shared owner.
        shared_owner: ActorId,
    },

    /// The server is in shared mode and `actor` is not the shared owner.
    #[error(
        "{actor} cannot own {key:?}: the server is in shared mode and only the shared owner \
         {shared_owner} can own keys. Make the change from the shared owner (the test that \
         switched to shared mode), or switch back to private mode first."
    )]
    NotSharedOwner {
        /// The key.
        key: K,
        /// The actor that tried to own the key.
        actor: ActorId,
        /// The shared owner.
        shared_owner: ActorId,
    },

    /// `actor` has ended: it can't own or be allowed anything any more.
    #[error(
        "{actor} has ended (its Actor guard was dropped), so it can neither own nor be \
         allowed to use {key:?}. This usually means a task or thread outlived the test that \
         started it: await such work before the test ends, or give a long-lived worker an \
         Actor of its own and allow it."
    )]
    ActorDown {
        /// The key.
        key: K,
        /// The actor that has ended.
        actor: ActorId,
    },

    /// `get_and_update` was called for the same owner and key from inside its own update
    /// function.
    #[error(
        "`get_and_update` of {key:?} for {owner} was called again from inside its own update \
         function, where that metadata is not available yet. Compute the new metadata in the \
         first update function and return it."
    )]
    ReentrantUpdate {
        /// The key.
        key: K,
        /// The owner whose metadata is being updated.
        owner: ActorId,
    },
}

impl<K> OwnershipError<K> {
    /// The key the request was about.
    ///
    /// ```
    /// use ownership_runtime::{Actor, Ownership};
    ///
    /// let server: Ownership<&str, ()> = Ownership::new();
    /// let (a, b) = (Actor::new(), Actor::new());
    /// assert_eq!(server.allow(a.id(), b.id(), "db").unwrap_err().key(), &"db");
    /// ```
    pub fn key(&self) -> &K {
        match self {
            OwnershipError::NotAllowed { key, .. }
            | OwnershipError::AlreadyAllowed { key, .. }
            | OwnershipError::AlreadyAnOwner { key, .. }
            | OwnershipError::CantAllowInSharedMode { key, .. }
            | OwnershipError::NotSharedOwner { key, .. }
            | OwnershipError::ActorDown { key, .. }
            | OwnershipError::ReentrantUpdate { key, .. } => key,
        }
    }
}

/// [`Ownership::set_mode`](crate::Ownership::set_mode) was asked to make an actor that has
/// already ended the shared owner.
///
/// ```
/// use ownership_runtime::{Actor, Mode, Ownership};
///
/// let server: Ownership<&str, ()> = Ownership::new();
/// let ended = Actor::named("tests::shared").id(); // the guard drops at once
/// let error = server.set_mode(Mode::Shared(ended)).unwrap_err();
/// assert!(error.to_string().contains("cannot become the shared owner"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{actor} cannot become the shared owner: it has ended (its Actor guard was dropped), and \
     the server would return to private mode at once. Switch to shared mode from a live \
     actor, usually the test itself."
)]
pub struct SharedOwnerDown {
    /// The actor that has ended.
    pub actor: ActorId,
}

/// An error followed by its causes, as `message: cause: cause's cause`: how every report and
/// panic message of this workspace shows an error (see [`error_chain`]).
///
/// Errors here follow thiserror's practice: an error's `Display` says what went wrong at its
/// own level, and its cause is only reachable through
/// [`source()`](std::error::Error::source). `ErrorChain` walks that chain once, so that no
/// message repeats its cause.
///
/// ```
/// use ownership_runtime::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("could not load the fixtures")]
/// struct Fixtures(#[source] std::io::Error);
///
/// let error = Fixtures(std::io::Error::other("disk full"));
/// assert_eq!(ErrorChain(&error).to_string(), "could not load the fixtures: disk full");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            // Errors of other crates (sqlx's, io's wrappers) may repeat their cause in
            // their own message: shown once.
            let text = error.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            cause = error.source();
        }
        Ok(())
    }
}

/// `error` and its causes, as one line: `message: cause: cause's cause` (see
/// [`ErrorChain`]). Use it wherever an error is shown to a person (a report, a panic
/// message, a log line): an error's own `Display` leaves its causes out.
///
/// ```
/// use ownership_runtime::error_chain;
/// use ownership_runtime::runwide::{RunWide, RunWideError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("error-chain-doc-{}", std::process::id()));
/// let run_wide = RunWide::file_in(&dir).with_run_id("doc");
/// let error = run_wide
///     .once("fixtures", || async { Err(std::io::Error::other("disk full")) })
///     .await
///     .unwrap_err();
/// // The error's own message leaves the cause to `source()`; the chain has both.
/// assert!(!error.to_string().contains("disk full"));
/// assert!(error_chain(&error).to_string().ends_with(": disk full"));
/// # });
/// ```
pub fn error_chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> ErrorChain<'a> {
    ErrorChain(error)
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    /// An error that, like sqlx's, repeats its cause in its own message.
    #[derive(Debug, thiserror::Error)]
    #[error("error returned from database: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("sandbox `app`: could not check out a connection")]
    struct Outer(#[source] Repeats);

    #[test]
    fn a_cause_that_its_error_already_shows_is_shown_once() {
        let error = Outer(Repeats(std::io::Error::other("role \"x\" does not exist")));
        assert_eq!(
            error_chain(&error).to_string(),
            "sandbox `app`: could not check out a connection: error returned from database: \
             role \"x\" does not exist"
        );
    }
}
