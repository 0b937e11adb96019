// socket.io-client 2.x (npm `socket.io-client@2.5.0`, installed as `socket.io-client-v2`):
// Engine.IO v3 / Socket.IO protocol v4, the client the seeds' pages load, against the interop
// server (examples/interop.rs turns on `allow_eio3`). Each scenario runs on polling only,
// WebSocket only, and polling upgraded to WebSocket; then namespaces with middleware, rooms
// shared with a 4.x client, a heartbeat longer than pingInterval, and the client bundle the
// server serves at /socket.io/socket.io.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { io as ioV4 } from 'socket.io-client';
import { startServer, once, connected, emitAck, sleep, withTimeout, bytes, isBinary } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);
const ioV2 = require('socket.io-client-v2');
const V2_VERSION = require('socket.io-client-v2/package.json').version;

let server;
const sockets = [];

/** A 2.x client of namespace `nsp`, never reconnecting. */
function v2(nsp = '/', opts = {}) {
  const socket = ioV2(server.url + nsp, { forceNew: true, reconnection: false, ...opts });
  sockets.push(socket);
  return socket;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const s of sockets) s.close();
  await server?.stop();
});

test('the client under test is socket.io-client 2.5.0 (Socket.IO protocol v4)', () => {
  assert.equal(V2_VERSION, '2.5.0');
  assert.equal(ioV2.protocol, 4);
});

const TRANSPORTS = {
  'polling only': { transports: ['polling'], final: 'polling' },
  'websocket only': { transports: ['websocket'], final: 'websocket' },
  'polling upgraded to websocket': { transports: ['polling', 'websocket'], final: 'websocket' },
};

for (const [name, { transports, final }] of Object.entries(TRANSPORTS)) {
  test(`connect, events and acks both ways (${name})`, async () => {
    const socket = v2('/', { transports });
    const welcome = once(socket, 'welcome');
    await connected(socket);
    const [w] = await welcome;
    assert.equal(w.ns, '/');
    assert.deepEqual(w.auth, {});
    if (transports.length === 2 && socket.io.engine.transport.name !== 'websocket') {
      await once(socket.io.engine, 'upgrade');
    }

    // Client → server event, server → client event, with non-ASCII text (UTF-16 lengths).
    const echo = once(socket, 'echo');
    socket.emit('echo', 'hé 😀', { n: 1, list: [true, null] });
    assert.deepEqual(await echo, ['hé 😀', { n: 1, list: [true, null] }]);

    // Client asks for an ack.
    assert.deepEqual(await emitAck(socket, 'ack-echo', 1, 'two', { three: 3 }), [1, 'two', { three: 3 }]);
    assert.deepEqual(await emitAck(socket, 'add', { a: 2, b: 40 }), [{ sum: 42 }]);

    // Server asks for an ack.
    socket.on('ask', (data, reply) => reply({ got: data }));
    const [report] = await emitAck(socket, 'server-ack', { data: 'question', timeoutMs: 3000 });
    assert.deepEqual(report, { ok: true, reply: { got: 'question' } });

    assert.equal(socket.io.engine.transport.name, final);
  });

  test(`binary both ways (${name})`, async () => {
    const socket = v2('/', { transports });
    await connected(socket);

    // Client → server binary (top level and nested), echoed back as binary.
    const back = once(socket, 'binary');
    const [ack] = await emitAck(socket, 'binary', Buffer.from([1, 2, 3]), { nested: Buffer.from([4, 5]) });
    assert.deepEqual(ack, { attachments: 2 });
    const [top, obj] = await back;
    assert.ok(isBinary(top));
    assert.deepEqual(bytes(top), [1, 2, 3]);
    assert.deepEqual(bytes(obj.nested), [4, 5]);

    // Server-built binary, nested in objects and arrays.
    const fromServer = once(socket, 'binary-from-server');
    socket.emit('binary-from-server');
    const [label, buf, rest] = await fromServer;
    assert.equal(label, 'server');
    assert.deepEqual(bytes(buf), [1, 2, 3]);
    assert.deepEqual(bytes(rest.nested.buf), [4, 5, 6]);
    assert.equal(rest.list[0], 'x');
    assert.deepEqual(bytes(rest.list[1]), [7, 8]);

    // A server → client ack whose question and answer carry binary.
    socket.on('ask-binary', (label, question, reply) => {
      assert.equal(label, 'bin-question');
      assert.deepEqual(bytes(question), [9, 8, 7]);
      reply('answer', Buffer.from([6, 5]));
    });
    const result = once(socket, 'server-ack-binary-result');
    socket.emit('server-ack-binary');
    const [answer, answerBuf] = await result;
    assert.equal(answer, 'answer');
    assert.deepEqual(bytes(answerBuf), [6, 5]);
  });

  test(`a second namespace with middleware: query as auth, refusal as "error" (${name})`, async () => {
    const admin = v2('/admin', { transports, query: { token: 'secret' } });
    const welcome = once(admin, 'welcome');
    await connected(admin);
    const [w] = await welcome;
    assert.equal(w.ns, '/admin');
    assert.equal(w.auth.token, 'secret');
    const [me] = await emitAck(admin, 'whoami');
    assert.equal(me.ns, '/admin');
    assert.equal(me.id, w.id);

    // Refused: a 2.x client gets the refusal's data (or message) as an `error` event.
    const refused = v2('/admin', { transports, query: { token: 'wrong' } });
    const [err] = await once(refused, 'error');
    assert.deepEqual(err, { reason: 'bad token' });
    assert.equal(refused.connected, false);

    const unknown = v2('/no-such-namespace', { transports });
    const [err2] = await once(unknown, 'error');
    assert.equal(err2, 'Invalid namespace');
  });

  test(`server-side disconnect (${name})`, async () => {
    const socket = v2('/', { transports });
    await connected(socket);
    const bye = once(socket, 'disconnect');
    socket.emit('disconnect-me');
    assert.deepEqual(await bye, ['io server disconnect']);
  });
}

test('rooms: 2.x and 4.x clients in one room', async () => {
  const a = v2('/', { transports: ['websocket'] });
  const b = v2('/', { transports: ['polling'] });
  const c = ioV4(server.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  sockets.push(c);
  const [[wb]] = await Promise.all([once(b, 'welcome'), connected(a), connected(c)]);
  await connected(b);

  assert.ok((await emitAck(a, 'join', 'legacy-room'))[0].rooms.includes('legacy-room'));
  assert.ok((await emitAck(c, 'join', 'legacy-room'))[0].rooms.includes('legacy-room'));
  const toA = once(a, 'room-message');
  const toC = once(c, 'room-message');
  const [sent] = await emitAck(b, 'to-room', { room: 'legacy-room', data: { text: 'hi' } });
  assert.equal(sent, 'sent');
  const expected = { room: 'legacy-room', from: wb.id, data: { text: 'hi' } };
  assert.deepEqual((await toA)[0], expected);
  assert.deepEqual((await toC)[0], expected);

  // After leaving, a no longer hears the room; c still does.
  await emitAck(a, 'leave', 'legacy-room');
  let heard = false;
  a.on('room-message', () => { heard = true; });
  const again = once(c, 'room-message');
  await emitAck(b, 'to-room', { room: 'legacy-room', data: 2 });
  await again;
  await sleep(100);
  assert.equal(heard, false);
});

test('a connection outlives many pingIntervals: the 2.x client pings, the server answers', async () => {
  // A copy of the server with a short heartbeat: pingInterval 200 ms, pingTimeout 300 ms.
  const fast = await startServer({ env: { PING_INTERVAL_MS: '200', PING_TIMEOUT_MS: '300' } });
  try {
    for (const transports of [['websocket'], ['polling']]) {
      const socket = ioV2(fast.url, { forceNew: true, reconnection: false, transports });
      try {
        await connected(socket);
        let pongs = 0;
        socket.io.engine.on('pong', () => { pongs += 1; });
        let disconnected = null;
        socket.on('disconnect', reason => { disconnected = reason; });
        await sleep(1500); // seven pingIntervals, three times pingInterval + pingTimeout
        assert.equal(disconnected, null, `${transports}: disconnected (${disconnected})`);
        assert.ok(pongs >= 4, `${transports}: ${pongs} pongs in 1.5 s`);
        const echo = once(socket, 'echo');
        socket.emit('echo', 'still here');
        assert.deepEqual(await echo, ['still here']);
      } finally {
        socket.close();
      }
    }
  } finally {
    await fast.stop();
  }
});

test('the server serves the client bundle at /socket.io/socket.io.js with an ETag', async () => {
  for (const file of ['socket.io.js', 'socket.io.min.js', 'socket.io.min.js.map']) {
    const res = await fetch(`${server.url}/socket.io/${file}`);
    assert.equal(res.status, 200, file);
    const etag = res.headers.get('etag');
    assert.ok(etag, `${file}: an ETag`);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=0');
    const body = await res.text();
    if (file.endsWith('.js')) {
      assert.match(res.headers.get('content-type'), /^application\/javascript/);
      assert.match(body, /io/);
    }
    const again = await fetch(`${server.url}/socket.io/${file}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, `${file}: revalidated`);
  }
  const missing = await fetch(`${server.url}/socket.io/nope.js`);
  assert.notEqual(missing.status, 200);
});

test('the v3 handshake is length-prefixed; unknown revisions are refused as Node does', async () => {
  const res = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
  assert.equal(res.status, 200, 'the interop server allows v3');
  const body = await res.text();
  assert.match(body, /^\d+:0\{"sid":/, 'a v3 open packet, length-prefixed');
  const res4 = await fetch(`${server.url}/socket.io/?EIO=2&transport=polling`);
  assert.equal(res4.status, 400);
  assert.deepEqual(await res4.json(), { code: 5, message: 'Unsupported protocol version' });
});
