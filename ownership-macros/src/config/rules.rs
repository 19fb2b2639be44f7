//! What options require of each other, checked once every option is read: the one
//! place where the builder becomes a [`Config`].

use super::builder::{Builder, Given};
use super::errors::Errors;
use super::{Config, DatabaseOptions, Flavor, Sandboxes};

/// The value of an option that was given with a well-formed value.
fn value<T>(given: Option<Given<T>>) -> Option<T> {
    given.and_then(|given| given.value)
}

impl Builder {
    /// Applies the rules between options and returns the configuration, or every error:
    /// those in `errors` (from reading the options) and those of the rules. A rule only
    /// looks at well-formed values, so a malformed one is reported once.
    pub(crate) fn build(self, mut errors: Errors) -> syn::Result<Config> {
        let flavor = self.flavor.as_ref().map(|given| given.value);
        if let Some(threads) = &self.worker_threads {
            match flavor {
                None => errors.push(syn::Error::new(
                    threads.span,
                    "`worker_threads` needs `flavor = \"multi_thread\"` (the default flavor is \
                     current_thread)",
                )),
                Some(Some(Flavor::CurrentThread)) => errors.push(syn::Error::new(
                    threads.span,
                    "`worker_threads` needs `flavor = \"multi_thread\"`",
                )),
                Some(Some(Flavor::MultiThread) | None) => {}
            }
        }
        if let Some(paused) = &self.start_paused
            && flavor == Some(Some(Flavor::MultiThread))
        {
            errors.push(syn::Error::new(
                paused.span,
                "`start_paused` needs the current_thread flavor: tokio can only pause the clock \
                 of a current-thread runtime",
            ));
        }
        let timeout = self.timeout.as_ref().and_then(|given| given.value);
        if let Some(Given {
            value: Some(grace),
            span,
        }) = &self.leftover_grace
            && let Some(timeout) = timeout
            && *grace >= timeout
        {
            errors.push(syn::Error::new(
                *span,
                format_args!(
                    "`leftover_grace` ({grace} ms) must be shorter than `timeout` ({timeout} ms): \
                     the grace is part of the test's time and never runs past its timeout"
                ),
            ));
        }
        if let (Some(_), Some(migrator)) = (&self.migrations, &self.migrator) {
            errors.push(syn::Error::new(
                migrator.span,
                "give `migrations` or `migrator`, not both: `migrator` names migrations of \
                 its own",
            ));
        }
        let sandbox_span = self.sandbox.as_ref().map(|given| given.span);
        let resources = match value(self.sandbox) {
            Some(Sandboxes::Statics(paths)) => paths,
            Some(Sandboxes::FromEnv) | None => Vec::new(),
        };
        let fixtures_span = self.fixtures.first().map(|given| given.span);
        let database = DatabaseOptions {
            sandbox: sandbox_span,
            migrations: self
                .migrations
                .and_then(|given| Some((given.value?, given.span))),
            migrator: self
                .migrator
                .and_then(|given| Some((given.value?, given.span))),
            fixtures: self
                .fixtures
                .into_iter()
                .filter_map(|given| given.value)
                .flatten()
                .collect(),
            fixtures_span,
        };
        errors.finish(Config {
            crate_path: value(self.crate_path)
                .unwrap_or_else(|| syn::parse_quote!(::ownership_runtime)),
            shared: value(self.shared),
            flavor: value(self.flavor),
            worker_threads: value(self.worker_threads),
            start_paused: value(self.start_paused),
            timeout,
            leftover_tasks: value(self.leftover_tasks),
            leftover_grace: value(self.leftover_grace),
            resources,
            database,
        })
    }
}
