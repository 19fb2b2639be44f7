//! The options of `#[owned_test(..)]`, parsed into a typed configuration. Every error
//! points at the offending token and says what is accepted.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Token};

const ACCEPTED: &str = "`#[owned_test]` accepts `shared`, `flavor`, `worker_threads`, \
     `start_paused`, `timeout`, `leftover_tasks`, `leftover_grace` and `sandbox`";

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

/// The options, checked. Each is `None` when not given.
#[derive(Default)]
pub(crate) struct Config {
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

/// Collects errors so that all of them are reported at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let error = syn::Error::new(span, message);
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }
}

/// The literal of `name = literal`, or an error naming what `name` takes.
fn literal<'a>(meta: &'a Meta, name: &str, takes: &str, errors: &mut Errors) -> Option<&'a Lit> {
    match meta {
        Meta::NameValue(pair) => match &pair.value {
            Expr::Lit(ExprLit { lit, .. }) => Some(lit),
            other => {
                errors.push(other.span(), format_args!("`{name}` takes {takes}"));
                None
            }
        },
        _ => {
            errors.push(meta.span(), format_args!("`{name}` takes a value: {takes}"));
            None
        }
    }
}

fn bool_value(meta: &Meta, name: &str, errors: &mut Errors) -> Option<bool> {
    let takes = format!("`true` or `false`, as in `{name} = true`");
    match literal(meta, name, &takes, errors)? {
        Lit::Bool(value) => Some(value.value),
        other => {
            errors.push(other.span(), format_args!("`{name}` takes {takes}"));
            None
        }
    }
}

/// The paths of `sandbox = DB` or `sandbox = [A, B]`.
fn resources(meta: &Meta, errors: &mut Errors) -> Vec<syn::Path> {
    const TAKES: &str = "a path to a sandbox (a `static`), or a list of them: `sandbox = crate::DB` or \
         `sandbox = [DB, OTHER_DB]`";
    let Meta::NameValue(pair) = meta else {
        errors.push(meta.span(), format_args!("`sandbox` takes {TAKES}"));
        return Vec::new();
    };
    let items: Vec<&Expr> = match &pair.value {
        Expr::Array(array) => array.elems.iter().collect(),
        single => vec![single],
    };
    let mut paths = Vec::new();
    for item in items {
        match item {
            Expr::Path(path) if path.qself.is_none() => paths.push(path.path.clone()),
            other => errors.push(other.span(), format_args!("`sandbox` takes {TAKES}")),
        }
    }
    paths
}

/// The milliseconds of `name = "30s"`, or an error naming what `name` takes (`at_least`
/// milliseconds, written with a whole number and a unit).
fn duration_value(meta: &Meta, name: &str, at_least: u64, errors: &mut Errors) -> Option<u64> {
    let (example, zero) = if at_least == 0 {
        ("5s", " (`\"0ms\"`: no wait)")
    } else {
        ("30s", "")
    };
    let takes = format!(
        "a duration: a whole number and a unit (ms, s, m or h), as in `{name} = \"{example}\"`{zero}"
    );
    match literal(meta, name, &takes, errors)? {
        Lit::Str(text) => {
            match parse_duration(&text.value()).filter(|&millis| millis >= at_least) {
                Some(millis) => Some(millis),
                None => {
                    errors.push(
                        text.span(),
                        format_args!("invalid {name} {:?}; `{name}` takes {takes}", text.value()),
                    );
                    None
                }
            }
        }
        other => {
            errors.push(other.span(), format_args!("`{name}` takes {takes}"));
            None
        }
    }
}

/// `leftover_tasks = "fail"` or `"cancel"`.
fn leftover_tasks(meta: &Meta, errors: &mut Errors) -> Option<LeftoverTasks> {
    const TAKES: &str = "\"fail\" (the default: the test fails for tasks still running after \
         its `leftover_grace`) or \"cancel\" (they are cancelled, as in `#[tokio::test]`, with a \
         note)";
    match literal(meta, "leftover_tasks", TAKES, errors)? {
        Lit::Str(text) => match text.value().as_str() {
            "fail" => Some(LeftoverTasks::Fail),
            "cancel" => Some(LeftoverTasks::Cancel),
            other => {
                errors.push(
                    text.span(),
                    format_args!("unknown value `{other}`; `leftover_tasks` takes {TAKES}"),
                );
                None
            }
        },
        other => {
            errors.push(other.span(), format_args!("`leftover_tasks` takes {TAKES}"));
            None
        }
    }
}

/// Parses a duration like `0ms`, `500ms`, `30s`, `2m` or `1h` into milliseconds.
fn parse_duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

impl Config {
    /// Parses and checks the attribute's arguments.
    pub(crate) fn parse(args: Punctuated<Meta, Token![,]>) -> syn::Result<Config> {
        let mut config = Config::default();
        let mut errors = Errors::default();
        let mut spans: [Option<Span>; 8] = [None; 8];
        for meta in &args {
            let Some(name) = meta.path().get_ident().map(ToString::to_string) else {
                errors.push(
                    meta.path().span(),
                    format_args!("unknown option; {ACCEPTED}"),
                );
                continue;
            };
            let index = match name.as_str() {
                "shared" => 0,
                "flavor" => 1,
                "worker_threads" => 2,
                "start_paused" => 3,
                "timeout" => 4,
                "sandbox" => 5,
                "leftover_tasks" => 6,
                "leftover_grace" => 7,
                _ => {
                    errors.push(
                        meta.path().span(),
                        format_args!("unknown option `{name}`; {ACCEPTED}"),
                    );
                    continue;
                }
            };
            if spans[index].is_some() {
                errors.push(meta.path().span(), format_args!("`{name}` is given twice"));
                continue;
            }
            spans[index] = Some(meta.span());
            match index {
                0 => {
                    config.shared = match meta {
                        Meta::Path(_) => Some(true),
                        _ => match literal(
                            meta,
                            "shared",
                            "no value or a bool: `shared` or `shared = true`",
                            &mut errors,
                        ) {
                            Some(Lit::Bool(value)) => Some(value.value),
                            Some(other) => {
                                errors.push(
                                    other.span(),
                                    "`shared` takes no value or a bool: `shared` or `shared = true`",
                                );
                                None
                            }
                            None => None,
                        },
                    }
                }
                1 => {
                    const TAKES: &str = "\"current_thread\" or \"multi_thread\"";
                    config.flavor = match literal(meta, "flavor", TAKES, &mut errors) {
                        Some(Lit::Str(text)) => match text.value().as_str() {
                            "current_thread" => Some(Flavor::CurrentThread),
                            "multi_thread" => Some(Flavor::MultiThread),
                            other => {
                                errors.push(
                                    text.span(),
                                    format_args!(
                                        "unknown flavor `{other}`; `flavor` takes {TAKES}"
                                    ),
                                );
                                None
                            }
                        },
                        Some(other) => {
                            errors.push(other.span(), format_args!("`flavor` takes {TAKES}"));
                            None
                        }
                        None => None,
                    }
                }
                2 => {
                    const TAKES: &str =
                        "a number of threads, at least 1, as in `worker_threads = 2`";
                    config.worker_threads =
                        match literal(meta, "worker_threads", TAKES, &mut errors) {
                            Some(Lit::Int(number)) => match number.base10_parse::<usize>() {
                                Ok(0) => {
                                    errors
                                        .push(number.span(), "`worker_threads` must be at least 1");
                                    None
                                }
                                Ok(threads) => Some(threads),
                                Err(error) => {
                                    errors.push(
                                        number.span(),
                                        format_args!("`worker_threads` takes {TAKES}: {error}"),
                                    );
                                    None
                                }
                            },
                            Some(other) => {
                                errors.push(
                                    other.span(),
                                    format_args!("`worker_threads` takes {TAKES}"),
                                );
                                None
                            }
                            None => None,
                        }
                }
                3 => config.start_paused = bool_value(meta, "start_paused", &mut errors),
                4 => config.timeout = duration_value(meta, "timeout", 1, &mut errors),
                5 => config.resources = resources(meta, &mut errors),
                6 => config.leftover_tasks = leftover_tasks(meta, &mut errors),
                _ => {
                    config.leftover_grace = duration_value(meta, "leftover_grace", 0, &mut errors);
                }
            }
        }
        let multi_thread = config.flavor == Some(Flavor::MultiThread);
        if let Some(span) = spans[2]
            && !multi_thread
            && config.flavor.is_some()
        {
            errors.push(span, "`worker_threads` needs `flavor = \"multi_thread\"`");
        } else if let Some(span) = spans[2]
            && config.flavor.is_none()
        {
            errors.push(
                span,
                "`worker_threads` needs `flavor = \"multi_thread\"` (the default flavor is current_thread)",
            );
        }
        if let Some(span) = spans[3]
            && multi_thread
        {
            errors.push(
                span,
                "`start_paused` needs the current_thread flavor: tokio can only pause the clock of a \
                 current-thread runtime",
            );
        }
        if let (Some(span), Some(grace), Some(timeout)) =
            (spans[7], config.leftover_grace, config.timeout)
            && grace >= timeout
        {
            errors.push(
                span,
                format_args!(
                    "`leftover_grace` ({grace} ms) must be shorter than `timeout` ({timeout} ms): \
                     the grace is part of the test's time and never runs past its timeout"
                ),
            );
        }
        match errors.0 {
            Some(error) => Err(error),
            None => Ok(config),
        }
    }
}
