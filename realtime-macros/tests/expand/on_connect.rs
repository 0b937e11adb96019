async fn welcome(socket: Socket) {
    let _ = socket.emit("welcome", &());
}
#[doc(hidden)]
const _: () = {
    use ::realtime::__private as __rt;
    __rt::inventory::submit! {
        __rt::Registration::lifecycle("/chat", __rt::Lifecycle::Connect,
        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(welcome)), | ctx
        | __rt::call1:: < Socket, _, _, () > (welcome, ctx))
    }
};
