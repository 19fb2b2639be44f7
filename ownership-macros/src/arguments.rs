//! A test that takes its database as an argument, as `#[sqlx::test]` tests do:
//! `async fn t(pool: PgPool)`. Its arguments are made by a `sandbox_sqlx::TestArgs`
//! static, the test's first resource, from the sandbox it names (`sandbox = DB`) or else
//! from `DATABASE_URL` with the migrations and fixtures the attribute names; the body is
//! called with what that static made for the test.

use std::path::Path;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Signature, Type};

use crate::config::{Config, Migrations};

/// The most arguments a test takes: `(PoolOptions<DB>, ConnectOptions)`.
const MOST_ARGUMENTS: usize = 2;

/// What `#[sqlx::test]` accepts as arguments, for the errors.
const ACCEPTED: &str = "`pool: PgPool` (any `Pool<DB>`), `conn: PoolConnection<DB>`, \
                        `pool: SandboxPool<DB>`, or `(options: PgPoolOptions, connect: \
                        PgConnectOptions)`";

/// The parts of a test that takes its database as an argument.
pub(crate) struct TestArguments {
    /// The `static` that makes them.
    pub(crate) item: TokenStream,
    /// A check, beside the test, that sandbox-sqlx can make them.
    pub(crate) check: TokenStream,
    /// The resources of the test: that static first, then the other statics of
    /// `sandbox = [DB, OTHER]`.
    pub(crate) resources: Vec<TokenStream>,
    /// The body the harness runs: it takes the arguments and calls the test's function.
    pub(crate) body: TokenStream,
}

/// What the signature of a test can't be when it takes arguments: a method, a sync
/// function, more arguments than any signature `#[sqlx::test]` accepts, or an argument
/// whose type can't be named.
pub(crate) fn check_signature(signature: &Signature, push: &mut impl FnMut(syn::Error)) {
    if signature.inputs.is_empty() {
        return;
    }
    if let Some(receiver) = signature.receiver() {
        push(syn::Error::new(
            receiver.span(),
            "an `#[owned_test]` function is a free function, not a method",
        ));
    }
    if signature.asyncness.is_none() {
        push(syn::Error::new(
            signature.inputs.span(),
            format_args!(
                "an `#[owned_test]` function takes arguments only as an `async fn` (its \
                 database: {ACCEPTED}); make it `async fn`, or take no arguments"
            ),
        ));
    }
    if let Some(extra) = signature.inputs.iter().nth(MOST_ARGUMENTS) {
        push(syn::Error::new(
            extra.span(),
            format_args!(
                "an `#[owned_test]` function takes at most {MOST_ARGUMENTS} arguments, its \
                 database: {ACCEPTED}"
            ),
        ));
    }
    for argument in &signature.inputs {
        if let FnArg::Typed(typed) = argument
            && mentions_impl(typed.ty.to_token_stream())
        {
            push(syn::Error::new(
                typed.ty.span(),
                format_args!(
                    "an `#[owned_test]` argument has a type that can be named, not `impl \
                     Trait`: {ACCEPTED}"
                ),
            ));
        }
    }
}

/// The test's arguments, or `None` for a test that takes none; errors for database
/// options that need arguments (or are of no use with the sandbox they name).
pub(crate) fn test_arguments(
    config: &Config,
    signature: &Signature,
    outcome_span: Span,
) -> syn::Result<Option<TestArguments>> {
    let types: Vec<&Type> = signature
        .inputs
        .iter()
        .filter_map(|argument| match argument {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let database = &config.database;
    if types.is_empty() {
        return match needless_options(config) {
            Some(error) => Err(error),
            None => Ok(None),
        };
    }
    let (sandbox, others) = match config.resources.split_first() {
        Some((sandbox, others)) => (Some(sandbox), others),
        None => (None, &[][..]),
    };
    if sandbox.is_some() {
        let mut errors = Vec::new();
        if let Some((_, span)) = &database.migrations {
            errors.push((*span, "migrations"));
        }
        if let Some((_, span)) = &database.migrator {
            errors.push((*span, "migrator"));
        }
        if let Some(error) = combined(errors.into_iter().map(|(span, option)| {
            syn::Error::new(
                span,
                format_args!(
                    "`{option}` is for the test's database from `DATABASE_URL`: the sandbox \
                     the test names has its migrations (`SandboxBuilder::migrations`); \
                     remove `{option}`, or `sandbox = ..`"
                ),
            )
        })) {
            return Err(error);
        }
    }
    let migrations = migrations_tokens(config);
    let fixtures = database.fixtures.iter().map(|fixture| {
        let path = &fixture.path;
        quote_spanned! {fixture.span=>
            ::sandbox_sqlx::TestFixture::new(#path, ::core::include_str!(#path))
        }
    });
    let from_sandbox = sandbox.map(|sandbox| quote!(.sandbox(|| &#sandbox)));
    let argument_types = quote!((#(#types,)*));
    let item = quote! {
        static __OWNED_TEST_ARGS: ::sandbox_sqlx::TestArgs<#argument_types> =
            ::sandbox_sqlx::TestArgs::new(#migrations, &[#(#fixtures),*]) #from_sandbox;
    };
    // As the return type's check: builds that leave the `#[test]` function out
    // (`cargo check`) still say when sandbox-sqlx can't make the arguments, at them.
    let at_the_arguments = types.first().map_or_else(Span::call_site, |ty| ty.span());
    let check = quote_spanned! {at_the_arguments=>
        #[cfg(not(test))]
        const _: () = {
            const fn sandbox_sqlx_makes<A: ::sandbox_sqlx::TestArgList>() {}
            sandbox_sqlx_makes::<(#(#types,)*)>()
        };
    };
    let mut resources = vec![quote!(__OWNED_TEST_ARGS)];
    resources.extend(others.iter().map(|other| quote!(#other)));
    let names: Vec<_> = (0..types.len())
        .map(|index| format_ident!("__owned_test_argument_{}", index))
        .collect();
    let function = &signature.ident;
    let body = quote_spanned! {outcome_span=>
        || {
            let (#(#names,)*) = __OWNED_TEST_ARGS.take();
            #function(#(#names),*)
        }
    };
    Ok(Some(TestArguments {
        item,
        check,
        resources,
        body,
    }))
}

/// An error for each database option of a test that takes no arguments: they say how
/// to give the test its database.
fn needless_options(config: &Config) -> Option<syn::Error> {
    let database = &config.database;
    let bare_sandbox = database.sandbox.filter(|_| config.resources.is_empty());
    let spans = [
        bare_sandbox.map(|span| (span, "`sandbox` with no value")),
        database
            .migrations
            .as_ref()
            .map(|(_, span)| (*span, "`migrations`")),
        database
            .migrator
            .as_ref()
            .map(|(_, span)| (*span, "`migrator`")),
        database.fixtures_span.map(|span| (span, "`fixtures`")),
    ];
    combined(spans.into_iter().flatten().map(|(span, option)| {
        syn::Error::new(
            span,
            format_args!(
                "{option} is for a test that takes its database as an argument, as \
                 `#[sqlx::test]` tests do: `async fn name(pool: PgPool)` (or {ACCEPTED})"
            ),
        )
    }))
}

/// Where the test's migrations come from, as a `sandbox_sqlx::TestMigrations`: the
/// migrator, none, the folder named (relative to the crate's manifest), or else the
/// crate's `migrations/` folder if it has one.
fn migrations_tokens(config: &Config) -> TokenStream {
    let database = &config.database;
    if let Some((migrator, _)) = &database.migrator {
        return quote!(::sandbox_sqlx::TestMigrations::MigratorFn(|| &#migrator));
    }
    let folder = match &database.migrations {
        Some((Migrations::Off, _)) => None,
        Some((Migrations::Folder(folder), _)) if Path::new(&folder.value()).is_absolute() => {
            return quote!(::sandbox_sqlx::TestMigrations::Folder(#folder));
        }
        Some((Migrations::Folder(folder), _)) => Some(folder.value()),
        None => {
            let crate_has_migrations = std::env::var_os("CARGO_MANIFEST_DIR")
                .is_some_and(|manifest| Path::new(&manifest).join("migrations").is_dir());
            crate_has_migrations.then(|| "migrations".to_owned())
        }
    };
    match folder {
        Some(folder) => {
            let relative = format!("/{}", folder.trim_start_matches("./"));
            quote! {
                ::sandbox_sqlx::TestMigrations::Folder(::core::concat!(
                    ::core::env!("CARGO_MANIFEST_DIR"), #relative
                ))
            }
        }
        None => quote!(::sandbox_sqlx::TestMigrations::None),
    }
}

/// The errors, as one.
fn combined(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, error| {
        all.combine(error);
        all
    })
}

/// Whether `tokens` hold the `impl` keyword (at any depth).
pub(crate) fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    fn expansion(args: TokenStream, item: TokenStream) -> String {
        crate::expand::owned_test(args, item).to_string()
    }

    #[test]
    fn a_pool_argument_is_made_by_a_static_and_passed_to_the_body() {
        let expanded = expansion(
            quote!(fixtures("users")),
            quote!(
                async fn counts(pool: PgPool) {}
            ),
        );
        assert!(!expanded.contains("compile_error"), "{expanded}");
        assert!(expanded.contains("TestArgs < (PgPool ,) >"), "{expanded}");
        assert!(
            expanded.contains("include_str ! (\"fixtures/users.sql\")"),
            "{expanded}"
        );
        assert!(
            expanded.contains("counts (__owned_test_argument_0)"),
            "{expanded}"
        );
        assert!(
            expanded.contains(". resources (& __OWNED_TEST_RESOURCES)"),
            "{expanded}"
        );
    }

    #[test]
    fn a_named_sandbox_gives_the_arguments_and_the_others_stay_resources() {
        let expanded = expansion(
            quote!(sandbox = [DB, GATEWAY]),
            quote!(
                async fn counts(conn: PoolConnection<Postgres>) {}
            ),
        );
        assert!(expanded.contains(". sandbox (|| & DB)"), "{expanded}");
        assert!(
            expanded.contains("[& __OWNED_TEST_ARGS , & GATEWAY]"),
            "{expanded}"
        );
    }

    #[test]
    fn migrations_are_the_folder_named_the_migrator_or_none() {
        let folder = expansion(
            quote!(migrations = "./src"),
            quote!(
                async fn t(pool: PgPool) {}
            ),
        );
        assert!(
            folder.contains("CARGO_MANIFEST_DIR\") , \"/src\""),
            "{folder}"
        );
        let migrator = expansion(
            quote!(migrator = "crate::MIGRATOR"),
            quote!(
                async fn t(pool: PgPool) {}
            ),
        );
        assert!(
            migrator.contains("MigratorFn (|| & crate :: MIGRATOR)"),
            "{migrator}"
        );
        let off = expansion(
            quote!(migrations = false),
            quote!(
                async fn t(pool: PgPool) {}
            ),
        );
        assert!(off.contains("TestMigrations :: None"), "{off}");
    }

    #[test]
    fn database_options_without_arguments_say_how_to_take_the_database() {
        let expanded = expansion(
            quote!(sandbox, fixtures("users")),
            quote!(
                async fn t() {}
            ),
        );
        assert_eq!(
            expanded
                .matches("is for a test that takes its database as an argument")
                .count(),
            2,
            "{expanded}"
        );
    }

    #[test]
    fn migrations_beside_a_named_sandbox_are_refused() {
        let expanded = expansion(
            quote!(sandbox = DB, migrations = false),
            quote!(
                async fn t(pool: PgPool) {}
            ),
        );
        assert!(
            expanded.contains("the sandbox the test names has its migrations"),
            "{expanded}"
        );
    }
}
