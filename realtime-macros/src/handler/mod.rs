//! The one macro behind every attribute: parse → model → expand.

mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;

/// What an attribute registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[event("name")]`.
    Event,
    /// A lifecycle attribute; the name of its `Lifecycle` variant.
    Lifecycle(&'static str),
    /// `#[fallback]`.
    Fallback,
    /// `#[on_start]`.
    Start,
}

/// Expands one attribute. On error the function is emitted unchanged next to the
/// `compile_error!`s, so the rest of the crate (and the IDE) still sees it.
pub(crate) fn run(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(kind, attr, item.clone()) {
        Ok(handler) => expand::expand(&handler),
        Err(err) => {
            let errors = err.to_compile_error();
            quote::quote! { #item #errors }
        }
    }
}

#[cfg(test)]
mod tests;
