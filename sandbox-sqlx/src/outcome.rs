//! What a checkout and a checkin did: [`Checkout`] and [`Checkin`].

/// What [`Sandbox::checkout`] did.
///
/// ```no_run
/// # use sandbox_sqlx::{Checkout, CheckoutOptions, Sandbox, SandboxError};
/// # use sqlx::Postgres;
/// use ownership_runtime::{Actor, callers};
///
/// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
/// sandbox.checkout().await?;
/// let worker = Actor::named("mailer");
/// sandbox.allow(callers()[0], worker.id())?;
/// // The worker uses the test's connection: it gets none of its own.
/// let outcome = sandbox.checkout_for(worker.id(), CheckoutOptions::default()).await?;
/// assert_eq!(outcome, Checkout::AlreadyAllowed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// A connection was checked out for the actor.
    Ok,
    /// The actor already owns a connection.
    AlreadyOwner,
    /// The actor is already allowed to use another owner's connection.
    AlreadyAllowed,
}

/// What [`Sandbox::checkin`] did.
///
/// ```no_run
/// # use sandbox_sqlx::{Checkin, Sandbox, SandboxError};
/// # use sqlx::Postgres;
/// use ownership_runtime::{Actor, callers};
///
/// # async fn example(sandbox: Sandbox<Postgres>) -> Result<(), SandboxError> {
/// sandbox.checkout().await?;
/// let worker = Actor::named("mailer");
/// sandbox.allow(callers()[0], worker.id())?;
/// // Only the owner checks in: the allowed worker can't.
/// assert_eq!(worker.scope(sandbox.checkin()).await?, Checkin::NotOwner);
/// assert_eq!(sandbox.checkin().await?, Checkin::Ok);
/// assert_eq!(sandbox.checkin().await?, Checkin::NotFound); // nothing left to check in
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkin {
    /// The connection was rolled back and returned to the pool.
    Ok,
    /// The actor only uses a connection it was allowed to: only the owner checks in.
    NotOwner,
    /// The actor has no connection.
    NotFound,
}
