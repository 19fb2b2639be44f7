//! The values options take, each read from one `name = value` (or bare `name`) and
//! checked on its own. An error points at the offending token and says what the option
//! takes; rules between options are in `rules.rs`.

use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta};

use super::{Flavor, LeftoverTasks, Sandboxes};

/// The literal of `name = literal`, or an error naming what `name` takes.
fn literal<'a>(option: &'a Meta, name: &str, takes: &str) -> syn::Result<&'a Lit> {
    match option {
        Meta::NameValue(pair) => match &pair.value {
            Expr::Lit(ExprLit { lit, .. }) => Ok(lit),
            other => Err(syn::Error::new(
                other.span(),
                format_args!("`{name}` takes {takes}"),
            )),
        },
        _ => Err(syn::Error::new(
            option.span(),
            format_args!("`{name}` takes a value: {takes}"),
        )),
    }
}

/// The error for a literal of the wrong kind.
fn takes(lit: &Lit, name: &str, takes: &str) -> syn::Error {
    syn::Error::new(lit.span(), format_args!("`{name}` takes {takes}"))
}

/// A flag: bare `name` (true) or `name = true/false`.
pub(crate) fn flag(option: &Meta, name: &str) -> syn::Result<bool> {
    let takes_what = format!("no value or a bool: `{name}` or `{name} = true`");
    match option {
        Meta::Path(_) => Ok(true),
        Meta::NameValue(_) => match literal(option, name, &takes_what)? {
            Lit::Bool(value) => Ok(value.value),
            other => Err(takes(other, name, &takes_what)),
        },
        Meta::List(list) => Err(syn::Error::new(
            list.delimiter.span().open(),
            format_args!("`{name}` takes {takes_what}"),
        )),
    }
}

/// `name = true` or `name = false`.
pub(crate) fn bool_value(option: &Meta, name: &str) -> syn::Result<bool> {
    let takes_what = format!("`true` or `false`, as in `{name} = true`");
    match literal(option, name, &takes_what)? {
        Lit::Bool(value) => Ok(value.value),
        other => Err(takes(other, name, &takes_what)),
    }
}

/// One of the strings in `choices`, each with what it stands for; an unknown one is
/// reported as an unknown `what` ("flavor", "value").
fn choice<T: Copy>(
    option: &Meta,
    name: &str,
    what: &str,
    choices: &[(&str, T)],
    takes_what: &str,
) -> syn::Result<T> {
    match literal(option, name, takes_what)? {
        Lit::Str(text) => {
            let given = text.value();
            choices
                .iter()
                .find(|(known, _)| *known == given)
                .map(|(_, value)| *value)
                .ok_or_else(|| {
                    syn::Error::new(
                        text.span(),
                        format_args!("unknown {what} `{given}`; `{name}` takes {takes_what}"),
                    )
                })
        }
        other => Err(takes(other, name, takes_what)),
    }
}

/// `flavor = "current_thread"` or `"multi_thread"`.
pub(crate) fn flavor(option: &Meta) -> syn::Result<Flavor> {
    const CHOICES: &[(&str, Flavor)] = &[
        ("current_thread", Flavor::CurrentThread),
        ("multi_thread", Flavor::MultiThread),
    ];
    choice(
        option,
        "flavor",
        "flavor",
        CHOICES,
        "\"current_thread\" or \"multi_thread\"",
    )
}

/// `worker_threads = N`, at least 1.
pub(crate) fn worker_threads(option: &Meta) -> syn::Result<usize> {
    const TAKES: &str = "a number of threads, at least 1, as in `worker_threads = 2`";
    match literal(option, "worker_threads", TAKES)? {
        Lit::Int(number) => match number.base10_parse::<usize>() {
            Ok(0) => Err(syn::Error::new(
                number.span(),
                "`worker_threads` must be at least 1",
            )),
            Ok(threads) => Ok(threads),
            Err(error) => Err(syn::Error::new(
                number.span(),
                format_args!("`worker_threads` takes {TAKES}: {error}"),
            )),
        },
        other => Err(takes(other, "worker_threads", TAKES)),
    }
}

/// The milliseconds of `name = "30s"`: at least `at_least` of them, written with a whole
/// number and a unit.
pub(crate) fn duration(option: &Meta, name: &str, at_least: u64) -> syn::Result<u64> {
    let (example, zero) = if at_least == 0 {
        ("5s", " (`\"0ms\"`: no wait)")
    } else {
        ("30s", "")
    };
    let takes_what = format!(
        "a duration: a whole number and a unit (ms, s, m or h), as in `{name} = \"{example}\"`{zero}"
    );
    match literal(option, name, &takes_what)? {
        Lit::Str(text) => parse_duration(&text.value())
            .filter(|&millis| millis >= at_least)
            .ok_or_else(|| {
                syn::Error::new(
                    text.span(),
                    format_args!(
                        "invalid {name} {:?}; `{name}` takes {takes_what}",
                        text.value()
                    ),
                )
            }),
        other => Err(takes(other, name, &takes_what)),
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

/// `leftover_tasks = "fail"` or `"cancel"`.
pub(crate) fn leftover_tasks(option: &Meta) -> syn::Result<LeftoverTasks> {
    const CHOICES: &[(&str, LeftoverTasks)] = &[
        ("fail", LeftoverTasks::Fail),
        ("cancel", LeftoverTasks::Cancel),
    ];
    choice(
        option,
        "leftover_tasks",
        "value",
        CHOICES,
        "\"fail\" (the default: the test fails for tasks still running after its \
         `leftover_grace`) or \"cancel\" (they are cancelled, as in `#[tokio::test]`, with a \
         note)",
    )
}

/// Bare `sandbox` (the test's database, from `DATABASE_URL`), or the paths of
/// `sandbox = DB` / `sandbox = [A, B]`; one error for each item that is not a path.
pub(crate) fn sandbox(option: &Meta) -> syn::Result<Sandboxes> {
    const TAKES: &str = "no value (the test's database, from `DATABASE_URL`), a path to a \
         sandbox (a `static`), or a list of them: `sandbox`, `sandbox = crate::DB` or \
         `sandbox = [DB, OTHER_DB]`";
    let pair = match option {
        Meta::Path(_) => return Ok(Sandboxes::FromEnv),
        Meta::NameValue(pair) => pair,
        Meta::List(list) => {
            return Err(syn::Error::new(
                list.delimiter.span().open(),
                format_args!("`sandbox` takes {TAKES}"),
            ));
        }
    };
    let items: Vec<&Expr> = match &pair.value {
        Expr::Array(array) => array.elems.iter().collect(),
        single => vec![single],
    };
    let mut errors = super::errors::Errors::default();
    let mut paths = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::Path(path) if path.qself.is_none() => paths.push(path.path.clone()),
            other => errors.push(syn::Error::new(
                other.span(),
                format_args!("`sandbox` takes {TAKES}"),
            )),
        }
    }
    errors.finish(Sandboxes::Statics(paths))
}

/// `crate = "path"`: the path through which the expansion names ownership-runtime. The
/// path keeps the string's span, so that an error about it points at the string.
pub(crate) fn crate_path(option: &Meta) -> syn::Result<syn::Path> {
    const TAKES: &str = "the path of ownership-runtime as a string, as in \
         `crate = \"ownership_runtime\"` (for a renamed dependency, or a crate that re-exports it)";
    match literal(option, "crate", TAKES)? {
        Lit::Str(text) => text.parse_with(syn::Path::parse_mod_style).map_err(|_| {
            syn::Error::new(
                text.span(),
                format_args!("invalid path {:?}; `crate` takes {TAKES}", text.value()),
            )
        }),
        other => Err(takes(other, "crate", TAKES)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("0ms"), Some(0));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("30s"), Some(30_000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("30 s"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }
}
