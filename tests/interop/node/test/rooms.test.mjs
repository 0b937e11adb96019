// Rooms: join, broadcast to a room reaches its members only (not the sender), leave.
// The clients use different transports, so the broadcast crosses them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, connected, emitAck, collect, sleep, withTimeout } from '../lib/harness.mjs';

let server;
const sockets = [];
function client(opts = {}) {
  const socket = io(server.url, { forceNew: true, reconnection: false, ...opts });
  sockets.push(socket);
  return socket;
}
const until = (cond, what) => withTimeout((async () => { while (!cond()) await sleep(20); })(), 5000, what);

before(async () => { server = await startServer(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await server?.stop();
});

test('room broadcast reaches members only, except the sender', async () => {
  const a = client({ transports: ['websocket'] });
  const b = client({ transports: ['polling'] });
  const c = client(); // polling, then upgrade
  await Promise.all([connected(a), connected(b), connected(c)]);
  const got = { a: collect(a, 'room-message'), b: collect(b, 'room-message'), c: collect(c, 'room-message') };

  assert.deepEqual(await emitAck(a, 'join', 'r1'), [{ rooms: ['r1'] }]);
  assert.deepEqual(await emitAck(b, 'join', 'r1'), [{ rooms: ['r1'] }]);
  assert.deepEqual(await emitAck(c, 'join', 'other'), [{ rooms: ['other'] }]);

  // A (member) sends to r1: B receives, A (sender) and C (not a member) do not.
  assert.deepEqual(await emitAck(a, 'to-room', { room: 'r1', data: 'hello r1' }), ['sent']);
  await until(() => got.b.length === 1, 'B to receive the room message');
  await sleep(300);
  assert.deepEqual(got.b, [[{ room: 'r1', from: a.id, data: 'hello r1' }]]);
  assert.equal(got.a.length, 0, 'the sender is excluded');
  assert.equal(got.c.length, 0, 'non-members receive nothing');

  // C (not a member) sends to r1: both members receive it.
  await emitAck(c, 'to-room', { room: 'r1', data: { from: 'outside' } });
  await until(() => got.a.length === 1 && got.b.length === 2, 'A and B to receive the message from outside');
  assert.deepEqual(got.a[0], [{ room: 'r1', from: c.id, data: { from: 'outside' } }]);
  assert.deepEqual(got.b[1], [{ room: 'r1', from: c.id, data: { from: 'outside' } }]);

  // B leaves: only A gets the next one (sent by C).
  assert.deepEqual(await emitAck(b, 'leave', 'r1'), [{ rooms: [] }]);
  await emitAck(c, 'to-room', { room: 'r1', data: 'after leave' });
  await until(() => got.a.length === 2, 'A to receive the message after B left');
  await sleep(300);
  assert.equal(got.b.length, 2, 'B left the room');
  assert.equal(got.c.length, 0);
});

test('a socket id is a room: to(socketId) reaches that socket only', async () => {
  const a = client({ transports: ['websocket'] });
  const b = client({ transports: ['websocket'] });
  await Promise.all([connected(a), connected(b)]);
  const got = collect(b, 'room-message');
  const gotA = collect(a, 'room-message');
  await emitAck(a, 'to-room', { room: b.id, data: 'direct' });
  await until(() => got.length === 1, 'B to receive the direct message');
  await sleep(200);
  assert.deepEqual(got, [[{ room: b.id, from: a.id, data: 'direct' }]]);
  assert.equal(gotA.length, 0);
});

test('a disconnected member no longer receives room broadcasts', async () => {
  const a = client({ transports: ['websocket'] });
  const b = client({ transports: ['websocket'] });
  const c = client({ transports: ['websocket'] });
  await Promise.all([connected(a), connected(b), connected(c)]);
  await emitAck(a, 'join', 'r2');
  await emitAck(b, 'join', 'r2');
  const gotA = collect(a, 'room-message');
  b.disconnect();
  await sleep(200);
  await emitAck(c, 'to-room', { room: 'r2', data: 'after disconnect' });
  await until(() => gotA.length === 1, 'A to receive the message');
  assert.deepEqual(gotA[0][0].data, 'after disconnect');
});
