async fn hello(socket: Socket, Data(msg): Data<Hello>) -> Reply {
    socket.join("lobby");
    Reply::ok(msg)
}
#[doc(hidden)]
const _: () = {
    use ::realtime::__private as __rt;
    __rt::extractor::<Socket>();
    __rt::last_extractor::<_, Data<Hello>>();
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn __send() {
        __rt::send_future(hello(::core::unreachable!(), ::core::unreachable!()))
    }
    __rt::inventory::submit! {
        __rt::Registration::event("/", "hello", ::core::concat!(::core::module_path!(),
        "::", ::core::stringify!(hello)), | ctx | __rt::call(hello, ctx))
    }
};
