//! Attribute macros that register `async fn` handlers with `realtime`, with no
//! registration call in user code.
//!
//! Each macro keeps the function exactly as written and adds one registration (an
//! `inventory` submission reached through `realtime::__private`) plus compile-time checks
//! spanned at the offending argument. `RealtimeBuilder::build` collects the registrations.
//!
//! | attribute | registers |
//! |---|---|
//! | `#[event("hello")]`, `#[event("hello", namespace = "/chat")]` | a handler for a client event |
//! | `#[on_connect]`, `#[on_disconnect]` | connection lifecycle handlers |
//! | `#[on_shakehand_start]`, `#[on_shakehand_complete]`, `#[on_shakehand_success]`, `#[on_shakehand_fail]` | weroll's handshake events |
//! | `#[fallback]` | the handler for events nobody else handles |
//! | `#[on_start]` | runs once when the server starts serving, with the `Realtime` handle |
//!
//! All but `#[on_start]` take `namespace = "/..."` (default `/`).
//!
//! Parsing lives in `handler::parse`, the model in `handler::model`, code generation in
//! `handler::expand`.

mod handler;

use proc_macro::TokenStream;

use handler::Kind;

/// Registers an `async fn` as the handler of a client event.
///
/// ```ignore
/// #[event("hello")]
/// async fn hello(socket: Socket, Data(msg): Data<Hello>) -> Reply { ... }
///
/// #[event("move", namespace = "/game")]
/// async fn player_moved(room: BroadcastOperator, Data(m): Data<Move>) { ... }
/// ```
///
/// The event name is a string literal (or an integer literal, for clients that use numbers
/// as event names). Arguments are extractors; the one that consumes the payload
/// (`Data<T>`, `TryData<T>`, `Payload`) comes last.
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Event, attr.into(), item.into()).into()
}

/// Registers an `async fn` to run when a socket joins the namespace.
#[proc_macro_attribute]
pub fn on_connect(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Lifecycle("Connect"), attr.into(), item.into()).into()
}

/// Registers an `async fn` to run when a socket leaves the namespace (`Data<String>` is the
/// reason).
#[proc_macro_attribute]
pub fn on_disconnect(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Lifecycle("Disconnect"), attr.into(), item.into()).into()
}

/// Registers an `async fn` to run when a client starts the `$init` handshake.
#[proc_macro_attribute]
pub fn on_shakehand_start(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Lifecycle("ShakehandStart"), attr.into(), item.into()).into()
}

/// Registers an `async fn` to run when a handshake was processed (`Data<bool>`: success).
#[proc_macro_attribute]
pub fn on_shakehand_complete(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(
        Kind::Lifecycle("ShakehandComplete"),
        attr.into(),
        item.into(),
    )
    .into()
}

/// Registers an `async fn` to run when a handshake succeeded (or none is required).
#[proc_macro_attribute]
pub fn on_shakehand_success(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(
        Kind::Lifecycle("ShakehandSuccess"),
        attr.into(),
        item.into(),
    )
    .into()
}

/// Registers an `async fn` to run when a handshake failed or timed out.
#[proc_macro_attribute]
pub fn on_shakehand_fail(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Lifecycle("ShakehandFail"), attr.into(), item.into()).into()
}

/// Registers an `async fn` for events no other handler takes (`Event` is the name).
#[proc_macro_attribute]
pub fn fallback(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Fallback, attr.into(), item.into()).into()
}

/// Registers an `async fn(Realtime)` to run once when the server starts serving.
#[proc_macro_attribute]
pub fn on_start(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Start, attr.into(), item.into()).into()
}
