// Plain WebSocket clients (the `ws` package) on /ws: JSON frames, raw text, acks both ways,
// binary inlined as base64, refusals, and broadcasts shared with Socket.IO clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { startServer, connected, emitAck, collect, sleep, withTimeout } from '../lib/harness.mjs';

let server;
const open = [];
before(async () => { server = await startServer(); });
after(async () => {
  for (const c of open) { try { c.terminate?.(); c.disconnect?.(); } catch { /* closed */ } }
  await server?.stop();
});

/** A plain client with a queue of received frames (text, parsed when JSON). */
async function plain(query = '') {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws${query}`);
  open.push(ws);
  const frames = [];
  const waiters = new Set();
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? data : data.toString();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    frames.push({ text, json });
    for (const w of waiters) w();
  });
  const closed = new Promise(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'plain websocket open');
  return {
    ws,
    frames,
    closed,
    send: v => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
    /** The first frame (removed from the queue) matching pred; waits up to 5 s. */
    next(pred, what = 'a frame') {
      return withTimeout(new Promise(resolve => {
        const check = () => {
          const i = frames.findIndex(pred);
          if (i >= 0) { waiters.delete(check); resolve(frames.splice(i, 1)[0]); }
        };
        waiters.add(check);
        check();
      }), 5000, what);
    },
    /** The first JSON frame whose first element is `event`. */
    async event(event) {
      return (await this.next(f => Array.isArray(f.json) && f.json[0] === event, `frame ["${event}", ...]`)).json;
    },
  };
}

test('welcome on connect, ["echo", data] → ["echo", data]', async () => {
  const c = await plain();
  const [, welcome] = await c.event('welcome');
  assert.equal(welcome.ns, '/');
  assert.match(welcome.id, /^[A-Za-z0-9_-]{20}$/);
  assert.deepEqual(welcome.auth, {});
  c.send(['echo', { hello: 'plain', list: [1, 2, 3], unicode: 'héllo 🎉' }]);
  assert.deepEqual(await c.event('echo'), ['echo', { hello: 'plain', list: [1, 2, 3], unicode: 'héllo 🎉' }]);
  c.send(['echo']);
  assert.deepEqual(await c.event('echo'), ['echo']);
});

test('a burst of frames is handled in the order sent', async () => {
  const c = await plain();
  await c.event('welcome');
  for (let i = 0; i < 100; i++) c.send(['echo', i]);
  await withTimeout((async () => { while (c.frames.length < 100) await sleep(20); })(), 5000, '100 echoes');
  assert.deepEqual(c.frames.map(f => f.json[1]), Array.from({ length: 100 }, (_, i) => i));
});

test('raw text → raw text reply', async () => {
  const c = await plain();
  c.send('hello');
  const reply = await c.next(f => f.text === 'HELLO!!!', 'raw reply HELLO!!!');
  assert.equal(reply.text, 'HELLO!!!');
  c.send('mixed Case');
  assert.equal((await c.next(f => typeof f.text === 'string' && f.text.endsWith('!!!'), 'second raw reply')).text, 'MIXED CASE!!!');
});

test('binary frame → event "message" with the bytes (echoed back as base64)', async () => {
  const c = await plain();
  await c.event('welcome');
  c.ws.send(Buffer.from([1, 2, 3]));
  assert.deepEqual(await c.event('message'), ['message', { base64: 'AQID' }]);
});

test('client → server ack: ["ack-echo", data, id] → ["$ack", id, data]', async () => {
  const c = await plain();
  c.send(['ack-echo', { n: 1 }, 7]);
  assert.deepEqual(await c.event('$ack'), ['$ack', 7, { n: 1 }]);
  c.send(['add', { a: 20, b: 22 }, 8]);
  assert.deepEqual(await c.event('$ack'), ['$ack', 8, { sum: 42 }]);
  c.send(['sum', 'wrong shape', 9]);
  const [, id, err] = await c.event('$ack');
  assert.equal(id, 9);
  assert.match(err.error, /invalid payload for event "sum"/);
});

test('server → client ack answered with ["$ack", id, reply]', async () => {
  const c = await plain();
  c.send(['server-ack', { event: 'ask', data: { q: 1 }, timeoutMs: 2000 }, 3]);
  const ask = await c.event('ask');
  assert.equal(ask.length, 3, `["ask", data, ackId], got ${JSON.stringify(ask)}`);
  assert.deepEqual(ask[1], { q: 1 });
  assert.equal(typeof ask[2], 'number');
  c.send(['$ack', ask[2], 'my answer']);
  assert.deepEqual(await c.event('$ack'), ['$ack', 3, { ok: true, reply: 'my answer' }]);
});

test('server → client ack never answered: the server times out', async () => {
  const c = await plain();
  c.send(['server-ack', { event: 'ask', data: 'ignored', timeoutMs: 300 }]);
  const ask = await c.event('ask');
  assert.equal(typeof ask[2], 'number');
  const [, report] = await c.event('server-ack-result');
  assert.equal(report.ok, false);
  assert.equal(report.timeout, true);
  assert.match(report.error, /no ack within/);
});

test('binary from the server arrives inline as {"base64": ...}', async () => {
  const c = await plain();
  c.send(['binary-from-server']);
  assert.deepEqual(await c.event('binary-from-server'), [
    'binary-from-server',
    'server',
    { base64: 'AQID' },
    { nested: { buf: { base64: 'BAUG' } }, list: ['x', { base64: 'Bwg=' }] },
  ]);
});

test('numeric event name and the compact form', async () => {
  const c = await plain();
  c.send([1, 'x']);
  assert.deepEqual(await c.event('numeric'), ['numeric', { event: '1', args: ['x'] }]);
  c.send(['m', ['echo', 'compact']]);
  assert.deepEqual(await c.event('echo'), ['echo', 'compact']);
  c.send(['m', ['ack-echo', 'compact-ack'], 4]);
  assert.deepEqual(await c.event('$ack'), ['$ack', 4, 'compact-ack']);
});

test('refused namespace: ["$error", {...}] then close 1008', async () => {
  const c = await plain('?ns=/admin');
  const [, err] = await c.event('$error');
  assert.deepEqual(err, { message: 'not authorized', data: { reason: 'bad token' } });
  const { code } = await withTimeout(c.closed, 5000, 'close');
  assert.equal(code, 1008);
});

test('unknown namespace: ["$error", {message: "Invalid namespace"}] then close 1008', async () => {
  const c = await plain('?ns=/nope');
  const [, err] = await c.event('$error');
  assert.equal(err.message, 'Invalid namespace');
  assert.equal((await withTimeout(c.closed, 5000, 'close')).code, 1008);
});

test('/custom namespace via ?ns=', async () => {
  const c = await plain('?ns=/custom');
  const [, welcome] = await c.event('welcome');
  assert.equal(welcome.ns, '/custom');
  c.send(['echo', 'in custom']);
  assert.deepEqual(await c.event('echo'), ['echo', 'in custom']);
});

test('malformed frame closes with 1007', async () => {
  const c = await plain();
  await c.event('welcome');
  c.send([{}]);
  const { code } = await withTimeout(c.closed, 5000, 'close');
  assert.equal(code, 1007);
});

test('server-forced disconnect closes the plain connection', async () => {
  const c = await plain();
  await c.event('welcome');
  c.send(['disconnect-me']);
  const { code } = await withTimeout(c.closed, 5000, 'close');
  assert.ok(code >= 1000, `closed with code ${code}`);
});

test('rooms are shared between plain and Socket.IO clients', async () => {
  const p = await plain();
  await p.event('welcome');
  const sio = io(server.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  open.push(sio);
  await connected(sio);
  const sioGot = collect(sio, 'room-message');

  p.send(['join', 'mixed', 1]);
  assert.deepEqual(await p.event('$ack'), ['$ack', 1, { rooms: ['mixed'] }]);
  assert.deepEqual(await emitAck(sio, 'join', 'mixed'), [{ rooms: ['mixed'] }]);

  // Socket.IO → plain
  await emitAck(sio, 'to-room', { room: 'mixed', data: { from: 'sio' } });
  const [, msg] = await p.event('room-message');
  assert.deepEqual(msg, { room: 'mixed', from: sio.id, data: { from: 'sio' } });

  // plain → Socket.IO (and not back to the plain sender)
  p.send(['to-room', { room: 'mixed', data: 'from plain' }, 2]);
  assert.deepEqual(await p.event('$ack'), ['$ack', 2, 'sent']);
  await withTimeout((async () => { while (sioGot.length < 1) await sleep(20); })(), 5000, 'Socket.IO client to receive');
  assert.equal(sioGot[0][0].data, 'from plain');
  await sleep(200);
  assert.equal(p.frames.filter(f => Array.isArray(f.json) && f.json[0] === 'room-message').length, 0, 'the plain sender is excluded');
  sio.disconnect();
});
