// Connection state recovery (socket.io 4.6+) with the npm socket.io-client 4.8, which
// implements it: a client cut off at the TCP level (no clean close) while the server
// broadcasts reconnects and gets every missed message exactly once, in order, before new
// ones, with `recovered` true, the same socket id and its rooms. Against the interop server
// with CONNECTION_STATE_RECOVERY=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { connected, emitAck, sleep, startServer, withTimeout } from '../lib/harness.mjs';

/** Cuts a connected client's TCP connection without a WebSocket close. */
function cut(socket) {
  const ws = socket.io.engine.transport.ws;
  (ws._socket ?? ws._req?.socket)?.destroy();
}

/** Every room-message data the client received, in order. */
function collect(socket) {
  const seen = [];
  socket.on('room-message', msg => seen.push(msg.data));
  return seen;
}

describe('connection state recovery', () => {
  let server;
  before(async () => { server = await startServer({ env: { CONNECTION_STATE_RECOVERY: '1' } }); });
  after(async () => { await server?.stop(); });

  const client = () => io(server.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });

  test('a client cut off gets what it missed, once, in order, with its id and rooms', async () => {
    const a = client();
    const b = client();
    await Promise.all([connected(a), connected(b)]);
    const id = a.id;
    assert.deepEqual((await emitAck(a, 'join', 'r'))[0].rooms, ['r']);
    const seen = collect(a);
    await emitAck(b, 'to-room', { room: 'r', data: 0 });
    await withTimeout((async () => { while (!seen.length) await sleep(10); })(), 5000, 'first message');

    const reconnected = new Promise(resolve => a.io.once('reconnect', resolve));
    cut(a);
    await withTimeout(new Promise(resolve => a.once('disconnect', resolve)), 5000, 'client disconnect');
    await sleep(100); // the server notices the close
    for (let i = 1; i <= 5; i++) await emitAck(b, 'to-room', { room: 'r', data: i });
    await withTimeout(reconnected, 10000, 'reconnect');
    await connected(a);
    assert.equal(a.recovered, true, 'the client says it recovered');
    assert.equal(a.id, id, 'same socket id');
    assert.equal((await emitAck(a, 'recovered'))[0], true, 'the server says so too');
    await emitAck(b, 'to-room', { room: 'r', data: 6 });
    await withTimeout((async () => { while (seen.length < 7) await sleep(10); })(), 5000, 'every message');
    await sleep(200);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6], 'each once, in order, missed ones before new ones');
    a.disconnect();
    b.disconnect();
  });

  test('a client with an unknown pid connects as a new socket', async () => {
    const a = io(server.url, { transports: ['websocket'], forceNew: true, auth: { pid: 'nope', offset: '1' } });
    await connected(a);
    assert.equal(a.recovered, false);
    assert.equal((await emitAck(a, 'recovered'))[0], false);
    a.disconnect();
  });

  test('a deliberate disconnect is not recovered', async () => {
    const a = client();
    await connected(a);
    const id = a.id;
    a.disconnect();
    await sleep(100);
    a.connect();
    await connected(a);
    assert.notEqual(a.id, id);
    assert.equal(a.recovered, false);
    a.disconnect();
  });
});
