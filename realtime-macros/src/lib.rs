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
/// The event name is a string literal (or an integer literal, for clients that use numbers
/// as event names); `namespace = "/..."` picks the namespace (default `/`). Arguments are
/// extractors in any order, except that the one consuming the payload (`Data<T>`,
/// `TryData<T>`, `Payload`) comes last. The return value answers the client's ack: any
/// `Serialize` value, `Result<T, E>` (`Err` becomes `{"error": e}`), `()`, `Reply`.
///
/// The same handler serves `socket.emit("hello", data)`, the compact
/// `socket.emit("m", ["hello", data])` and plain WebSocket frames `["hello", data]`.
///
/// ```
/// use realtime::{event, Data, Realtime, RoomName, Room, Socket};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Hello { name: String }
///
/// #[derive(Serialize)]
/// struct Welcome { text: String }
///
/// #[event("hello")]
/// async fn hello(socket: Socket, Data(msg): Data<Hello>) -> Welcome {
///     socket.join("greeted");
///     Welcome { text: format!("hello, {}", msg.name) }
/// }
///
/// struct Table(u64);
/// impl RoomName for Table {
///     fn room_name(&self) -> Room { format!("table:{}", self.0).into() }
/// }
///
/// #[event("sit", namespace = "/game")]
/// async fn sit(socket: Socket, Data(table): Data<u64>) -> Result<u64, String> {
///     if table == 0 {
///         return Err("no table 0".into()); // the client's ack gets {"error": "no table 0"}
///     }
///     socket.enter_room(Table(table)).await;
///     Ok(table)
/// }
///
/// fn main() {
///     // No registration calls: build() finds both handlers.
///     let rt = Realtime::builder().build().expect("one handler per event");
///     assert!(rt.of("/game").is_some());
/// }
/// ```
#[proc_macro_attribute]
pub fn event(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Event, attr.into(), item.into()).into()
}

/// Registers an `async fn` to run when a socket joins the namespace: after middleware
/// accepted it and after the client got its CONNECT reply, so whatever it emits arrives
/// after the client's `connect` event. `Data<T>` extracts the client's auth payload.
///
/// ```
/// use realtime::{on_connect, on_disconnect, Data, Realtime, Socket};
///
/// #[on_connect]
/// async fn welcome(socket: Socket) {
///     let _ = socket.emit("welcome", socket.id().as_str());
/// }
///
/// #[on_disconnect(namespace = "/chat")]
/// async fn gone(socket: Socket, Data(reason): Data<String>) {
///     println!("{} left: {reason}", socket.id());
/// }
///
/// fn main() {
///     Realtime::builder().build().unwrap();
/// }
/// ```
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

/// Registers an `async fn` for events no other handler takes (`Event` is the name). Without
/// a fallback, an unknown event is ignored, or answered `{"error": "no handler for event
/// ..."}` when the client asked for an ack.
///
/// ```
/// use realtime::{fallback, Event, Realtime, Reply};
///
/// #[fallback]
/// async fn unknown(Event(name): Event) -> Reply {
///     Reply::error(format!("unknown event {name:?}"))
/// }
///
/// fn main() {
///     Realtime::builder().build().unwrap();
/// }
/// ```
#[proc_macro_attribute]
pub fn fallback(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Fallback, attr.into(), item.into()).into()
}

/// Registers an `async fn(Realtime)` to run once when the server starts serving (weroll's
/// `start` event).
///
/// ```
/// use realtime::{on_start, Realtime};
///
/// #[on_start]
/// async fn started(rt: Realtime) {
///     println!("serving on {}", rt.config().path);
/// }
///
/// fn main() {
///     Realtime::builder().build().unwrap();
/// }
/// ```
#[proc_macro_attribute]
pub fn on_start(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::run(Kind::Start, attr.into(), item.into()).into()
}
