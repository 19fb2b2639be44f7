//! The options of `#[owned_test(..)]`, read into a typed [`Config`]. Every error points at
//! the offending token and says what is accepted; all of them are reported at once.
//!
//! - `options.rs`: the accepted names, each with its setter;
//! - `builder.rs`: one typed field and one setter per option (which refuses a duplicate);
//! - `values.rs`: reading and checking each kind of value;
//! - `rules.rs`: what options require of each other, and the final [`Config`].

mod builder;
mod errors;
mod options;
mod rules;
mod values;

use syn::punctuated::Punctuated;
use syn::{Meta, Token};

use self::builder::Builder;
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
