async fn welcome(socket: Socket) {
    let _ = socket.emit("welcome", &());
}
#[doc(hidden)]
const _: () = {
    use ::realtime::__private as __rt;
    __rt::last_extractor::<_, Socket>();
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn __send() {
        __rt::send_future(welcome(::core::unreachable!()))
    }
    __rt::inventory::submit! {
        __rt::Registration::lifecycle("/chat", __rt::Lifecycle::Connect,
        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(welcome)), | ctx
        | __rt::call(welcome, ctx))
    }
};
