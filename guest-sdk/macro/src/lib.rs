//! `#[transform]`: exports a Rust function as a mongoshift transform.
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
//! `&RawDocument`, and returns an `Outcome`. Built for `wasm32-wasip2` the crate
//! is a component implementing `guest-sdk/wit/transform.wit`; built for
//! `wasm32-wasip1` it is a core module following `guest-sdk/ABI.md`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Path, ReturnType, Token};

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
            let key = item.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match key.as_str() {
                "name" => match &item.value {
                    Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => args.name = Some(s.value()),
                    other => return Err(syn::Error::new(other.span(), "`name` must be a string literal, e.g. name = \"split_name\"")),
                },
                "backward" => match &item.value {
                    Expr::Path(p) => args.backward = Some(p.path.clone()),
                    other => {
                        return Err(syn::Error::new(other.span(), "`backward` must name a function, e.g. backward = join_name"))
                    }
                },
                _ => {
                    return Err(syn::Error::new(item.path.span(), "unknown argument; #[transform] takes `name = \"…\"` and `backward = function`"))
                }
            }
        }
        Ok(args)
    }
}

/// Exports the function as the module's transform. See the crate docs.
#[proc_macro_attribute]
pub fn transform(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args: Args = syn::parse2(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    check_signature(&func)?;
    let ident = &func.sig.ident;
    let name = args.name.unwrap_or_else(|| ident.to_string());
    let sig_span = func.sig.span();
    let forward = quote_spanned! {sig_span=> ::mongoshift_guest::__private::adapt(#ident) };
    let (has_backward, backward) = match &args.backward {
        Some(path) => {
            let span = path.span();
            (true, quote_spanned! {span=> ::core::option::Option::Some(::mongoshift_guest::__private::adapt(#path)) })
        }
        None => (false, quote! { ::core::option::Option::None }),
    };
    Ok(quote! {
        #func

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            fn __mongoshift_transforms() -> ::mongoshift_guest::__private::Transforms {
                ::mongoshift_guest::__private::Transforms {
                    name: #name,
                    forward: #forward,
                    backward: #backward,
                }
            }

            struct __MongoshiftGuest;

            impl ::mongoshift_guest::__private::bindings::Guest for __MongoshiftGuest {
                fn describe() -> ::mongoshift_guest::__private::bindings::mongoshift::transform::types::Info {
                    ::mongoshift_guest::__private::component_describe(#name, #has_backward)
                }
                fn transform(
                    dir: ::mongoshift_guest::__private::bindings::mongoshift::transform::types::Direction,
                    batch: ::std::vec::Vec<u8>,
                ) -> ::std::vec::Vec<::mongoshift_guest::__private::bindings::mongoshift::transform::types::Outcome> {
                    ::mongoshift_guest::__private::component_transform(&__mongoshift_transforms(), dir, &batch)
                }
            }

            ::mongoshift_guest::__private::bindings::export!(__MongoshiftGuest with_types_in ::mongoshift_guest::__private::bindings);

            #[unsafe(no_mangle)]
            extern "C" fn mongoshift_contract_version() -> i32 {
                ::mongoshift_guest::CONTRACT_VERSION as i32
            }

            #[unsafe(no_mangle)]
            extern "C" fn mongoshift_alloc(size: i32) -> i32 {
                ::mongoshift_guest::__private::core_alloc(size)
            }

            #[unsafe(no_mangle)]
            extern "C" fn mongoshift_describe() -> i32 {
                ::mongoshift_guest::__private::core_describe(#name, #has_backward)
            }

            #[unsafe(no_mangle)]
            extern "C" fn mongoshift_transform(dir: i32, ptr: i32, len: i32) -> i32 {
                ::mongoshift_guest::__private::core_transform(&__mongoshift_transforms(), dir, ptr, len)
            }
        };
    })
}

fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_some() {
        return Err(syn::Error::new(sig.asyncness.span(), "a transform cannot be async"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "a transform cannot be generic"));
    }
    if sig.inputs.len() != 1 {
        let span = if sig.inputs.is_empty() { sig.paren_token.span.join() } else { sig.inputs.span() };
        return Err(syn::Error::new(
            span,
            "a transform takes exactly one argument: the document (`doc: Document`, or `doc: &RawDocument` to skip decoding)",
        ));
    }
    if let syn::FnArg::Receiver(r) = &sig.inputs[0] {
        return Err(syn::Error::new(r.span(), "a transform is a free function, not a method"));
    }
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.ident.span(),
            "a transform returns an `Outcome` (Keep, Replace, ReplaceRaw, Delete or Fail)",
        ));
    }
    let _ = Span::call_site();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(attr: &str, item: &str) -> String {
        expand(attr.parse().expect("attr"), item.parse().expect("item")).expect_err("should fail").to_string()
    }

    #[test]
    fn accepts_the_two_forms() {
        let ok = expand("name = \"x\", backward = back".parse().expect("attr"), "fn f(d: Document) -> Outcome { todo!() }".parse().expect("item"));
        let text = ok.expect("valid").to_string();
        assert!(text.contains("mongoshift_transform") && text.contains("Some"), "{text}");
        assert!(expand(TokenStream2::new(), "fn f(d: &RawDocument) -> Outcome { todo!() }".parse().expect("item")).is_ok());
    }

    #[test]
    fn wrong_signatures_are_explained() {
        assert!(err("", "fn f() -> Outcome { todo!() }").contains("exactly one argument"));
        assert!(err("", "fn f(a: Document, b: Document) -> Outcome { todo!() }").contains("exactly one argument"));
        assert!(err("", "fn f(a: Document) { }").contains("returns an `Outcome`"));
        assert!(err("", "async fn f(a: Document) -> Outcome { todo!() }").contains("cannot be async"));
        assert!(err("backward = \"g\"", "fn f(a: Document) -> Outcome { todo!() }").contains("must name a function"));
        assert!(err("nme = \"g\"", "fn f(a: Document) -> Outcome { todo!() }").contains("unknown argument"));
    }
}
