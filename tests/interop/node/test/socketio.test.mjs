// socket.io-client (Node) against the interop server: transports, events, acks both ways,
// binary both ways, numeric event names, the compact form, extractors, server disconnect.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, once, connected, emitAck, collect, sleep, isBinary, bytes, withTimeout } from '../lib/harness.mjs';

let server;
const sortByFirst = rows => [...rows].sort((a, b) => a[0] - b[0]);
const sockets = [];
function client(opts = {}, nsp = '') {
  const socket = io(server.url + nsp, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  sockets.push(socket);
  return socket;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await server?.stop();
});

describe('transports', () => {
  test('websocket only', async () => {
    const socket = client({ transports: ['websocket'], auth: { user: 'ws-only' } });
    const welcome = once(socket, 'welcome');
    await connected(socket);
    assert.equal(socket.io.engine.transport.name, 'websocket');
    const [w] = await welcome;
    assert.equal(w.id, socket.id);
    assert.equal(w.ns, '/');
    assert.deepEqual(w.auth, { user: 'ws-only' });
    const echo = once(socket, 'echo');
    socket.emit('echo', 'over websocket');
    assert.deepEqual(await echo, ['over websocket']);
    assert.equal(socket.io.engine.transport.name, 'websocket');
  });

  test('polling only', async () => {
    const socket = client({ transports: ['polling'], auth: { user: 'polling-only' } });
    const welcome = once(socket, 'welcome');
    await connected(socket);
    assert.equal(socket.io.engine.transport.name, 'polling');
    const [w] = await welcome;
    assert.equal(w.id, socket.id);
    assert.deepEqual(w.auth, { user: 'polling-only' });
    // A burst, so that several packets share one polling payload both ways.
    const echoes = collect(socket, 'echo');
    for (let i = 0; i < 50; i++) socket.emit('echo', i, `msg-${i}`);
    await withTimeout((async () => { while (echoes.length < 50) await sleep(20); })(), 5000, '50 echoes over polling');
    // Order is checked by its own test ('events are handled in the order sent').
    assert.deepEqual(sortByFirst(echoes), Array.from({ length: 50 }, (_, i) => [i, `msg-${i}`]));
    await sleep(200);
    assert.equal(socket.io.engine.transport.name, 'polling', 'a polling-only client must never upgrade');
  });

  test('polling then upgrade to websocket', async () => {
    const socket = client(); // default transports: ['polling', 'websocket']
    let openedWith;
    // The manager's `open` fires as the engine opens, before the upgrade probe starts.
    const upgraded = new Promise(resolve => socket.io.on('open', () => {
      openedWith = socket.io.engine.transport.name;
      socket.io.engine.once('upgrade', t => resolve(t.name));
    }));
    const echoes = collect(socket, 'echo');
    await connected(socket);
    assert.equal(openedWith, 'polling', 'the connection starts with polling');
    // Emit while the upgrade is (likely) in progress: nothing may be lost or reordered.
    for (let i = 0; i < 20; i++) socket.emit('echo', i);
    const name = await withTimeout(upgraded, 10000, 'upgrade event');
    assert.equal(name, 'websocket');
    assert.equal(socket.io.engine.transport.name, 'websocket');
    for (let i = 20; i < 40; i++) socket.emit('echo', i);
    await withTimeout((async () => { while (echoes.length < 40) await sleep(20); })(), 5000, '40 echoes across the upgrade');
    assert.deepEqual(sortByFirst(echoes), Array.from({ length: 40 }, (_, i) => [i]));
    assert.equal(socket.io.engine.transport.name, 'websocket');
  });
});

describe('events', () => {
  for (const transport of ['websocket', 'polling']) {
    // Socket.IO guarantees message ordering; the reference server runs handlers in arrival
    // order, so a burst of `echo`s comes back in the order it was sent.
    test(`events are handled in the order sent (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const echoes = collect(socket, 'echo');
      for (let i = 0; i < 100; i++) socket.emit('echo', i);
      await withTimeout((async () => { while (echoes.length < 100) await sleep(20); })(), 5000, '100 echoes');
      assert.deepEqual(echoes.map(([i]) => i), Array.from({ length: 100 }, (_, i) => i));
    });

    test(`emit and receive all JSON types (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const args = ['text', 42, 3.5, -1, true, false, null, [1, 'two', { three: 3 }], { nested: { deep: ['a', { b: null }] } }, 'unicode: héllo ✓ 日本 🎉', ''];
      const echo = once(socket, 'echo');
      socket.emit('echo', ...args);
      assert.deepEqual(await echo, args);
    });

    test(`large payload, 200 kB (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const big = 'x'.repeat(200_000);
      const echo = once(socket, 'echo');
      socket.emit('echo', { big });
      const [reply] = await echo;
      assert.equal(reply.big.length, 200_000);
      assert.equal(reply.big, big);
    });
  }

  test('event with no arguments', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const echo = once(socket, 'echo');
    socket.emit('echo');
    assert.deepEqual(await echo, []);
  });

  test('numeric event name', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const numeric = once(socket, 'numeric');
    socket.emit(1, 'x');
    assert.deepEqual(await numeric, [{ event: '1', args: ['x'] }]);
  });

  test('compact form ["m", [event, ...args]]', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const echo = once(socket, 'echo');
    socket.emit('m', ['echo', { compact: true }, 'second']);
    assert.deepEqual(await echo, [{ compact: true }, 'second']);
    // with an ack
    assert.deepEqual(await emitAck(socket, 'm', ['ack-echo', 'z']), ['z']);
  });

  test('unknown event reaches the fallback handler (Event extractor)', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const unknown = once(socket, 'unknown-event');
    socket.emit('no-such-event', 1, 'b');
    assert.deepEqual(await unknown, [{ event: 'no-such-event', args: [1, 'b'] }]);
  });

  test('Data<T>, TryData<T> and State<T> extractors', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    assert.deepEqual(await emitAck(socket, 'add', { a: 2, b: 3 }), [{ sum: 5 }]);
    assert.deepEqual(await emitAck(socket, 'typed', { a: 40, b: 2 }), [{ ok: true, sum: 42 }]);
    const [bad] = await emitAck(socket, 'typed', { a: 'x' });
    assert.equal(bad.ok, false);
    assert.equal(typeof bad.error, 'string');
    const [n1] = await emitAck(socket, 'count');
    const [n2] = await emitAck(socket, 'count');
    assert.equal(n2, n1 + 1);
  });
});

describe('rejected arguments', () => {
  test('Data<T> rejection answers the ack with {error} (handler without AckSender)', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const sum = once(socket, 'sum');
    socket.emit('sum', { a: 1, b: 2 });
    assert.deepEqual(await sum, [3]);
    const [rejected] = await emitAck(socket, 'sum', 'not an object');
    assert.match(rejected.error, /invalid payload for event "sum"/);
  });

  test('Data<T> rejection answers the ack with {error} (handler that also takes AckSender)', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const [rejected] = await emitAck(socket, 'add', 'not an object');
    assert.match(rejected.error, /invalid payload for event "add"/);
  });
});

describe('acks', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`client → server ack with a callback (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      assert.deepEqual(await emitAck(socket, 'ack-echo', 'a', { b: [1, 2] }, null), ['a', { b: [1, 2] }, null]);
    });

    test(`socket.timeout().emitWithAck (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      assert.equal(await socket.timeout(500).emitWithAck('ack-echo', 'with-ack'), 'with-ack');
      // `echo` never acks: the client-side timeout fires.
      await assert.rejects(socket.timeout(300).emitWithAck('echo', 'no ack'), /operation has timed out/);
    });

    test(`server → client ack answered by the client (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      let received;
      socket.on('ask', (data, callback) => { received = data; callback({ answer: 42, echoed: data }); });
      const [report] = await emitAck(socket, 'server-ack', { event: 'ask', data: { q: 'life' }, timeoutMs: 2000 });
      assert.deepEqual(received, { q: 'life' });
      assert.deepEqual(report, { ok: true, reply: { answer: 42, echoed: { q: 'life' } } });
    });

    test(`server → client ack never answered: the server times out (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      let asked = false;
      socket.on('ask-ignored', () => { asked = true; }); // takes no callback: never acks
      const started = Date.now();
      const [report] = await emitAck(socket, 'server-ack', { event: 'ask-ignored', data: 1, timeoutMs: 300 });
      assert.ok(asked, 'the client received the event');
      assert.equal(report.ok, false);
      assert.equal(report.timeout, true, `expected a timeout, got ${JSON.stringify(report)}`);
      assert.match(report.error, /no ack within/);
      assert.ok(Date.now() - started >= 250, 'the server waited for its timeout');
    });
  }

  test('server → client ack reported by event (no client ack)', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    socket.on('ask', (data, callback) => callback('pong:' + data));
    const result = once(socket, 'server-ack-result');
    socket.emit('server-ack', { event: 'ask', data: 'ping', timeoutMs: 2000 });
    assert.deepEqual(await result, [{ ok: true, reply: 'pong:ping' }]);
  });
});

describe('binary', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`Buffer and ArrayBuffer arguments, top-level and nested, echoed (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const echo = once(socket, 'echo');
      const ab = new Uint8Array([10, 20, 30]).buffer;
      socket.emit('echo', Buffer.from([1, 2, 3]), 'text', { nested: { buf: Buffer.from([4, 5]) }, list: [ab, 'x'] }, Buffer.alloc(0));
      const [top, text, obj, empty] = await echo;
      assert.ok(isBinary(top), 'top-level binary arrives as binary');
      assert.deepEqual(bytes(top), [1, 2, 3]);
      assert.equal(text, 'text');
      assert.deepEqual(bytes(obj.nested.buf), [4, 5]);
      assert.deepEqual(bytes(obj.list[0]), [10, 20, 30]);
      assert.equal(obj.list[1], 'x');
      assert.deepEqual(bytes(empty), []);
    });

    test(`binary handler (Bin extractor) and binary in acks (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const back = once(socket, 'binary');
      const [ack] = await emitAck(socket, 'binary', Buffer.from([0xde, 0xad]), { b: Buffer.from([0xbe, 0xef]) });
      assert.deepEqual(ack, { attachments: 2 });
      const [b0, b1] = await back;
      assert.deepEqual(bytes(b0), [0xde, 0xad]);
      assert.deepEqual(bytes(b1.b), [0xbe, 0xef]);
      // binary in the server's ack reply
      const reply = await emitAck(socket, 'ack-echo', Buffer.from([7, 7, 7]), { inner: [Buffer.from([8])] });
      assert.deepEqual(bytes(reply[0]), [7, 7, 7]);
      assert.deepEqual(bytes(reply[1].inner[0]), [8]);
      // and with emitWithAck
      const single = await socket.timeout(1000).emitWithAck('ack-echo', Buffer.from([1]));
      assert.deepEqual(bytes(single), [1]);
    });

    test(`server-built binary payload, nested attachments (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const ev = once(socket, 'binary-from-server');
      socket.emit('binary-from-server');
      const [label, top, obj] = await ev;
      assert.equal(label, 'server');
      assert.deepEqual(bytes(top), [1, 2, 3]);
      assert.deepEqual(bytes(obj.nested.buf), [4, 5, 6]);
      assert.equal(obj.list[0], 'x');
      assert.deepEqual(bytes(obj.list[1]), [7, 8]);
    });

    test(`binary both ways in a server → client ack (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      let asked;
      socket.on('ask-binary', (label, buf, callback) => {
        asked = [label, bytes(buf)];
        callback(Buffer.from([1, 1, 2, 3, 5]), 'reply-text', { deep: Buffer.from([8, 13]) });
      });
      const result = once(socket, 'server-ack-binary-result');
      socket.emit('server-ack-binary');
      const [b, text, obj] = await result;
      assert.deepEqual(asked, ['bin-question', [9, 8, 7]]);
      assert.deepEqual(bytes(b), [1, 1, 2, 3, 5]);
      assert.equal(text, 'reply-text');
      assert.deepEqual(bytes(obj.deep), [8, 13]);
    });
  }
});

describe('disconnection', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`server-forced disconnect: reason "io server disconnect" (${transport})`, async () => {
      const socket = client({ transports: [transport] });
      await connected(socket);
      const disconnected = once(socket, 'disconnect');
      socket.emit('disconnect-me');
      const [reason] = await disconnected;
      assert.equal(reason, 'io server disconnect');
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, 'the client does not try to reconnect after a server disconnect');
    });
  }

  test('client disconnect then reconnect on the same manager', async () => {
    const socket = client({ transports: ['websocket'] });
    await connected(socket);
    const firstId = socket.id;
    socket.disconnect();
    assert.equal(socket.connected, false);
    socket.connect();
    await connected(socket);
    assert.notEqual(socket.id, firstId);
    const echo = once(socket, 'echo');
    socket.emit('echo', 'again');
    assert.deepEqual(await echo, ['again']);
  });
});
