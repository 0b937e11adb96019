//! Parsing and checking the attribute and the function, with errors spanned at the
//! offending token.

use proc_macro2::{Span, TokenStream};
use syn::{parse::ParseStream, spanned::Spanned, Error, FnArg, ItemFn, Lit, LitStr, Token};

use super::{model::Handler, Kind};

/// The most arguments a handler may take (the `Handler` trait is implemented up to 8).
const MAX_ARGS: usize = 8;

mod kw {
    syn::custom_keyword!(namespace);
}

/// The attribute's arguments: an optional event name, then `key = value` options.
struct Args {
    event: Option<LitStr>,
    namespace: Option<LitStr>,
}

impl Args {
    fn parse(kind: Kind, input: ParseStream<'_>) -> syn::Result<Args> {
        let mut args = Args {
            event: None,
            namespace: None,
        };
        if kind == Kind::Event {
            if input.is_empty() {
                return Err(Error::new(
                    Span::call_site(),
                    "missing event name: write #[event(\"name\")]",
                ));
            }
            args.event = Some(event_name(input)?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            if input.peek(kw::namespace) {
                let key: kw::namespace = input.parse()?;
                if kind == Kind::Start {
                    return Err(Error::new(key.span, "#[on_start] takes no options"));
                }
                if args.namespace.is_some() {
                    return Err(Error::new(key.span, "duplicate option `namespace`"));
                }
                input.parse::<Token![=]>()?;
                let value: LitStr = input.parse().map_err(|e| {
                    Error::new(
                        e.span(),
                        "`namespace` must be a string literal such as \"/chat\"",
                    )
                })?;
                if !value.value().starts_with('/') {
                    return Err(Error::new(
                        value.span(),
                        "a namespace starts with `/`, e.g. \"/chat\"",
                    ));
                }
                args.namespace = Some(value);
            } else {
                let unknown: TokenStream = input.parse::<proc_macro2::TokenTree>()?.into();
                let valid = if kind == Kind::Start {
                    "none"
                } else {
                    "`namespace`"
                };
                return Err(Error::new(
                    unknown.span(),
                    format!("unknown option `{unknown}`; valid options: {valid}"),
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// The event name: a string literal, or an integer literal (JS clients may use numbers).
fn event_name(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if input.peek(Lit) {
        match input.parse::<Lit>()? {
            Lit::Str(s) if s.value().is_empty() => {
                Err(Error::new(s.span(), "the event name is empty"))
            }
            Lit::Str(s) => Ok(s),
            Lit::Int(i) => Ok(LitStr::new(i.base10_digits(), i.span())),
            other => Err(Error::new(
                other.span(),
                "the event name must be a string literal, e.g. \"hello\"",
            )),
        }
    } else {
        let expr: syn::Expr = input.parse()?;
        Err(Error::new(
            expr.span(),
            "the event name must be a string literal, e.g. \"hello\" (it is registered at compile time)",
        ))
    }
}

/// Parses and checks one annotated function.
pub(crate) fn parse(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<Handler> {
    let args = syn::parse::Parser::parse2(|input: ParseStream<'_>| Args::parse(kind, input), attr)?;
    let function: ItemFn = syn::parse2(item)?;
    check_signature(kind, &function)?;

    let mut arg_types = Vec::new();
    for (i, arg) in function.sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) => {
                return Err(Error::new(
                    r.span(),
                    "a handler is a free function, not a method",
                ))
            }
            FnArg::Typed(t) => {
                if i == MAX_ARGS {
                    return Err(Error::new(
                        t.span(),
                        format!(
                            "too many arguments: a handler takes at most {MAX_ARGS} extractors"
                        ),
                    ));
                }
                arg_types.push((*t.ty).clone());
            }
        }
    }

    Ok(Handler {
        kind,
        event: args.event,
        namespace: args
            .namespace
            .unwrap_or_else(|| LitStr::new("/", Span::call_site())),
        name_span: function.sig.ident.span(),
        function,
        arg_types,
    })
}

fn check_signature(kind: Kind, f: &ItemFn) -> syn::Result<()> {
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        return Err(Error::new(
            sig.fn_token.span,
            "a handler must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            "a handler cannot be generic: it is registered once, for concrete types",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(Error::new(variadic.span(), "a handler cannot be variadic"));
    }
    if kind == Kind::Start && sig.inputs.len() != 1 {
        return Err(Error::new(
            sig.inputs.span(),
            "an #[on_start] handler takes exactly one argument: `rt: Realtime`",
        ));
    }
    Ok(())
}
