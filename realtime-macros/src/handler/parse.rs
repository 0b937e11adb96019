//! Parsing and checking the attribute and the function, with errors spanned at the
//! offending token.

use proc_macro2::{Span, TokenStream};
use syn::{parse::ParseStream, Error, FnArg, ItemFn, Lit, LitStr, Token};

use super::{expand::mentions_impl, model::Handler, Kind};

/// The most arguments a handler may take (the `Handler` trait is implemented up to 8).
const MAX_ARGS: usize = 8;

mod kw {
    syn::custom_keyword!(namespace);
}

/// The attribute as users write it, for messages: `event`, `on_connect`, ...
fn attribute(kind: Kind) -> String {
    match kind {
        Kind::Event => "event".into(),
        Kind::Fallback => "fallback".into(),
        Kind::Start => "on_start".into(),
        Kind::Lifecycle(variant) => {
            let mut name = String::from("on");
            for c in variant.chars() {
                if c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_lowercase());
            }
            name
        }
    }
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
        let attr = attribute(kind);
        if kind == Kind::Start {
            if !input.is_empty() {
                let rest: TokenStream = input.parse()?;
                return Err(Error::new_spanned(
                    rest,
                    "#[on_start] takes no options: write `#[on_start]`",
                ));
            }
            return Ok(args);
        }
        if kind == Kind::Event {
            if input.is_empty() {
                return Err(Error::new(
                    Span::call_site(),
                    "missing event name: write #[event(\"name\")]",
                ));
            }
            if input.peek(kw::namespace) && input.peek2(Token![=]) {
                let key: kw::namespace = input.parse()?;
                return Err(Error::new(
                    key.span,
                    "missing event name: it comes first, as in #[event(\"name\", namespace = \"/chat\")]",
                ));
            }
            args.event = Some(event_name(input)?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        } else if input.peek(Lit) {
            let lit: Lit = input.parse()?;
            return Err(Error::new(
                lit.span(),
                format!("#[{attr}] takes no event name; its only option is `namespace = \"/...\"`"),
            ));
        }
        while !input.is_empty() {
            if input.peek(kw::namespace) {
                let key: kw::namespace = input.parse()?;
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
                // `chat` and `/chat` name the same namespace, as with `.namespace(..)` and
                // socket.io's `io.of(..)`: the server adds the missing slash.
                args.namespace = Some(value);
            } else {
                let unknown = input.parse::<proc_macro2::TokenTree>()?;
                let message = match &unknown {
                    proc_macro2::TokenTree::Ident(ident) => {
                        format!("unknown option `{ident}` of #[{attr}]; the only option is `namespace = \"/...\"`")
                    }
                    other => {
                        format!(
                            "expected an option such as `namespace = \"/chat\"`, found `{other}`"
                        )
                    }
                };
                return Err(Error::new(unknown.span(), message));
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
                "the event name must be a string literal such as \"hello\" (or an integer literal)",
            )),
        }
    } else {
        let expr: syn::Expr = input.parse()?;
        Err(Error::new_spanned(
            expr,
            "the event name must be a string literal such as \"hello\": it is registered at compile time, so a constant or variable cannot be used",
        ))
    }
}

/// Parses and checks one annotated function.
pub(crate) fn parse(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<Handler> {
    let args = syn::parse::Parser::parse2(|input: ParseStream<'_>| Args::parse(kind, input), attr)?;
    let function: ItemFn = syn::parse2(item)?;
    check_signature(kind, &function)?;

    let mut arg_types = Vec::new();
    for arg in &function.sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(Error::new_spanned(
                    r,
                    "a handler is a free function, not a method: move it out of the `impl` block",
                ))
            }
            FnArg::Typed(t) => {
                if mentions_impl(quote::ToTokens::to_token_stream(&t.ty)) {
                    return Err(Error::new_spanned(
                        &t.ty,
                        "a handler cannot be generic: name the extractor type instead of `impl Trait`",
                    ));
                }
                arg_types.push((*t.ty).clone());
            }
        }
    }
    if arg_types.len() > MAX_ARGS {
        let extra: Vec<&FnArg> = function.sig.inputs.iter().skip(MAX_ARGS).collect();
        return Err(Error::new_spanned(
            quote::quote!(#(#extra),*),
            format!(
                "too many arguments: a handler takes at most {MAX_ARGS} extractors (group state in one `State<T>`)"
            ),
        ));
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
            format!(
                "a handler must be an `async fn`: write `async fn {}`",
                sig.ident
            ),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(Error::new(unsafety.span, "a handler cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &sig.generics,
            "a handler cannot be generic: it is registered once, for concrete types",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(Error::new_spanned(variadic, "a handler cannot be variadic"));
    }
    if kind == Kind::Start && sig.inputs.len() != 1 {
        let message = "an #[on_start] handler takes exactly one argument: `rt: Realtime`";
        return Err(if sig.inputs.is_empty() {
            Error::new(sig.paren_token.span.join(), message)
        } else {
            let extra: Vec<&FnArg> = sig.inputs.iter().skip(1).collect();
            Error::new_spanned(quote::quote!(#(#extra),*), message)
        });
    }
    Ok(())
}
