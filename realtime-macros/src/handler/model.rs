//! What an annotated handler is, once parsed and checked.

use proc_macro2::Span;
use syn::{ItemFn, LitStr, Type};

use super::Kind;

/// A handler ready to be expanded.
pub(crate) struct Handler {
    pub(crate) kind: Kind,
    /// The event name (for `Kind::Event`), as a string literal with the user's span.
    pub(crate) event: Option<LitStr>,
    /// The namespace, `/` unless given.
    pub(crate) namespace: LitStr,
    /// The function, unchanged.
    pub(crate) function: ItemFn,
    /// The argument types, in order, for the per-argument extractor checks.
    pub(crate) arg_types: Vec<Type>,
    /// Where to report a non-`Send` future: the function name.
    pub(crate) name_span: Span,
}
