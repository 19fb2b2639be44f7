//! The expansion of `#[owned_test]`: checks the function, then wraps it in a plain
//! `#[test]` that hands it to the harness in `ownership-runtime`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{ItemFn, Meta, Token};

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
        .and_then(Config::parse);
    let checked = check_function(&function);
    match (config, checked) {
        (Ok(config), Ok(())) => expand(&config, function),
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
    if !signature.inputs.is_empty() {
        push(syn::Error::new(
            signature.inputs.span(),
            "an `#[owned_test]` function takes no arguments",
        ));
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(()),
    }
}

fn expand(config: &Config, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let runner = if sig.asyncness.is_some() {
        quote!(run_async)
    } else {
        quote!(run_sync)
    };
    let harness = quote!(::ownership_runtime::harness);
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
    let resources = &config.resources;
    let count = resources.len();
    let resource_list = if resources.is_empty() {
        TokenStream::new()
    } else {
        settings.extend(quote!(.resources(&__OWNED_TEST_RESOURCES)));
        quote! {
            static __OWNED_TEST_RESOURCES: [&'static dyn #harness::TestResource; #count] = [#(&#resources),*];
        }
    };
    // The body keeps its own signature as an inner function of the same name, so `?`,
    // `return` and the return type work as written; the test calls the harness with it.
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #sig #block
            #resource_list
            #harness::#runner(
                #harness::TestConfig::new(::core::concat!(
                    ::core::module_path!(), "::", ::core::stringify!(#name)
                )) #settings,
                #name,
            )
        }
    }
}
