//! Every attribute, with and without the `namespace` option.

use realtime::{
    event, fallback, on_connect, on_disconnect, on_shakehand_complete, on_shakehand_fail,
    on_shakehand_start, on_shakehand_success, on_start, Data, Event, Realtime, Socket,
};

#[event("hello")]
async fn hello(socket: Socket) {
    let _ = socket.emit("hi", &());
}

#[event("hello", namespace = "/chat")]
async fn hello_chat() {}

#[rustfmt::skip]
#[event("trailing_comma", namespace = "/chat",)]
async fn trailing_comma() {}

#[on_connect]
async fn connected(_socket: Socket) {}

#[on_connect(namespace = "/chat")]
async fn connected_chat() {}

#[on_disconnect]
async fn disconnected(_socket: Socket, Data(_reason): Data<String>) {}

#[on_shakehand_start]
async fn shakehand_start(_socket: Socket) {}

#[on_shakehand_complete(namespace = "/chat")]
async fn shakehand_complete(Data(_success): Data<bool>) {}

#[on_shakehand_success]
async fn shakehand_success() {}

#[on_shakehand_fail]
async fn shakehand_fail(_socket: Socket) {}

#[fallback]
async fn unknown(Event(_name): Event) {}

#[fallback(namespace = "/chat")]
async fn unknown_chat() {}

#[on_start]
async fn started(_rt: Realtime) {}

/// Attributes compose with others, and with visibility.
#[event("documented")]
#[allow(clippy::unused_async)]
pub(crate) async fn documented() {}

/// In a module, by path.
mod nested {
    #[realtime::event("nested", namespace = "/nested")]
    pub async fn nested(_socket: realtime::Socket) {}

    #[realtime::on_start]
    async fn nested_start(rt: realtime::Realtime) {
        let _ = rt.config();
    }
}

fn main() {}
