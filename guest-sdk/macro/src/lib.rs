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
//!
//! A function taking a second argument, `cx: &mut Context`, makes the module
//! one of contract version 2 (`transform-v2.wit`): it reads lookups and
//! emits outputs through the context. `v2` asks for version 2 when only the
//! backward function needs the context.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Path, ReturnType, Token, Type};

/// Arguments of the attribute.
#[derive(Default)]
struct Args {
    name: Option<String>,
    backward: Option<Path>,
    /// Contract version 2 asked for by name.
    v2: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let items = input.parse_terminated(Meta::parse, Token![,])?;
        for meta in items {
            let item = match meta {
                Meta::NameValue(item) => item,
                Meta::Path(p) if p.is_ident("v2") => {
                    if std::mem::replace(&mut args.v2, true) {
                        return Err(syn::Error::new(p.span(), "`v2` is given twice"));
                    }
                    continue;
                }
                Meta::Path(p) if p.is_ident("name") || p.is_ident("backward") => {
                    return Err(syn::Error::new(p.span(), "expected `=` and a value after it"));
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "unknown argument; #[transform] takes `name = \"…\"`, `backward = function` and `v2`",
                    ))
                }
            };
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
                    "unknown argument; #[transform] takes `name = \"…\"`, `backward = function` and `v2`",
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

/// What differs between the two contract versions in the expansion: the
/// names of the SDK's items for each.
struct Contract {
    adapt: TokenStream2,
    transforms: TokenStream2,
    bindings: TokenStream2,
    export: TokenStream2,
    result: TokenStream2,
    component_describe: TokenStream2,
    component_transform: TokenStream2,
    core_describe: TokenStream2,
    core_transform: TokenStream2,
    version: TokenStream2,
}

impl Contract {
    fn new(v2: bool) -> Contract {
        let p = quote! { ::mongoshift_guest::__private };
        if v2 {
            Contract {
                adapt: quote! { #p::adapt_v2 },
                transforms: quote! { #p::TransformsV2 },
                bindings: quote! { #p::bindings_v2 },
                export: quote! { export_v2 },
                result: quote! { DocumentResult },
                component_describe: quote! { #p::component_describe_v2 },
                component_transform: quote! { #p::component_transform_v2 },
                core_describe: quote! { #p::core_describe_v2 },
                core_transform: quote! { #p::core_transform_v2 },
                version: quote! { ::mongoshift_guest::CONTRACT_VERSION_2 },
            }
        } else {
            Contract {
                adapt: quote! { #p::adapt },
                transforms: quote! { #p::Transforms },
                bindings: quote! { #p::bindings },
                export: quote! { export },
                result: quote! { Outcome },
                component_describe: quote! { #p::component_describe },
                component_transform: quote! { #p::component_transform },
                core_describe: quote! { #p::core_describe },
                core_transform: quote! { #p::core_transform },
                version: quote! { ::mongoshift_guest::CONTRACT_VERSION },
            }
        }
    }
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args: Args = syn::parse2(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    let (arg_span, with_context) = check_signature(&func)?;
    let c = Contract::new(args.v2 || with_context);
    let ident = &func.sig.ident;
    let name = args.name.unwrap_or_else(|| ident.to_string());
    let adapt = &c.adapt;
    // Spanned on the user's argument type and `backward` path, so a function of
    // the wrong type is reported there, with `Adapt`'s explanation.
    let forward = quote_spanned! {arg_span=> #adapt(#ident) };
    let (has_backward, backward) = match &args.backward {
        Some(path) => (
            true,
            quote_spanned! {path.span()=> ::core::option::Option::Some(#adapt(#path)) },
        ),
        None => (false, quote! { ::core::option::Option::None }),
    };
    let Contract {
        transforms,
        bindings,
        export,
        result,
        component_describe,
        component_transform,
        core_describe,
        core_transform,
        version,
        ..
    } = &c;
    let types = quote! { #bindings::mongoshift::transform::types };
    Ok(quote! {
        #func

        const _: () = {
            // Compiled on every target, so `cargo test` checks the signatures;
            // `allow(dead_code)` also keeps the user's functions from being
            // reported unused natively.
            #[allow(dead_code)]
            fn __mongoshift_transforms() -> #transforms {
                #transforms {
                    name: #name,
                    forward: #forward,
                    backward: #backward,
                }
            }

            #[cfg(target_arch = "wasm32")]
            const _: () = {
                // The component (wasm32-wasip2): world `transform` of
                // guest-sdk/wit/transform.wit (or transform-v2.wit).
                struct __MongoshiftGuest;

                impl #bindings::Guest for __MongoshiftGuest {
                    fn describe() -> #types::Info {
                        #component_describe(#name, #has_backward)
                    }
                    fn transform(dir: #types::Direction, batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<#types::#result> {
                        #component_transform(&__mongoshift_transforms(), dir, &batch)
                    }
                }

                #bindings::#export!(__MongoshiftGuest with_types_in #bindings);

                // The core module (wasm32-wasip1): guest-sdk/ABI.md. Rust names
                // differ from the symbols so they never shadow the user's.
                #[unsafe(export_name = "mongoshift_contract_version")]
                extern "C" fn __mongoshift_contract_version() -> i32 {
                    #version as i32
                }

                #[unsafe(export_name = "mongoshift_alloc")]
                extern "C" fn __mongoshift_alloc(size: i32) -> i32 {
                    ::mongoshift_guest::__private::core_alloc(size)
                }

                #[unsafe(export_name = "mongoshift_describe")]
                extern "C" fn __mongoshift_describe() -> i32 {
                    #core_describe(#name, #has_backward)
                }

                #[unsafe(export_name = "mongoshift_transform")]
                extern "C" fn __mongoshift_transform(direction: i32, ptr: i32, len: i32) -> i32 {
                    #core_transform(&__mongoshift_transforms(), direction, ptr, len)
                }
            };
        };
    })
}

/// Checks what can be checked syntactically; returns the span of the argument
/// type, where type errors are reported, and whether the function takes a
/// context (contract version 2).
fn check_signature(func: &ItemFn) -> syn::Result<(proc_macro2::Span, bool)> {
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
    let arguments =
        "a transform takes exactly one argument: the document (`doc: Document`, or `doc: &RawDocument` to skip decoding); one with lookups and outputs takes `cx: &mut Context` after it";
    let arg = match sig.inputs.first() {
        Some(arg) if sig.inputs.len() <= 2 => arg,
        Some(_) => return Err(syn::Error::new(sig.inputs[2].span(), arguments)),
        None => return Err(syn::Error::new(sig.paren_token.span.join(), arguments)),
    };
    let with_context = match sig.inputs.iter().nth(1) {
        None => false,
        Some(FnArg::Typed(t)) if matches!(&*t.ty, Type::Reference(r) if r.mutability.is_some()) => {
            true
        }
        Some(other) => return Err(syn::Error::new(other.span(), arguments)),
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
    Ok((ty.span(), with_context))
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

    #[test]
    fn a_context_argument_or_v2_makes_a_version_2_module() {
        let text = expand_str(
            "backward = back",
            "fn f(d: &RawDocument, cx: &mut Context) -> Outcome { Outcome::Keep }",
        )
        .expect("valid")
        .to_string();
        for part in [
            "adapt_v2 (f)",
            "adapt_v2 (back)",
            "TransformsV2",
            "bindings_v2",
            "export_v2 !",
            "DocumentResult",
            "core_transform_v2",
            "CONTRACT_VERSION_2",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        let flagged = expand_str("v2, backward = back", DOC_FN)
            .expect("valid")
            .to_string();
        assert!(flagged.contains("TransformsV2"), "{flagged}");
        let v1 = expand_str("", DOC_FN).expect("valid").to_string();
        assert!(!v1.contains("_v2") && !v1.contains("V2"), "{v1}");
        assert!(err("v2, v2", DOC_FN).contains("`v2` is given twice"));
        assert!(err(
            "",
            "fn f(d: Document, cx: &mut Context, x: u8) -> Outcome { todo!() }"
        )
        .contains("exactly one argument"));
    }
}
