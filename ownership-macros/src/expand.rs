//! The expansion of `#[owned_test]`: checks the function, then wraps it in a plain
//! `#[test]` that hands it to the harness in `ownership-runtime`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{ItemFn, Meta, ReturnType, Token};

use crate::arguments::{TestArguments, check_signature, mentions_impl, test_arguments};
use crate::config::{Config, Flavor, LeftoverTasks};

/// Expands the attribute, or reports its errors beside the unchanged item (so that
/// editors keep seeing the function).
pub(crate) fn owned_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let item_start = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(proc_macro2::Span::call_site, |token| token.span());
            let error = syn::Error::new(
                item_start,
                "`#[owned_test]` goes on a function: `#[owned_test] async fn name() { .. }`",
            );
            return with_errors(error, item);
        }
    };
    let config = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .and_then(|args| Config::parse(&args));
    let checked = check_function(&function);
    match (config, checked) {
        (Ok(config), Ok(())) => {
            match test_arguments(&config, &function.sig, outcome_span(&function.sig)) {
                Ok(arguments) => expand(&config, function, arguments),
                Err(error) => with_errors(error, function.into_token_stream()),
            }
        }
        (Err(mut error), Err(more)) => {
            error.combine(more);
            with_errors(error, function.into_token_stream())
        }
        (Err(error), _) | (_, Err(error)) => with_errors(error, function.into_token_stream()),
    }
}

fn with_errors(error: syn::Error, item: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #item)
}

/// What a test function can't be.
fn check_function(function: &ItemFn) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    for attribute in &function.attrs {
        let is_test = attribute
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "test");
        if is_test {
            push(syn::Error::new(
                attribute.path().span(),
                "`#[owned_test]` already makes this function a test; remove this attribute",
            ));
        }
    }
    let signature = &function.sig;
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        push(syn::Error::new(
            signature.generics.span(),
            "an `#[owned_test]` function can't be generic",
        ));
    }
    check_signature(signature, &mut push);
    match errors {
        Some(errors) => Err(errors),
        None => Ok(()),
    }
}

/// Where the harness call is spanned: at the return type, so that an error about its
/// bound on the body's outcome points at it.
fn outcome_span(signature: &syn::Signature) -> proc_macro2::Span {
    match &signature.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    }
}

/// The test: the function, its arguments' static (if it takes any) and the harness call.
fn expand(config: &Config, function: ItemFn, arguments: Option<TestArguments>) -> TokenStream {
    let outcome_span = outcome_span(&function.sig);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let runner = if sig.asyncness.is_some() {
        proc_macro2::Ident::new("run_async", outcome_span)
    } else {
        proc_macro2::Ident::new("run_sync", outcome_span)
    };
    let crate_path = &config.crate_path;
    let harness = quote!(#crate_path::harness);
    let outcome_check = outcome_check(&sig.output, &harness);
    let mut settings = TokenStream::new();
    if let Some(shared) = config.shared {
        settings.extend(quote!(.shared(#shared)));
    }
    if let Some(flavor) = config.flavor {
        let flavor = match flavor {
            Flavor::CurrentThread => quote!(CurrentThread),
            Flavor::MultiThread => quote!(MultiThread),
        };
        settings.extend(quote!(.flavor(#harness::Flavor::#flavor)));
    }
    if let Some(threads) = config.worker_threads {
        settings.extend(quote!(.worker_threads(#threads)));
    }
    if let Some(paused) = config.start_paused {
        settings.extend(quote!(.start_paused(#paused)));
    }
    if let Some(millis) = config.timeout {
        settings.extend(quote!(.timeout(::core::time::Duration::from_millis(#millis))));
    }
    if let Some(leftover_tasks) = config.leftover_tasks {
        let leftover_tasks = match leftover_tasks {
            LeftoverTasks::Fail => quote!(Fail),
            LeftoverTasks::Cancel => quote!(Cancel),
        };
        settings.extend(quote!(.leftover_tasks(#harness::LeftoverTasks::#leftover_tasks)));
    }
    if let Some(millis) = config.leftover_grace {
        settings.extend(quote!(.leftover_grace(::core::time::Duration::from_millis(#millis))));
    }
    let (arguments_item, arguments_check, resources, body) = match arguments {
        Some(arguments) => (
            arguments.item,
            arguments.check,
            arguments.resources,
            arguments.body,
        ),
        None => (
            TokenStream::new(),
            TokenStream::new(),
            config
                .resources
                .iter()
                .map(ToTokens::to_token_stream)
                .collect(),
            name.to_token_stream(),
        ),
    };
    let count = resources.len();
    let resource_list = if resources.is_empty() {
        TokenStream::new()
    } else {
        settings.extend(quote!(.resources(&__OWNED_TEST_RESOURCES)));
        quote! {
            #arguments_item
            static __OWNED_TEST_RESOURCES: [&'static dyn #harness::TestResource; #count] = [#(&#resources),*];
        }
    };
    let call_arguments = quote_spanned! {outcome_span=> (
        #harness::TestConfig::new(::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(#name)
        )) #settings,
        #body,
    )};
    let call = quote_spanned!(outcome_span=> __owned_test_harness::#runner #call_arguments);
    // The body keeps its own signature as an inner function of the same name, so `?`,
    // `return` and the return type work as written; the test calls the harness with it.
    quote! {
        #outcome_check
        #arguments_check
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #sig #block
            #resource_list
            use #harness as __owned_test_harness;
            #call
        }
    }
}

/// A check, beside the test, that its return type is a `TestOutcome`, spanned at that
/// type so that the error points at it. A test build reports the same error at the same
/// place through the harness call (spanned alike); but other builds (`cargo check`, the
/// UI tests) leave the `#[test]` function out, so this check stands in for it there, and
/// only there (one error per build). A return type with `impl Trait` can't be named
/// here: the harness call alone checks it.
fn outcome_check(output: &ReturnType, harness: &TokenStream) -> TokenStream {
    let ReturnType::Type(_, ty) = output else {
        return TokenStream::new();
    };
    if mentions_impl(ty.to_token_stream()) {
        return TokenStream::new();
    }
    quote_spanned! {ty.span()=>
        #[cfg(not(test))]
        const _: () = {
            const fn returns_a_test_outcome<T: #harness::TestOutcome>() {}
            returns_a_test_outcome::<#ty>()
        };
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The expansion of `#[owned_test(args)]` on a test with every place that names the
    /// runtime: a return type (its check), a sandbox and settings of its own types.
    fn expansion(args: TokenStream) -> String {
        let item = quote!(
            async fn places_an_order() -> Result<(), String> {
                Ok(())
            }
        );
        super::owned_test(args, item).to_string()
    }

    #[test]
    fn crate_replaces_every_path_to_the_runtime() {
        let renamed = expansion(quote!(
            crate = "renamed_runtime",
            sandbox = DB,
            flavor = "multi_thread",
            leftover_tasks = "cancel"
        ));
        assert!(!renamed.contains("ownership_runtime"), "{renamed}");
        assert!(!renamed.contains("compile_error"), "{renamed}");
        for item in [
            "TestOutcome",
            "TestResource",
            "TestConfig",
            "Flavor",
            "LeftoverTasks",
        ] {
            assert!(
                renamed.contains(&format!("renamed_runtime :: harness :: {item}")),
                "{item} is not named through `renamed_runtime`: {renamed}"
            );
        }
    }

    #[test]
    fn without_crate_the_runtime_is_named_from_the_root() {
        let default = expansion(quote!(sandbox = DB));
        assert!(
            default.contains(":: ownership_runtime :: harness :: TestConfig"),
            "{default}"
        );
    }

    #[test]
    fn a_return_type_is_checked_unless_it_is_an_impl_trait() {
        let named = super::owned_test(
            TokenStream::new(),
            quote!(
                fn counts() -> u32 {
                    1
                }
            ),
        );
        assert!(
            named
                .to_string()
                .contains("returns_a_test_outcome :: < u32 >"),
            "{named}"
        );
        let opaque = super::owned_test(
            TokenStream::new(),
            quote!(
                fn counts() -> Box<impl std::fmt::Debug> {
                    Box::new(1)
                }
            ),
        );
        assert!(
            !opaque.to_string().contains("returns_a_test_outcome"),
            "{opaque}"
        );
        let none = super::owned_test(
            TokenStream::new(),
            quote!(
                fn counts() {}
            ),
        );
        assert!(
            !none.to_string().contains("returns_a_test_outcome"),
            "{none}"
        );
    }
}
