//! `#[transform]`: exports a Rust function as a mongoshift transform. Use it
//! through `mongoshift_guest::transform`; the crate docs there explain it.
//!
//! ```text
//! use mongoshift_guest::{transform, Document, Outcome};
//!
//! #[transform(name = "split_name", backward = join_name)]
//! fn split_name(doc: Document) -> Outcome { /* … */ }
//! fn join_name(doc: Document) -> Outcome { /* … */ }
//! ```
//!
//! The function takes a decoded `Document` or, to skip decoding, a
//! `&RawDocument`, and returns an `Outcome`; it is kept as written. Built for
//! `wasm32-wasip2` the crate is a component implementing
//! `guest-sdk/wit/transform.wit`; built for `wasm32-wasip1` it is a core
//! module following `guest-sdk/ABI.md`. Natively nothing is exported, but the
//! signatures are still checked, so `cargo test` catches them.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, MetaNameValue, Path, ReturnType, Token};

/// Arguments of the attribute.
#[derive(Default)]
struct Args {
    name: Option<String>,
    backward: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let items = input.parse_terminated(MetaNameValue::parse, Token![,])?;
        for item in items {
            let key = item
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let duplicate = || syn::Error::new(item.path.span(), format!("`{key}` is given twice"));
            match key.as_str() {
                "name" => {
                    let Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) = &item.value
                    else {
                        return Err(syn::Error::new(
                            item.value.span(),
                            "`name` must be a string literal, e.g. name = \"split_name\"",
                        ));
                    };
                    if s.value().is_empty() {
                        return Err(syn::Error::new(s.span(), "`name` cannot be empty"));
                    }
                    if args.name.replace(s.value()).is_some() {
                        return Err(duplicate());
                    }
                }
                "backward" => {
                    let Expr::Path(p) = &item.value else {
                        return Err(syn::Error::new(
                            item.value.span(),
                            "`backward` must name a function, e.g. backward = join_name",
                        ));
                    };
                    if args.backward.replace(p.path.clone()).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => return Err(syn::Error::new(
                    item.path.span(),
                    "unknown argument; #[transform] takes `name = \"…\"` and `backward = function`",
                )),
            }
        }
        Ok(args)
    }
}

/// Exports the function as the module's transform. See the crate docs of
/// `mongoshift_guest`.
#[proc_macro_attribute]
pub fn transform(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = TokenStream2::from(item);
    match expand(attr.into(), item.clone()) {
        Ok(ts) => ts.into(),
        // The function as written too, so the one error is all the user sees.
        Err(e) => {
            let mut ts = e.to_compile_error();
            ts.extend(item);
            ts.into()
        }
    }
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args: Args = syn::parse2(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    let arg_span = check_signature(&func)?;
    let ident = &func.sig.ident;
    let name = args.name.unwrap_or_else(|| ident.to_string());
    // Spanned on the user's argument type and `backward` path, so a function of
    // the wrong type is reported there, with `Adapt`'s explanation.
    let forward = quote_spanned! {arg_span=> ::mongoshift_guest::__private::adapt(#ident) };
    let (has_backward, backward) = match &args.backward {
        Some(path) => (
            true,
            quote_spanned! {path.span()=> ::core::option::Option::Some(::mongoshift_guest::__private::adapt(#path)) },
        ),
        None => (false, quote! { ::core::option::Option::None }),
    };
    let bindings = quote! { ::mongoshift_guest::__private::bindings };
    let types = quote! { #bindings::mongoshift::transform::types };
    Ok(quote! {
        #func

        const _: () = {
            // Compiled on every target, so `cargo test` checks the signatures;
            // `allow(dead_code)` also keeps the user's functions from being
            // reported unused natively.
            #[allow(dead_code)]
            fn __mongoshift_transforms() -> ::mongoshift_guest::__private::Transforms {
                ::mongoshift_guest::__private::Transforms {
                    name: #name,
                    forward: #forward,
                    backward: #backward,
                }
            }

            #[cfg(target_arch = "wasm32")]
            const _: () = {
                // The component (wasm32-wasip2): world `transform` of
                // guest-sdk/wit/transform.wit.
                struct __MongoshiftGuest;

                impl #bindings::Guest for __MongoshiftGuest {
                    fn describe() -> #types::Info {
                        ::mongoshift_guest::__private::component_describe(#name, #has_backward)
                    }
                    fn transform(dir: #types::Direction, batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<#types::Outcome> {
                        ::mongoshift_guest::__private::component_transform(&__mongoshift_transforms(), dir, &batch)
                    }
                }

                #bindings::export!(__MongoshiftGuest with_types_in #bindings);

                // The core module (wasm32-wasip1): guest-sdk/ABI.md. Rust names
                // differ from the symbols so they never shadow the user's.
                #[unsafe(export_name = "mongoshift_contract_version")]
                extern "C" fn __mongoshift_contract_version() -> i32 {
                    ::mongoshift_guest::CONTRACT_VERSION as i32
                }

                #[unsafe(export_name = "mongoshift_alloc")]
                extern "C" fn __mongoshift_alloc(size: i32) -> i32 {
                    ::mongoshift_guest::__private::core_alloc(size)
                }

                #[unsafe(export_name = "mongoshift_describe")]
                extern "C" fn __mongoshift_describe() -> i32 {
                    ::mongoshift_guest::__private::core_describe(#name, #has_backward)
                }

                #[unsafe(export_name = "mongoshift_transform")]
                extern "C" fn __mongoshift_transform(direction: i32, ptr: i32, len: i32) -> i32 {
                    ::mongoshift_guest::__private::core_transform(&__mongoshift_transforms(), direction, ptr, len)
                }
            };
        };
    })
}

/// Checks what can be checked syntactically; returns the span of the argument
/// type, where type errors are reported.
fn check_signature(func: &ItemFn) -> syn::Result<proc_macro2::Span> {
    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(a.span(), "a transform cannot be async"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a transform cannot be generic",
        ));
    }
    let one_argument =
        "a transform takes exactly one argument: the document (`doc: Document`, or `doc: &RawDocument` to skip decoding)";
    let arg = match (sig.inputs.first(), sig.inputs.len()) {
        (Some(arg), 1) => arg,
        (_, 0) => return Err(syn::Error::new(sig.paren_token.span.join(), one_argument)),
        _ => return Err(syn::Error::new(sig.inputs[1].span(), one_argument)),
    };
    let ty = match arg {
        FnArg::Receiver(r) => {
            return Err(syn::Error::new(
                r.span(),
                "a transform is a free function, not a method",
            ))
        }
        FnArg::Typed(t) => &t.ty,
    };
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            "a transform returns an `Outcome` (Keep, Replace, ReplaceRaw, Delete or Fail): add `-> Outcome`",
        ));
    }
    Ok(ty.span())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: &str, item: &str) -> syn::Result<TokenStream2> {
        expand(
            attr.parse().expect("attr tokens"),
            item.parse().expect("item tokens"),
        )
    }

    fn err(attr: &str, item: &str) -> String {
        expand_str(attr, item).expect_err("should fail").to_string()
    }

    const DOC_FN: &str = "fn f(d: Document) -> Outcome { Outcome::Keep }";

    #[test]
    fn accepts_both_argument_kinds_and_exports_everything() {
        let text = expand_str("name = \"x\", backward = back", DOC_FN)
            .expect("valid")
            .to_string();
        for export in [
            "mongoshift_contract_version",
            "mongoshift_alloc",
            "mongoshift_describe",
            "mongoshift_transform",
            "export !",
        ] {
            assert!(text.contains(export), "{export} missing in {text}");
        }
        assert!(
            text.contains("Some (:: mongoshift_guest :: __private :: adapt (back))"),
            "{text}"
        );
        assert!(
            text.contains("\"x\" , true"),
            "name and backward flag reach describe: {text}"
        );
        let raw = expand_str("", "pub fn g(d: &RawDocument) -> Outcome { Outcome::Keep }")
            .expect("valid")
            .to_string();
        assert!(
            raw.contains("\"g\" , false"),
            "name defaults to the function's: {raw}"
        );
        assert!(
            raw.contains("pub fn g"),
            "the function is kept as written: {raw}"
        );
        assert!(
            expand_str("backward = crate::inverse::join,", DOC_FN).is_ok(),
            "paths and a trailing comma"
        );
    }

    #[test]
    fn wrong_signatures_are_explained() {
        assert!(err("", "fn f() -> Outcome { todo!() }").contains("exactly one argument"));
        assert!(
            err("", "fn f(a: Document, b: Document) -> Outcome { todo!() }")
                .contains("exactly one argument")
        );
        assert!(err("", "fn f(a: Document) { }").contains("returns an `Outcome`"));
        assert!(
            err("", "async fn f(a: Document) -> Outcome { todo!() }").contains("cannot be async")
        );
        assert!(err("", "fn f<T>(a: T) -> Outcome { todo!() }").contains("cannot be generic"));
        assert!(err("", "fn f(&self) -> Outcome { todo!() }").contains("not a method"));
        assert!(err("", "struct S;").contains("expected `fn`"));
    }

    #[test]
    fn wrong_arguments_are_explained() {
        assert!(err("backward = \"g\"", DOC_FN).contains("must name a function"));
        assert!(err("backward = g()", DOC_FN).contains("must name a function"));
        assert!(err("name = split", DOC_FN).contains("must be a string literal"));
        assert!(err("name = \"\"", DOC_FN).contains("cannot be empty"));
        assert!(err("name = \"a\", name = \"b\"", DOC_FN).contains("`name` is given twice"));
        assert!(err("nme = \"g\"", DOC_FN).contains("unknown argument"));
        assert!(err("backward", DOC_FN).contains("expected `=`"));
    }
}
