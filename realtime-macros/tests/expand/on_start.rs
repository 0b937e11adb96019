async fn started(rt: Realtime) {}
#[doc(hidden)]
const _: () = {
    use ::realtime::__private as __rt;
    __rt::inventory::submit! {
        __rt::StartRegistration::new(::core::concat!(::core::module_path!(), "::",
        ::core::stringify!(started)), | rt | __rt::call_start:: < Realtime, _, () >
        (started, rt))
    }
};
