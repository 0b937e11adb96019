//! The most arguments a handler may take: 8.

use std::sync::Arc;

use realtime::{event, AckSender, Bin, BroadcastOperator, Data, Event, Namespace, Socket, State};

#[derive(Clone)]
struct Db;

#[event("eight")]
#[allow(clippy::too_many_arguments)]
async fn eight(
    _socket: Socket,
    _ack: AckSender,
    _bin: Bin,
    _event: Event,
    _state: State<Db>,
    _others: BroadcastOperator,
    _ns: Arc<Namespace>,
    Data(_n): Data<u32>,
) -> u32 {
    8
}

fn main() {}
