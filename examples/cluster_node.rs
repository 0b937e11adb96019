//! A node of a cluster on Redis, with an event for every cluster operation: what the
//! cluster tests (`tests/interop/node/test/cluster.test.mjs`) drive, and a tour of the
//! cluster API. Start two or three on different ports with the same `REDIS_URL` and connect
//! socket.io clients to different ones (Node socket.io nodes with `@socket.io/redis-adapter`
//! can join too).
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3101 NODE_NAME=a cargo run --example cluster_node
//! REDIS_URL=redis://127.0.0.1:6379 PORT=3102 NODE_NAME=b cargo run --example cluster_node
//! ```
//!
//! Without `REDIS_URL` it is a cluster of one: every operation still works, for this node.
//! `REDIS_ADAPTER=streams` joins with the Redis streams adapter (Node's
//! `@socket.io/redis-streams-adapter`) instead of the pub/sub one, and
//! `CONNECTION_STATE_RECOVERY=1` turns connection state recovery on (with the streams
//! adapter, a client may come back to any node).
//!
//! On connect a socket stores `{name, node}` as its data (`name` from the handshake auth)
//! and gets `hello` `{id, node}`. Events (all answer with an ack):
//!
//! | event | what the node does |
//! |---|---|
//! | `join` / `leave` room | joins / leaves the room |
//! | `broadcast` `{rooms?, except?, event, data, binary?, volatile?, local?, skipSelf?}` | broadcasts `event` (with a binary argument `[1,2,3]` if `binary`) |
//! | `set-client-id` id / `send-to` `{client, event, data}` | weroll's client ids |
//! | `fetch` `{rooms?}` | `fetch_sockets()`: `[{id, rooms, data}]` |
//! | `all-rooms` / `server-count` | `all_rooms()` / `server_count()` |
//! | `remote-join` / `remote-leave` `{rooms?, room}` | `to(rooms).join(room)` / `.leave(room)` |
//! | `remote-disconnect` `{rooms?, close?}` | `to(rooms).disconnect()` / `.close_connections()` |
//! | `remote-emit` `{id, event, data}` | `FetchedSocket::emit` to a socket found by `fetch_sockets` |
//! | `server-emit` `{event, data}` / `server-emit-ack` `{event, data}` | `server_side_emit` (and with acks: `{responses, expected}`) |
//! | `broadcast-ack` `{rooms?, event, data, timeoutMs}` | `timeout(..).emit_with_ack(..)`: `{responses, expected, timedOut}` |
//! | `stats` | the Redis adapter's counters |
//! | `recovered` | whether the socket came back with connection state recovery |
//!
//! A server-side event `ping-nodes` from another node is answered with this node's name;
//! any other server-side event is passed on to this node's sockets as `server-event`
//! `{event, data, node}`.

use std::{sync::Arc, time::Duration};

use realtime::{
    event, on_connect, AckSender, Data, Namespace, Realtime, RedisAdapter, RedisStreamsAdapter,
    ServerEvent, Socket, State,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// This node's name, for answers that say where they come from.
#[derive(Clone)]
struct NodeName(Arc<str>);

/// The adapter, to report its counters.
#[derive(Clone)]
enum Adapter {
    None,
    PubSub(RedisAdapter),
    Streams(RedisStreamsAdapter),
}

#[on_connect]
async fn connected(socket: Socket, State(node): State<NodeName>) {
    let name = socket.auth().get("name").cloned().unwrap_or(Value::Null);
    let _ = socket.set_data(&json!({ "name": name, "node": &*node.0 }));
    let _ = socket.emit(
        "hello",
        &json!({ "id": socket.id().as_str(), "node": &*node.0 }),
    );
}

#[event("join")]
async fn join(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.join(room);
    let _ = ack.send(&socket.rooms());
}

#[event("leave")]
async fn leave(socket: Socket, ack: AckSender, Data(room): Data<String>) {
    socket.leave(room);
    let _ = ack.send(&socket.rooms());
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Broadcast {
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    event: String,
    data: Value,
    #[serde(default)]
    binary: bool,
    #[serde(default)]
    volatile: bool,
    #[serde(default)]
    local: bool,
    /// `socket.broadcast()`: everyone but the sender.
    #[serde(default)]
    skip_self: bool,
}

#[event("broadcast")]
async fn broadcast(socket: Socket, ack: AckSender, Data(b): Data<Broadcast>) {
    let mut op = if b.skip_self {
        socket.broadcast()
    } else {
        socket.namespace().broadcast()
    };
    op = op.to(b.rooms).except(b.except);
    if b.volatile {
        op = op.volatile();
    }
    if b.local {
        op = op.local();
    }
    let result = if b.binary {
        realtime::Payload::new()
            .arg(&b.data)
            .map_err(realtime::EmitError::from)
            .and_then(|p| op.emit_payload(&b.event, &p.binary_arg(vec![1u8, 2, 3])))
    } else {
        op.emit(&b.event, &b.data)
    };
    let _ = ack.send(&result.is_ok());
}

#[event("set-client-id")]
async fn set_client_id(socket: Socket, ack: AckSender, Data(id): Data<String>) {
    socket.set_client_id(id);
    let _ = ack.send(&true);
}

#[derive(Deserialize)]
struct SendTo {
    client: String,
    event: String,
    data: Value,
}

#[event("send-to")]
async fn send_to(socket: Socket, ack: AckSender, Data(s): Data<SendTo>) {
    let _ = ack.send(&socket.send_to(&s.client, &s.event, &s.data).is_ok());
}

#[derive(Deserialize, Default)]
struct Select {
    #[serde(default)]
    rooms: Vec<String>,
}

#[event("fetch")]
async fn fetch(socket: Socket, ack: AckSender, Data(select): Data<Select>) {
    let found = socket.namespace().to(select.rooms).fetch_sockets().await;
    let _ = match found {
        Ok(sockets) => ack.send(&json!({
            "ok": true,
            "sockets": sockets
                .iter()
                .map(|s| json!({ "id": s.id(), "rooms": s.rooms(), "data": s.details().data }))
                .collect::<Vec<_>>(),
        })),
        Err(err) => ack.send(&json!({ "ok": false, "error": err.to_string() })),
    };
}

#[event("all-rooms")]
async fn all_rooms(socket: Socket, ack: AckSender) {
    let _ = match socket.namespace().all_rooms().await {
        Ok(rooms) => ack.send(&json!({ "ok": true, "rooms": rooms })),
        Err(err) => ack.send(&json!({ "ok": false, "error": err.to_string() })),
    };
}

#[event("server-count")]
async fn server_count(socket: Socket, ack: AckSender) {
    let _ = match socket.namespace().server_count().await {
        Ok(n) => ack.send(&json!({ "ok": true, "count": n })),
        Err(err) => ack.send(&json!({ "ok": false, "error": err.to_string() })),
    };
}

#[derive(Deserialize)]
struct RemoteRoom {
    #[serde(default)]
    rooms: Vec<String>,
    room: String,
}

#[event("remote-join")]
async fn remote_join(socket: Socket, ack: AckSender, Data(r): Data<RemoteRoom>) {
    socket.namespace().to(r.rooms).join(r.room);
    let _ = ack.send(&true);
}

#[event("remote-leave")]
async fn remote_leave(socket: Socket, ack: AckSender, Data(r): Data<RemoteRoom>) {
    socket.namespace().to(r.rooms).leave(r.room);
    let _ = ack.send(&true);
}

#[derive(Deserialize)]
struct RemoteDisconnect {
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    close: bool,
}

#[event("remote-disconnect")]
async fn remote_disconnect(socket: Socket, ack: AckSender, Data(r): Data<RemoteDisconnect>) {
    let op = socket.namespace().to(r.rooms);
    // Answer first: the caller may be among those disconnected.
    let _ = ack.send(&true);
    if r.close {
        op.close_connections();
    } else {
        op.disconnect();
    }
}

#[derive(Deserialize)]
struct RemoteEmit {
    id: String,
    event: String,
    data: Value,
}

#[event("remote-emit")]
async fn remote_emit(socket: Socket, ack: AckSender, Data(r): Data<RemoteEmit>) {
    let sockets = socket.namespace().fetch_sockets().await.unwrap_or_default();
    let sent = match sockets.iter().find(|s| s.id() == r.id) {
        Some(s) => s.emit(&r.event, &r.data).is_ok(),
        None => false,
    };
    let _ = ack.send(&sent);
}

#[derive(Deserialize)]
struct ServerEmit {
    event: String,
    data: Value,
}

#[event("server-emit")]
async fn server_emit(socket: Socket, ack: AckSender, Data(e): Data<ServerEmit>) {
    let _ = ack.send(
        &socket
            .namespace()
            .server_side_emit(&e.event, &e.data)
            .is_ok(),
    );
}

#[event("server-emit-ack")]
async fn server_emit_ack(socket: Socket, ack: AckSender, Data(e): Data<ServerEmit>) {
    let _ = match socket
        .namespace()
        .server_side_emit_with_ack(&e.event, &e.data)
        .await
    {
        Ok(answers) => ack.send(&json!({
            "ok": true,
            "responses": answers.values::<Value>().unwrap_or_default(),
            "expected": answers.expected,
        })),
        Err(err) => ack.send(&json!({ "ok": false, "error": err.to_string() })),
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BroadcastAck {
    #[serde(default)]
    rooms: Vec<String>,
    event: String,
    data: Value,
    timeout_ms: u64,
}

#[event("broadcast-ack")]
async fn broadcast_ack(socket: Socket, ack: AckSender, Data(b): Data<BroadcastAck>) {
    let acks = socket
        .broadcast()
        .to(b.rooms)
        .timeout(Duration::from_millis(b.timeout_ms))
        .emit_with_ack(&b.event, &b.data);
    let _ = match acks {
        Ok(acks) => {
            let all = acks.collect().await;
            ack.send(&json!({
                "responses": all.values::<Value>().unwrap_or_default(),
                "expected": all.expected,
                "timedOut": all.timed_out,
            }))
        }
        Err(err) => ack.send(&json!({ "error": err.to_string() })),
    };
}

#[event("stats")]
async fn stats(ack: AckSender, State(adapter): State<Adapter>) {
    let stats = match adapter {
        Adapter::None => None,
        Adapter::PubSub(a) => Some(a.stats()),
        Adapter::Streams(a) => Some(a.stats()),
    };
    let _ = match stats {
        Some(s) => ack.send(&json!({
            "published": s.published,
            "dropped": s.dropped,
            "received": s.received,
            "malformed": s.malformed,
            "resubscribed": s.resubscribed,
        })),
        None => ack.send(&Value::Null),
    };
}

#[event("recovered")]
async fn recovered(socket: Socket, ack: AckSender) {
    let _ = ack.send(&socket.recovered());
}

/// Server-side events of other nodes: `ping-nodes` is answered with this node's name; the
/// rest are handed to this node's sockets.
fn on_server_event(node: NodeName) -> impl Fn(ServerEvent) -> std::future::Ready<()> + Clone {
    move |mut ev: ServerEvent| {
        if ev.event() == "ping-nodes" {
            let _ = ev.reply(&*node.0);
        } else {
            let ns: &Arc<Namespace> = ev.namespace();
            let data = ev.data::<Value>().unwrap_or(Value::Null);
            let _ = ns.local().emit(
                "server-event",
                &json!({ "event": ev.event(), "data": data, "node": &*node.0 }),
            );
            let _ = ev.reply(&json!({ "node": &*node.0, "got": data }));
        }
        std::future::ready(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    realtime::logging::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3101);
    let node = NodeName(
        std::env::var("NODE_NAME")
            .unwrap_or_else(|_| format!("node-{port}"))
            .into(),
    );
    let adapter = match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        None => Adapter::None,
        Some(url) if std::env::var("REDIS_ADAPTER").is_ok_and(|a| a == "streams") => {
            Adapter::Streams(RedisStreamsAdapter::new(&url)?)
        }
        Some(url) => Adapter::PubSub(RedisAdapter::new(&url)?),
    };
    let handler = on_server_event(node.clone());
    let mut builder = Realtime::builder()
        .allow_eio3(true) // socket.io-client 2.x clients connect too
        .state(node.clone())
        .state(adapter.clone())
        .namespace("/", |ns| {
            ["ping-nodes", "hello", "news"]
                .into_iter()
                .fold(ns, |ns, event| ns.on_server_event(event, handler.clone()))
        });
    builder = match adapter {
        Adapter::None => builder,
        Adapter::PubSub(a) => builder.adapter(a),
        Adapter::Streams(a) => builder.adapter(a),
    };
    if std::env::var("CONNECTION_STATE_RECOVERY").is_ok_and(|v| v == "1") {
        builder = builder.connection_state_recovery(realtime::config::Recovery::default());
    }
    let rt = builder.build()?;
    tracing::info!(node = &*node.0, port, "cluster node listening");
    rt.serve(("0.0.0.0", port)).await?;
    Ok(())
}
