//! Code generation: the function as written, then one `const _` block holding the
//! compile-time checks and the registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{model::Handler, Kind};

pub(crate) fn expand(h: &Handler) -> TokenStream {
    let function = &h.function;
    let checks = checks(h);
    let registration = registration(h);
    quote! {
        #function

        #[doc(hidden)]
        const _: () = {
            use ::realtime::__private as __rt;
            #checks
            __rt::inventory::submit! { #registration }
        };
    }
}

/// One check per argument, spanned at its type, so that a type that is not an extractor
/// (or a payload extractor that is not last) is reported on that argument; and one for the
/// future being `Send`, spanned at the function name.
fn checks(h: &Handler) -> TokenStream {
    if h.kind == Kind::Start {
        return TokenStream::new();
    }
    let name = &h.function.sig.ident;
    let last = h.arg_types.len().saturating_sub(1);
    let per_arg = h.arg_types.iter().enumerate().map(|(i, ty)| {
        if i == last {
            quote_spanned! {ty.span()=> __rt::last_extractor::<_, #ty>(); }
        } else {
            quote_spanned! {ty.span()=> __rt::extractor::<#ty>(); }
        }
    });
    let unreachable_args = h.arg_types.iter().map(|_| quote!(::core::unreachable!()));
    let send = quote_spanned! {h.name_span=>
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        fn __send() { __rt::send_future(#name(#(#unreachable_args),*)) }
    };
    quote! { #(#per_arg)* #send }
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
            quote! { __rt::Registration::event(#ns, #event, #function, |ctx| __rt::call(#name, ctx)) }
        }
        Kind::Lifecycle(variant) => {
            let variant = syn::Ident::new(variant, h.name_span);
            quote! {
                __rt::Registration::lifecycle(#ns, __rt::Lifecycle::#variant, #function, |ctx| __rt::call(#name, ctx))
            }
        }
        Kind::Fallback => {
            quote! { __rt::Registration::fallback(#ns, #function, |ctx| __rt::call(#name, ctx)) }
        }
        Kind::Start => {
            quote! { __rt::StartRegistration::new(#function, |rt| __rt::call_start(#name, rt)) }
        }
    }
}
