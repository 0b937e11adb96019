//! Rooms and broadcast targeting. Absence is checked without sleeping: after the broadcast
//! under test, a sentinel event goes to everyone; since each connection keeps its order, what a
//! client reads before the sentinel is exactly what the broadcast delivered to it.

mod common;

use std::sync::Arc;

use common::*;
use realtime::{Codec, Namespace, Payload, Room, Socket};
use serde_json::json;

async fn clients(server: &Server, nsp: &str, n: usize) -> Vec<(Ws, Socket)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (ws, sid) = sio_ws(server, nsp).await;
        out.push((ws, server.socket(nsp, &sid)));
    }
    out
}

fn ns(server: &Server) -> Arc<Namespace> {
    server.rt.of("/").unwrap()
}

/// Emits the sentinel to all of `/` and returns, per client, what it got before it.
async fn received(server: &Server, clients: &mut [(Ws, Socket)]) -> Vec<Vec<String>> {
    ns(server).emit("sentinel", &0).unwrap();
    let mut out = Vec::new();
    for (ws, _) in clients.iter_mut() {
        let mut got = Vec::new();
        loop {
            let t = ws.recv_text().await;
            if t == r#"42["sentinel",0]"# {
                break;
            }
            got.push(t);
        }
        out.push(got);
    }
    out
}

fn sorted(mut rooms: Vec<Room>) -> Vec<String> {
    rooms.sort();
    rooms.iter().map(|r| r.to_string()).collect()
}

const M1: &str = r#"42["m",1]"#;

#[tokio::test]
async fn join_leave_and_emit_to_a_room() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 2).await;
    let (a, b) = (c[0].1.clone(), c[1].1.clone());

    a.join("r");
    assert_eq!(sorted(a.rooms()), ["r"]);
    assert!(b.rooms().is_empty());
    assert_eq!(sorted(ns(&server).rooms()), ["r"]);
    ns(&server).to("r").emit("m", &1).unwrap();
    assert_eq!(received(&server, &mut c).await, vec![vec![M1], vec![]]);

    a.leave("r");
    assert!(a.rooms().is_empty());
    assert!(ns(&server).rooms().is_empty());
    ns(&server).to("r").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![Vec::<String>::new(), vec![]]
    );

    b.join(["x", "y"]);
    assert_eq!(sorted(b.rooms()), ["x", "y"]);
    b.leave_all();
    assert!(b.rooms().is_empty());
    assert!(ns(&server).rooms().is_empty());
}

#[tokio::test]
async fn emit_to_several_rooms_reaches_each_member_exactly_once() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 4).await;
    c[0].1.join("r1");
    c[1].1.join("r2");
    c[2].1.join(["r1", "r2"]);

    ns(&server).to(["r1", "r2"]).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![M1], vec![M1], vec![]]
    );
    ns(&server).to("r1").to("r2").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![M1], vec![M1], vec![]]
    );
    assert_eq!(ns(&server).to(["r1", "r2"]).sockets().len(), 3);
}

#[tokio::test]
async fn emit_to_all() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 3).await;
    c[0].1.join("r");
    ns(&server).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![M1], vec![M1]]
    );
    assert_eq!(ns(&server).socket_count(), 3);
    assert_eq!(ns(&server).sockets().len(), 3);
}

#[tokio::test]
async fn broadcasts_from_a_socket_exclude_the_sender() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 3).await;
    let a = c[0].1.clone();
    a.join("r");
    c[1].1.join("r");

    a.broadcast().emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![M1]]
    );
    a.to("r").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![]]
    );
    // `within` includes the sender when it is a member.
    a.within("r").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![M1], vec![]]
    );
}

#[tokio::test]
async fn except_rooms_are_skipped() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 4).await;
    c[0].1.join("r1");
    c[1].1.join("r2");
    c[2].1.join(["r1", "r2"]);

    ns(&server).except("r1").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![], vec![M1]]
    );
    ns(&server).to("r2").except("r1").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![], vec![]]
    );
    c[3].1.broadcast().except("r2").emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![], vec![], vec![]]
    );
}

#[tokio::test]
async fn emit_to_a_socket_id_reaches_only_that_socket() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 3).await;
    let b = c[1].1.id();

    ns(&server).to(b).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![]]
    );
    ns(&server).to(b.as_str()).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![]]
    );
    // A socket id together with a room the socket is in: still once.
    c[1].1.join("r");
    ns(&server).to(["r", b.as_str()]).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![]]
    );
    // From another socket (a private message).
    c[0].1.to(b).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![], vec![M1], vec![]]
    );
    // Excepting a socket id.
    ns(&server).except(b).emit("m", &1).unwrap();
    assert_eq!(
        received(&server, &mut c).await,
        vec![vec![M1], vec![], vec![M1]]
    );
}

#[tokio::test]
async fn volatile_emits_are_delivered_when_the_queue_has_room() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 2).await;
    c[0].1.join("r");
    ns(&server).to("r").volatile().emit("m", &1).unwrap();
    assert_eq!(received(&server, &mut c).await, vec![vec![M1], vec![]]);
    c[1].1.emit_volatile("m", &1).unwrap();
    assert_eq!(received(&server, &mut c).await, vec![vec![], vec![M1]]);
}

#[tokio::test]
async fn rooms_are_cleaned_up_on_disconnect() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 2).await;
    let (a, b) = (c[0].1.clone(), c[1].1.clone());
    a.join(["r1", "r2"]);
    b.join("r2");
    assert_eq!(sorted(ns(&server).rooms()), ["r1", "r2"]);

    // The connection goes away.
    let (ws_a, _) = c.remove(0);
    drop(ws_a);
    wait_until("a's rooms are gone", || {
        sorted(ns(&server).rooms()) == ["r2"]
    })
    .await;
    wait_until("a left the namespace", || ns(&server).socket_count() == 1).await;
    assert!(!a.connected());
    assert!(a.rooms().is_empty());

    // The client leaves the namespace (DISCONNECT).
    c[0].0.send_text("41").await;
    wait_until("every room is gone", || ns(&server).rooms().is_empty()).await;
    assert_eq!(ns(&server).socket_count(), 0);
    assert!(b.rooms().is_empty());
}

#[tokio::test]
async fn broadcast_operator_selects_joins_leaves_and_disconnects() {
    let _logs = init();
    let server = serve(echo_server(config())).await;
    let mut c = clients(&server, "/", 3).await;
    c[0].1.join("r");
    c[1].1.join("r");

    let mut ids: Vec<String> = ns(&server)
        .to("r")
        .sockets()
        .iter()
        .map(|s| s.id().to_string())
        .collect();
    ids.sort();
    let mut expected = vec![c[0].1.id().to_string(), c[1].1.id().to_string()];
    expected.sort();
    assert_eq!(ids, expected);

    ns(&server).to("r").join("r2");
    assert_eq!(sorted(c[1].1.rooms()), ["r", "r2"]);
    ns(&server).to("r2").except(c[1].1.id()).leave("r");
    assert_eq!(sorted(c[0].1.rooms()), ["r2"]);
    assert_eq!(sorted(c[1].1.rooms()), ["r", "r2"]);

    ns(&server).to("r").disconnect();
    assert_eq!(c[1].0.recv_text().await, "41");
    wait_until("the socket left", || ns(&server).socket_count() == 2).await;
    // The others are untouched, and the disconnected client's session stays open.
    assert_eq!(
        received(&server, &mut c[..1]).await,
        vec![Vec::<String>::new()]
    );
    sio_connect_on(&mut c[1].0, "/").await;
    assert_sio_echo(&mut c[1].0, "rejoined").await;
}

#[tokio::test]
async fn a_broadcast_reaches_socketio_and_plain_websocket_clients_alike() {
    let _logs = init();
    let server = serve(echo_server(config()).namespace("/chat", echo_ns)).await;
    let (mut sio, _) = sio_ws(&server, "/").await;
    let mut plain = plain_ws(&server, "").await;
    assert_plain_echo(&mut plain, "ready").await;
    let (mut sio_chat, _) = sio_ws(&server, "/chat").await;
    let mut plain_chat = plain_ws(&server, "?ns=/chat").await;
    assert_plain_echo(&mut plain_chat, "ready").await;

    ns(&server).emit("news", &json!({"a": 1})).unwrap();
    assert_eq!(sio.recv_text().await, r#"42["news",{"a":1}]"#);
    assert_eq!(plain.recv_text().await, r#"["news",{"a":1}]"#);

    // Several arguments and binary: attachments for Socket.IO, inline base64 for plain.
    let payload = Payload::new().arg("x").unwrap().binary_arg(vec![1u8, 2]);
    ns(&server).emit_payload("file", &payload).unwrap();
    assert_eq!(
        sio.recv_text().await,
        r#"451-["file","x",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(sio.recv_bin().await, [1, 2]);
    assert_eq!(plain.recv_text().await, r#"["file","x",{"base64":"AQI="}]"#);

    // Rooms work for plain clients too.
    let plain_socket = ns(&server)
        .sockets()
        .into_iter()
        .find(|s| s.codec() == Codec::Plain)
        .expect("plain socket");
    plain_socket.join("r");
    ns(&server).to("r").emit("room-only", &2).unwrap();
    ns(&server).emit("sentinel", &0).unwrap();
    assert_eq!(plain.recv_text().await, r#"["room-only",2]"#);
    assert_eq!(plain.recv_text().await, r#"["sentinel",0]"#);
    assert_eq!(sio.recv_text().await, r#"42["sentinel",0]"#);

    // Another namespace.
    server.rt.of("/chat").unwrap().emit("news", &3).unwrap();
    assert_eq!(sio_chat.recv_text().await, r#"42/chat,["news",3]"#);
    assert_eq!(plain_chat.recv_text().await, r#"["news",3]"#);
}
