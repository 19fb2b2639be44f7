//! The options of `#[owned_test(..)]`, read into a typed [`Config`]. Every error points at
//! the offending token and says what is accepted; all of them are reported at once.
//!
//! - `options.rs`: the accepted names, each with its setter;
//! - `builder.rs`: one typed field and one setter per option (which refuses a duplicate);
//! - `values.rs`: reading and checking each kind of value;
//! - `rules.rs`: what options require of each other, and the final [`Config`].

mod builder;
mod database;
mod errors;
mod options;
mod rules;
mod values;

use syn::punctuated::Punctuated;
use syn::{Meta, Token};

use self::builder::Builder;
pub(crate) use self::database::{Fixture, Migrations};
use self::errors::Errors;

/// The runtime flavor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

/// What to do about tasks the test leaves running.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftoverTasks {
    Fail,
    Cancel,
}

/// What `sandbox` names.
pub(crate) enum Sandboxes {
    /// Bare `sandbox`: the test's database, from `DATABASE_URL`.
    FromEnv,
    /// `sandbox = DB` or `sandbox = [A, B]`.
    Statics(Vec<syn::Path>),
}

/// The options about the database of a test that takes it as an argument, each with
/// where it was written (for the errors of a test that takes no argument).
#[derive(Default)]
pub(crate) struct DatabaseOptions {
    /// Where `sandbox` was written, if it was.
    pub(crate) sandbox: Option<proc_macro2::Span>,
    /// `migrations = ..`, if given.
    pub(crate) migrations: Option<(Migrations, proc_macro2::Span)>,
    /// `migrator = ".."`, if given.
    pub(crate) migrator: Option<(syn::Path, proc_macro2::Span)>,
    /// Every fixture, in order.
    pub(crate) fixtures: Vec<Fixture>,
    /// Where the first `fixtures(..)` was written.
    pub(crate) fixtures_span: Option<proc_macro2::Span>,
}

/// The options, checked. Each is `None` when not given (the harness's default applies).
pub(crate) struct Config {
    /// The path through which the expansion names ownership-runtime (`crate = ".."`,
    /// `::ownership_runtime` by default).
    pub(crate) crate_path: syn::Path,
    pub(crate) shared: Option<bool>,
    pub(crate) flavor: Option<Flavor>,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) start_paused: Option<bool>,
    /// In milliseconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) leftover_tasks: Option<LeftoverTasks>,
    /// In milliseconds; 0 means no wait.
    pub(crate) leftover_grace: Option<u64>,
    /// The resources to prepare before the body (`sandbox = DB` or `sandbox = [A, B]`).
    pub(crate) resources: Vec<syn::Path>,
    /// The database options, for a test that takes its database as an argument.
    pub(crate) database: DatabaseOptions,
}

impl Config {
    /// Reads and checks the attribute's arguments.
    pub(crate) fn parse(args: &Punctuated<Meta, Token![,]>) -> syn::Result<Config> {
        let mut builder = Builder::default();
        let mut errors = Errors::default();
        for option in args {
            errors.check(builder.set(option));
        }
        builder.build(errors)
    }
}
