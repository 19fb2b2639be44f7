//! The values of the options about a test's database, read as `#[sqlx::test]` reads
//! them: `migrations = "path" | false`, `migrator = "path::TO::MIGRATOR"`, and
//! `fixtures("a", "b")`, `fixtures("./dir/a.sql")`, `fixtures(path = "dir", scripts("a"))`.

use std::path::Path;

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

/// Where the migrations come from, as the attribute says.
pub(crate) enum Migrations {
    /// `migrations = "path"`: the folder, relative to the crate's manifest (or absolute).
    Folder(LitStr),
    /// `migrations = false`.
    Off,
}

/// One fixture: its path as `include_str!` takes it (relative to the test's file), and
/// where the attribute names it.
pub(crate) struct Fixture {
    pub(crate) path: String,
    pub(crate) span: Span,
}

/// `migrations = "path"` (the folder must exist) or `migrations = false`.
pub(crate) fn migrations(option: &Meta) -> syn::Result<Migrations> {
    const TAKES: &str = "a folder of migrations relative to the crate's `Cargo.toml`, or \
                         `false`: `migrations = \"migrations\"`, `migrations = false`";
    let Meta::NameValue(pair) = option else {
        return Err(syn::Error::new(
            option.span(),
            format_args!("`migrations` takes {TAKES}"),
        ));
    };
    match &pair.value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(off),
            ..
        }) if !off.value => Ok(Migrations::Off),
        Expr::Lit(ExprLit {
            lit: Lit::Bool(on), ..
        }) => Err(syn::Error::new(
            on.span(),
            "`migrations = true` says nothing: the crate's `migrations/` folder is the \
             default; name another folder as `migrations = \"path\"`",
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Str(folder),
            ..
        }) => {
            if let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") {
                let resolved = Path::new(&manifest).join(folder.value());
                if !resolved.is_dir() {
                    return Err(syn::Error::new(
                        folder.span(),
                        format_args!(
                            "there is no migrations folder {} (`migrations` is relative to \
                             the crate's `Cargo.toml`)",
                            resolved.display()
                        ),
                    ));
                }
            }
            Ok(Migrations::Folder(folder.clone()))
        }
        other => Err(syn::Error::new(
            other.span(),
            format_args!("`migrations` takes {TAKES}"),
        )),
    }
}

/// `migrator = "path::TO::MIGRATOR"`: the path of a `static` migrator, spanned at the
/// string.
pub(crate) fn migrator(option: &Meta) -> syn::Result<syn::Path> {
    const TAKES: &str = "the path of a `static` `sqlx::migrate::Migrator` as a string: \
                         `migrator = \"crate::MIGRATOR\"`";
    match option {
        Meta::NameValue(pair) => match &pair.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(path),
                ..
            }) => path.parse::<syn::Path>().map_err(|_| {
                syn::Error::new(
                    path.span(),
                    format_args!("invalid path {:?}; `migrator` takes {TAKES}", path.value()),
                )
            }),
            other => Err(syn::Error::new(
                other.span(),
                format_args!("`migrator` takes {TAKES}"),
            )),
        },
        _ => Err(syn::Error::new(
            option.span(),
            format_args!("`migrator` takes {TAKES}"),
        )),
    }
}

/// How one `fixtures(..)` names its scripts.
#[derive(PartialEq, Eq)]
enum Form {
    /// `fixtures("users")`: `fixtures/users.sql`.
    Named,
    /// `fixtures("./seed/users.sql")`: the path as written.
    Paths,
}

/// The fixtures of one `fixtures(..)`, resolved as `#[sqlx::test]` resolves them.
pub(crate) fn fixtures(option: &Meta) -> syn::Result<Vec<Fixture>> {
    const TAKES: &str = "the fixtures' names or paths: `fixtures(\"users\", \"orders\")` \
                         (`fixtures/users.sql` beside the test's file), \
                         `fixtures(\"./seed/users.sql\")`, or `fixtures(path = \"seed\", \
                         scripts(\"users\"))`";
    let Meta::List(list) = option else {
        return Err(syn::Error::new(
            option.span(),
            format_args!("`fixtures` takes {TAKES}"),
        ));
    };
    if let Ok(names) = list.parse_args_with(Punctuated::<LitStr, Token![,]>::parse_terminated) {
        let mut form = None;
        let mut fixtures = Vec::new();
        for name in names {
            let value = name.value();
            let this = if Path::new(&value).components().count() > 1 {
                Form::Paths
            } else {
                Form::Named
            };
            match &form {
                Some(first) if *first != this => {
                    return Err(syn::Error::new(
                        name.span(),
                        "one `fixtures(..)` takes names (`\"users\"`) or paths \
                         (`\"./seed/users.sql\"`), not both: split them into two `fixtures(..)`",
                    ));
                }
                _ => form = Some(this),
            }
            let path = match form {
                Some(Form::Paths) => value,
                _ => format!("fixtures/{}", with_sql_extension(value)),
            };
            fixtures.push(Fixture {
                path,
                span: name.span(),
            });
        }
        return Ok(fixtures);
    }
    let mut folder: Option<LitStr> = None;
    let mut fixtures = Vec::new();
    list.parse_nested_meta(|meta| {
        if meta.path.is_ident("path") {
            if folder.is_some() || !fixtures.is_empty() {
                return Err(meta.error(
                    "`path` comes once, first: `fixtures(path = \"seed\", scripts(\"users\"))`",
                ));
            }
            folder = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("scripts") {
            let Some(folder) = &folder else {
                return Err(meta.error(
                    "`scripts` comes after `path`: `fixtures(path = \"seed\", scripts(\"users\"))`",
                ));
            };
            let content;
            syn::parenthesized!(content in meta.input);
            let scripts = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
            for script in scripts {
                fixtures.push(Fixture {
                    path: format!("{}/{}", folder.value(), with_sql_extension(script.value())),
                    span: script.span(),
                });
            }
            Ok(())
        } else {
            Err(meta.error(format_args!("`fixtures` takes {TAKES}")))
        }
    })?;
    if fixtures.is_empty() {
        return Err(syn::Error::new(
            list.span(),
            format_args!("`fixtures` names no script; it takes {TAKES}"),
        ));
    }
    Ok(fixtures)
}

/// `name` with `.sql` added if it has no extension.
fn with_sql_extension(mut name: String) -> String {
    if Path::new(&name).extension().is_none() {
        name.push_str(".sql");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::{Migrations, fixtures, migrations, migrator};
    use syn::Meta;

    fn paths(option: &str) -> Vec<String> {
        let option: Meta = syn::parse_str(option).unwrap();
        fixtures(&option)
            .unwrap()
            .into_iter()
            .map(|fixture| fixture.path)
            .collect()
    }

    fn error(option: &str, read: fn(&Meta) -> syn::Result<()>) -> String {
        let option: Meta = syn::parse_str(option).unwrap();
        read(&option).unwrap_err().to_string()
    }

    #[test]
    fn fixtures_resolve_as_sqlx_test_resolves_them() {
        assert_eq!(
            paths(r#"fixtures("users", "orders.sql")"#),
            ["fixtures/users.sql", "fixtures/orders.sql"]
        );
        assert_eq!(paths(r#"fixtures("./seed/x.sql")"#), ["./seed/x.sql"]);
        assert_eq!(
            paths(r#"fixtures(path = "seed", scripts("a", "b.sql"))"#),
            ["seed/a.sql", "seed/b.sql"]
        );
    }

    #[test]
    fn bad_fixtures_say_what_is_accepted() {
        let read = |option: &Meta| fixtures(option).map(drop);
        assert!(error(r#"fixtures("users", "./seed/x.sql")"#, read).contains("not both"));
        assert!(error(r#"fixtures(scripts("a"))"#, read).contains("after `path`"));
        assert!(error(r#"fixtures(path = "seed")"#, read).contains("names no script"));
        assert!(error(r#"fixtures = "users""#, read).contains("takes the fixtures"));
    }

    #[test]
    fn migrations_take_a_folder_or_false() {
        let option: Meta = syn::parse_str("migrations = false").unwrap();
        assert!(matches!(migrations(&option), Ok(Migrations::Off)));
        let read = |option: &Meta| migrations(option).map(drop);
        assert!(error("migrations = true", read).contains("says nothing"));
        assert!(error(r#"migrations = "no/such/folder""#, read).contains("no migrations folder"));
        let option: Meta = syn::parse_str(r#"migrations = "src""#).unwrap();
        assert!(matches!(migrations(&option), Ok(Migrations::Folder(_))));
    }

    #[test]
    fn a_migrator_is_a_path_in_a_string() {
        let option: Meta = syn::parse_str(r#"migrator = "crate::MIGRATOR""#).unwrap();
        assert!(migrator(&option).is_ok());
        let read = |option: &Meta| migrator(option).map(drop);
        assert!(error(r#"migrator = "not a path!""#, read).contains("invalid path"));
        assert!(error("migrator = MIGRATOR", read).contains("as a string"));
    }
}
