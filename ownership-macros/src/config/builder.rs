//! The builder the options are read into: one typed field per option, holding its value
//! and where it was written, and one setter per option, which refuses a second use of it.
//! What options require of each other is checked once all are read, in `rules.rs`.

use proc_macro2::Span;
use quote::ToTokens;
use syn::Meta;
use syn::spanned::Spanned;

use super::database::{self, Fixture, Migrations};
use super::{Flavor, LeftoverTasks, Sandboxes, values};

/// One option as written in the attribute.
pub(crate) struct Given<T> {
    /// Its value, or `None` when the value was malformed (and already reported).
    pub(crate) value: Option<T>,
    /// Its name in the attribute: where errors about it point.
    pub(crate) span: Span,
}

/// The options read so far, each `None` until it is given.
#[derive(Default)]
pub(crate) struct Builder {
    pub(super) shared: Option<Given<bool>>,
    pub(super) flavor: Option<Given<Flavor>>,
    pub(super) worker_threads: Option<Given<usize>>,
    pub(super) start_paused: Option<Given<bool>>,
    /// In milliseconds.
    pub(super) timeout: Option<Given<u64>>,
    pub(super) leftover_tasks: Option<Given<LeftoverTasks>>,
    /// In milliseconds; 0 means no wait.
    pub(super) leftover_grace: Option<Given<u64>>,
    pub(super) sandbox: Option<Given<Sandboxes>>,
    pub(super) migrations: Option<Given<Migrations>>,
    pub(super) migrator: Option<Given<syn::Path>>,
    /// Each `fixtures(..)`, in order (the option may be given more than once).
    pub(super) fixtures: Vec<Given<Vec<Fixture>>>,
    pub(super) crate_path: Option<Given<syn::Path>>,
}

/// Stores `option` in `slot` with the value `read` finds in it, unless the option was
/// already given: then the error points at this second use. A malformed value still
/// counts as given, so that a later duplicate is reported in the same run.
fn record<T>(
    slot: &mut Option<Given<T>>,
    option: &Meta,
    read: impl FnOnce(&Meta) -> syn::Result<T>,
) -> syn::Result<()> {
    let name = option.path();
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format_args!(
                "`{}` was already given; give each option once",
                name.to_token_stream()
            ),
        ));
    }
    let (value, error) = match read(option) {
        Ok(value) => (Some(value), None),
        Err(error) => (None, Some(error)),
    };
    *slot = Some(Given {
        value,
        span: name.span(),
    });
    error.map_or(Ok(()), Err)
}

impl Builder {
    /// `shared` or `shared = true/false`.
    pub(super) fn set_shared(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.shared, option, |option| {
            values::flag(option, "shared")
        })
    }

    /// `flavor = "current_thread" | "multi_thread"`.
    pub(super) fn set_flavor(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.flavor, option, values::flavor)
    }

    /// `worker_threads = N`.
    pub(super) fn set_worker_threads(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.worker_threads, option, values::worker_threads)
    }

    /// `start_paused = true/false`.
    pub(super) fn set_start_paused(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.start_paused, option, |option| {
            values::bool_value(option, "start_paused")
        })
    }

    /// `timeout = "30s"`.
    pub(super) fn set_timeout(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.timeout, option, |option| {
            values::duration(option, "timeout", 1)
        })
    }

    /// `leftover_tasks = "fail" | "cancel"`.
    pub(super) fn set_leftover_tasks(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.leftover_tasks, option, values::leftover_tasks)
    }

    /// `leftover_grace = "5s"` (`"0ms"`: no wait).
    pub(super) fn set_leftover_grace(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.leftover_grace, option, |option| {
            values::duration(option, "leftover_grace", 0)
        })
    }

    /// `sandbox` (the test's database, from `DATABASE_URL`), `sandbox = DB` or
    /// `sandbox = [DB, OTHER]`.
    pub(super) fn set_sandbox(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.sandbox, option, values::sandbox)
    }

    /// `migrations = "path"` or `migrations = false`.
    pub(super) fn set_migrations(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.migrations, option, database::migrations)
    }

    /// `migrator = "path::TO::MIGRATOR"`.
    pub(super) fn set_migrator(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.migrator, option, database::migrator)
    }

    /// `fixtures(..)`, as often as wanted: each adds its scripts, in order.
    pub(super) fn set_fixtures(&mut self, option: &Meta) -> syn::Result<()> {
        let mut slot = None;
        let read = record(&mut slot, option, database::fixtures);
        self.fixtures.extend(slot);
        read
    }

    /// `crate = "path::to::ownership_runtime"`.
    pub(super) fn set_crate(&mut self, option: &Meta) -> syn::Result<()> {
        record(&mut self.crate_path, option, values::crate_path)
    }
}
