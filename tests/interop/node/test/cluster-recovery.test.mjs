// A cluster on the Redis streams adapter, wire-compatible with Node's
// @socket.io/redis-streams-adapter 0.3, and connection state recovery across its nodes: a
// client cut off at the TCP level on one node comes back to ANOTHER node (Rust or Node
// socket.io 4.8) and gets every broadcast it missed exactly once, in order, before new
// ones, with its socket id and rooms. Plus the cluster operations of the streams format
// between Rust and Node nodes. Two Rust nodes (examples/cluster_node.rs with
// REDIS_ADAPTER=streams) and one Node node (lib/node-cluster-node.mjs with
// ADAPTER=streams), all with recovery on, on a private redis-server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import { connected, emitAck, freePort, sleep, withTimeout } from '../lib/harness.mjs';
import { connectClient, eventually, startNodeNode, startRedis, startRustNode } from '../lib/cluster.mjs';

const RECOVERY = { CONNECTION_STATE_RECOVERY: '1' };

/**
 * A TCP proxy in front of one node at a time: `cut()` destroys every connection through it
 * (a TCP-level cut, no WebSocket close), `switchTo(port)` sends new connections to another
 * node, so a reconnecting client lands there.
 */
async function startProxy(targetPort) {
  const conns = new Set();
  let target = targetPort;
  const server = net.createServer(client => {
    const upstream = net.connect(target, '127.0.0.1');
    const pair = [client, upstream];
    conns.add(pair);
    const drop = () => { client.destroy(); upstream.destroy(); conns.delete(pair); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await freePort();
  await new Promise(resolve => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    switchTo(p) { target = p; },
    cut() { for (const [c, u] of conns) { c.resetAndDestroy?.() ?? c.destroy(); u.destroy(); } conns.clear(); },
    close() { this.cut(); server.close(); },
  };
}

/** A client through `proxy` that records every `msg` it receives. */
function recoveringClient(proxy, name) {
  const socket = io(proxy.url, { transports: ['websocket'], forceNew: true, auth: { name }, reconnectionDelay: 200, reconnectionDelayMax: 300 });
  const seen = [];
  socket.on('msg', data => seen.push(data));
  return { socket, seen };
}

async function waitLength(list, n, what, ms = 8000) {
  await withTimeout((async () => { while (list.length < n) await sleep(10); })(), ms, what);
}

describe('cluster on the Redis streams adapter, with connection state recovery', () => {
  let redis, a, b, node;
  before(async () => {
    redis = await startRedis();
    const env = { REDIS_ADAPTER: 'streams', ...RECOVERY };
    [a, b] = await Promise.all([startRustNode('a', redis.url, env), startRustNode('b', redis.url, env)]);
    node = await startNodeNode('n', redis.url, { ADAPTER: 'streams', ...RECOVERY });
    // Every node subscribed (the Node node reads the stream once its clients are up).
    const probe = await connectClient(a, 'probe');
    await eventually(async () => (await probe.ask('server-count'))?.count === 3, 'three nodes');
    probe.close();
    await sleep(300);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), node?.stop()]);
    await redis?.kill();
  });

  /**
   * A client on `from` in room `r` is cut off while `sender` broadcasts to the room, and
   * comes back through the proxy to `to`.
   */
  async function recoverAcross(from, to, sender, room) {
    const proxy = await startProxy(from.port);
    const x = recoveringClient(proxy, `x-${room}`);
    await connected(x.socket);
    const id = x.socket.id;
    assert.ok((await emitAck(x.socket, 'join', room))[0].includes(room), 'joined');
    const s = await connectClient(sender, `s-${room}`);
    const send = async i => assert.equal(await s.ask('broadcast', { rooms: [room], event: 'msg', data: i }), true);
    await send(0);
    await waitLength(x.seen, 1, 'first message');

    const reconnected = new Promise(resolve => x.socket.io.once('reconnect', resolve));
    proxy.switchTo(to.port);
    proxy.cut();
    await withTimeout(new Promise(resolve => x.socket.once('disconnect', resolve)), 5000, 'client disconnect');
    await sleep(150); // the old node notices the close and stores the session
    for (let i = 1; i <= 5; i++) await send(i);
    await withTimeout(reconnected, 10000, 'reconnect');
    await connected(x.socket);
    assert.equal(x.socket.recovered, true, `the client says it recovered (on ${to.name})`);
    assert.equal(x.socket.id, id, 'same socket id');
    assert.equal((await emitAck(x.socket, 'recovered'))[0], true, `${to.name} says so too`);
    await send(6);
    await waitLength(x.seen, 7, `every message (got ${JSON.stringify(x.seen)})`);
    await sleep(300);
    assert.deepEqual(x.seen, [0, 1, 2, 3, 4, 5, 6], 'each once, in order, missed ones before new ones');
    // The room came along: a broadcast from the new node's side reaches it.
    const local = await connectClient(to, `t-${room}`);
    assert.equal(await local.ask('broadcast', { rooms: [room], event: 'msg', data: 7 }), true);
    await waitLength(x.seen, 8, 'a broadcast to its room on the new node');
    x.socket.disconnect();
    s.close();
    local.close();
    proxy.close();
  }

  test('Rust node → another Rust node', async () => { await recoverAcross(a, b, b, 'rr'); });
  test('Rust node → the Node node (sender on the Node node)', async () => { await recoverAcross(a, node, node, 'rn'); });
  test('the Node node → a Rust node (sender on the other Rust node)', async () => { await recoverAcross(node, a, b, 'nr'); });

  test('an unknown pid or a vanished offset is a new socket on any node', async () => {
    for (const n of [a, node]) {
      const c = io(n.url, { transports: ['websocket'], forceNew: true, auth: { pid: 'nope', offset: '1-0' } });
      await connected(c);
      assert.equal(c.recovered, false, n.name);
      c.disconnect();
    }
  });

  test('broadcasts, rooms, fetchSockets and server-side emits between Rust and Node nodes', async () => {
    const ra = await connectClient(a, 'ra');
    const rb = await connectClient(b, 'rb');
    const nn = await connectClient(node, 'nn');
    for (const c of [ra, rb, nn]) await c.ask('join', 'ops');
    // A broadcast from each kind of node reaches the clients of every node.
    assert.equal(await nn.ask('broadcast', { rooms: ['ops'], event: 'news', data: 'from node' }), true);
    assert.equal(await ra.ask('broadcast', { rooms: ['ops'], event: 'news', data: 'from rust', binary: true }), true);
    for (const c of [ra, rb, nn]) {
      await c.waitFor('news', d => d === 'from node');
      const [data, bin] = await c.waitFor('news', d => d === 'from rust');
      assert.equal(data, 'from rust');
      assert.deepEqual([...new Uint8Array(bin)], [1, 2, 3], `binary argument on ${c.node}`);
    }
    // fetchSockets from a Rust node sees the Node node's socket, and the other way round.
    const fromRust = await ra.ask('fetch', { rooms: ['ops'] });
    assert.deepEqual(fromRust.sockets.map(s => s.id).sort(), [ra.id, rb.id, nn.id].sort());
    assert.equal(fromRust.sockets.find(s => s.id === nn.id).data.node, 'n');
    const fromNode = await nn.ask('fetch', { rooms: ['ops'] });
    assert.deepEqual(fromNode.sockets.map(s => s.id).sort(), [ra.id, rb.id, nn.id].sort());
    // A remote join issued on the Node node reaches a Rust node's socket.
    assert.equal(await nn.ask('remote-join', { rooms: [ra.id], room: 'joined' }), true);
    await eventually(async () => {
      const found = await rb.ask('fetch', { rooms: ['joined'] });
      return found.sockets.length === 1 && found.sockets[0].id === ra.id;
    }, 'ra in room "joined"');
    // Server-side emit with acks: each other node answers once.
    const answers = await ra.ask('server-emit-ack', { event: 'ping-nodes', data: null });
    assert.equal(answers.ok, true, JSON.stringify(answers));
    assert.deepEqual(answers.responses.sort(), ['b', 'n']);
    // Broadcast with acks from a Rust node: every other client answers, on every node.
    const acks = await ra.ask('broadcast-ack', { rooms: ['ops'], event: 'question', data: 'q', timeoutMs: 3000 });
    assert.equal(acks.timedOut, false, JSON.stringify(acks));
    assert.deepEqual(acks.responses.map(r => r.from).sort(), ['nn', 'rb']);
    for (const c of [ra, rb, nn]) c.close();
  });
});
