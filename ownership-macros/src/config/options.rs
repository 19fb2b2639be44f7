//! The options `#[owned_test(..)]` accepts, each name with the builder's setter for it.
//!
//! Adding an option takes a field and a setter in `builder.rs`, its line here, its value
//! in `values.rs` (if it takes a new kind), and its rules, if any, in `rules.rs`.

use syn::Meta;
use syn::spanned::Spanned;

use super::builder::Builder;

/// Reads one option into the builder.
type Setter = fn(&mut Builder, &Meta) -> syn::Result<()>;

/// Every option, in the order the "accepts" message lists them.
const OPTIONS: &[(&str, Setter)] = &[
    ("shared", Builder::set_shared),
    ("flavor", Builder::set_flavor),
    ("worker_threads", Builder::set_worker_threads),
    ("start_paused", Builder::set_start_paused),
    ("timeout", Builder::set_timeout),
    ("leftover_tasks", Builder::set_leftover_tasks),
    ("leftover_grace", Builder::set_leftover_grace),
    ("sandbox", Builder::set_sandbox),
    ("migrations", Builder::set_migrations),
    ("migrator", Builder::set_migrator),
    ("fixtures", Builder::set_fixtures),
    ("crate", Builder::set_crate),
];

/// "`#[owned_test]` accepts `shared`, .. and `crate`".
fn accepted() -> String {
    let names: Vec<String> = OPTIONS
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    match names.split_last() {
        Some((last, [])) => format!("`#[owned_test]` accepts {last}"),
        Some((last, rest)) => format!("`#[owned_test]` accepts {} and {last}", rest.join(", ")),
        None => "`#[owned_test]` takes no options".to_owned(),
    }
}

impl Builder {
    /// Reads `option` with the setter of its name, or reports an unknown option at its
    /// name.
    pub(crate) fn set(&mut self, option: &Meta) -> syn::Result<()> {
        let path = option.path();
        let Some(name) = path.get_ident().map(ToString::to_string) else {
            return Err(syn::Error::new(
                path.span(),
                format_args!("unknown option; {}", accepted()),
            ));
        };
        match OPTIONS.iter().find(|(known, _)| *known == name) {
            Some((_, setter)) => setter(self, option),
            None => Err(syn::Error::new(
                path.span(),
                format_args!("unknown option `{name}`; {}", accepted()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OPTIONS, accepted};

    #[test]
    fn the_accepts_message_lists_every_option() {
        let message = accepted();
        for (name, _) in OPTIONS {
            assert!(message.contains(&format!("`{name}`")), "{message}");
        }
        assert!(message.ends_with("and `crate`"), "{message}");
    }

    #[test]
    fn no_option_is_listed_twice() {
        for (index, (name, _)) in OPTIONS.iter().enumerate() {
            assert!(
                OPTIONS[index + 1..].iter().all(|(other, _)| other != name),
                "`{name}` is listed twice"
            );
        }
    }
}
