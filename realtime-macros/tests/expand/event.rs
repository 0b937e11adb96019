async fn hello(socket: Socket, Data(msg): Data<Hello>) -> Reply {
    socket.join("lobby");
    Reply::ok(msg)
}
#[doc(hidden)]
const _: () = {
    use ::realtime::__private as __rt;
    __rt::inventory::submit! {
        __rt::Registration::event("/", "hello", ::core::concat!(::core::module_path!(),
        "::", ::core::stringify!(hello)), | ctx | __rt::call2:: < Socket, Data < Hello >,
        _, _, Reply > (hello, ctx))
    }
};
