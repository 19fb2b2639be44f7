//! [`facade!`](crate::facade): a facade of a trait in one line: the `static`, its name
//! (the module path and the static's name), its default implementation, and the
//! [`Installable`](crate::Installable) impl that lets a test install a mock as it is.

/// Declares a facade of a trait object in one line: the `static` [`Facade`](crate::Facade),
/// named after the module and the static (`"shop::GATEWAY"`), with a default implementation
/// when `= expression` follows (built at the first call no test owns, once per process),
/// and [`installable!(dyn Trait)`](crate::installable) so that `install(mock)` takes a
/// mockall mock or a fake as it is.
///
/// ```text
/// facade!(pub static GATEWAY: dyn PaymentGateway = Stripe);  // with a default
/// facade!(pub(crate) static MAILER: dyn Mailer);             // without: calls need a mock
/// facade!(static LEDGER: dyn Ledger + Send + Sync = Books::open());
/// ```
///
/// It is the same as writing:
///
/// ```text
/// installable!(dyn PaymentGateway);
/// pub static GATEWAY: Facade<dyn PaymentGateway> =
///     Facade::with_default(concat!(module_path!(), "::GATEWAY"), || Box::new(Stripe));
/// ```
///
/// Limits: a trait is made installable once, so a second facade of the same trait is
/// declared with [`Facade::new`](crate::Facade::new) /
/// [`Facade::with_default`](crate::Facade::with_default); a trait object with associated
/// type bindings (`dyn Tr<Item = u8>`) is written out like that too. The default's
/// expression may not capture anything (it is a `fn`).
///
/// ```
/// use mockall::automock;
/// use mockall_bridge::facade;
/// use ownership_runtime::harness::{TestConfig, run_async};
///
/// #[automock]
/// pub trait PaymentGateway: Send + Sync {
///     fn charge(&self, cents: u64) -> Result<String, String>;
/// }
///
/// pub struct Stripe;
/// impl PaymentGateway for Stripe {
///     fn charge(&self, cents: u64) -> Result<String, String> {
///         Ok(format!("ch_live_{cents}"))
///     }
/// }
///
/// facade!(
///     /// The payment gateway the app charges through.
///     pub static GATEWAY: dyn PaymentGateway = Stripe
/// );
///
/// assert!(GATEWAY.name().ends_with("::GATEWAY"));
/// assert_eq!(GATEWAY.get().charge(5).unwrap(), "ch_live_5"); // the default
///
/// run_async(TestConfig::new("docs::facade"), || async {
///     let mut gateway = MockPaymentGateway::new();
///     gateway.expect_charge().times(1).returning(|_| Ok("ch_test".to_owned()));
///     GATEWAY.install(gateway).unwrap(); // the mock as it is
///     assert_eq!(GATEWAY.get().charge(5).unwrap(), "ch_test");
/// });
/// ```
#[macro_export]
macro_rules! facade {
    ($(#[$attribute:meta])* $visibility:vis static $name:ident : dyn $($rest:tt)+) => {
        $crate::facade!(@bounds [$(#[$attribute])*] [$visibility] $name [] $($rest)+);
    };
    // The trait object's bounds run up to `=` (then the default) or to the end.
    (@bounds [$($attribute:tt)*] [$visibility:vis] $name:ident [$($bounds:tt)+]
        = $default:expr $(;)?) => {
        $crate::installable!(dyn $($bounds)+);
        $($attribute)*
        $visibility static $name: $crate::Facade<dyn $($bounds)+> = $crate::Facade::with_default(
            ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
            || ::std::boxed::Box::new($default),
        );
    };
    (@bounds [$($attribute:tt)*] [$visibility:vis] $name:ident [$($bounds:tt)+] $(;)?) => {
        $crate::installable!(dyn $($bounds)+);
        $($attribute)*
        $visibility static $name: $crate::Facade<dyn $($bounds)+> = $crate::Facade::new(
            ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
        );
    };
    (@bounds [$($attribute:tt)*] [$visibility:vis] $name:ident [$($bounds:tt)*]
        $next:tt $($rest:tt)*) => {
        $crate::facade!(@bounds [$($attribute)*] [$visibility] $name [$($bounds)* $next]
            $($rest)*);
    };
}
