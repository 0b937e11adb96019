//! Code generation: the function as written, then one `const _` block holding the
//! registration.
//!
//! The registration calls the handler through `__private::callN::<T1, .., TN, M, Fut, R>`:
//! the argument and return types are the user's tokens, and the `_`s for `M` and `Fut` carry
//! the spans of the last argument and of the function name. Each requirement on a handler is
//! a bound on one of these parameters, so rustc reports a misuse once, at the token that
//! caused it, with no separate check items in the expansion.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, ReturnType};

use super::{model::Handler, Kind};

pub(crate) fn expand(h: &Handler) -> TokenStream {
    let function = &h.function;
    let registration = registration(h);
    quote! {
        #function

        #[doc(hidden)]
        const _: () = {
            use ::realtime::__private as __rt;
            __rt::inventory::submit! { #registration }
        };
    }
}

/// The call of the handler inside the registration closure, e.g.
/// `__rt::call2::<Socket, Data<Hello>, _, _, _>(hello, ctx)`.
fn call(h: &Handler, ctx: &syn::Ident) -> TokenStream {
    let name = &h.function.sig.ident;
    let output = output(&h.function.sig.output, h.name_span);
    let future = quote_spanned!(h.name_span=> _);
    if h.kind == Kind::Start {
        let arg = &h.arg_types[0];
        return quote!(__rt::call_start::<#arg, #future, #output>(#name, #ctx));
    }
    let call = syn::Ident::new(&format!("call{}", h.arg_types.len()), Span::call_site());
    let args = &h.arg_types;
    let marker = match args.last() {
        Some(last) => quote_spanned!(last.span()=> _,),
        None => TokenStream::new(),
    };
    quote!(__rt::#call::<#(#args,)* #marker #future, #output>(#name, #ctx))
}

/// The return type for the `R` parameter: the user's type, so that an error underlines all of
/// it; `_` spanned at it where a type argument cannot be written (`impl Trait`).
fn output(output: &ReturnType, name_span: Span) -> TokenStream {
    match output {
        ReturnType::Default => quote_spanned!(name_span=> ()),
        ReturnType::Type(_, ty) if mentions_impl(ty.to_token_stream()) => {
            quote_spanned!(ty.span()=> _)
        }
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    }
}

/// Whether a type contains `impl Trait`, which is not allowed as a type argument.
pub(crate) fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => mentions_impl(g.stream()),
        _ => false,
    })
}

/// The `inventory` entry: a const constructor in the runtime crate and a non-capturing
/// closure that calls the handler.
fn registration(h: &Handler) -> TokenStream {
    let name = &h.function.sig.ident;
    let ns = &h.namespace;
    let function = quote!(::core::concat!(
        ::core::module_path!(),
        "::",
        ::core::stringify!(#name)
    ));
    match h.kind {
        Kind::Event => {
            let event = h.event.as_ref().expect("parse requires an event name");
            let call = call(h, &syn::Ident::new("ctx", Span::call_site()));
            quote! { __rt::Registration::event(#ns, #event, #function, |ctx| #call) }
        }
        Kind::Lifecycle(variant) => {
            let variant = syn::Ident::new(variant, h.name_span);
            let call = call(h, &syn::Ident::new("ctx", Span::call_site()));
            quote! {
                __rt::Registration::lifecycle(#ns, __rt::Lifecycle::#variant, #function, |ctx| #call)
            }
        }
        Kind::Fallback => {
            let call = call(h, &syn::Ident::new("ctx", Span::call_site()));
            quote! { __rt::Registration::fallback(#ns, #function, |ctx| #call) }
        }
        Kind::Start => {
            let call = call(h, &syn::Ident::new("rt", Span::call_site()));
            quote! { __rt::StartRegistration::new(#function, |rt| #call) }
        }
    }
}
