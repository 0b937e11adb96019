// Reconnection: the server process goes away (killed, or stopped gracefully) and comes back
// on the same port; the client reconnects by itself, `connect` fires again, events work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, once, connected, emitAck, sleep } from '../lib/harness.mjs';

const cleanups = [];
after(async () => { for (const c of cleanups) await c(); });

const cases = [
  { transports: ['websocket'], signal: 'SIGKILL' },
  { transports: ['polling'], signal: 'SIGKILL' },
  { transports: ['polling', 'websocket'], signal: 'SIGTERM' },
  { transports: ['polling'], signal: 'SIGTERM' },
];

for (const { transports, signal } of cases) {
  test(`reconnects after the server restarts (${transports.join('+')}, ${signal})`, async () => {
    let server = await startServer();
    const port = server.port;
    cleanups.push(() => server.stop('SIGKILL'));
    const socket = io(server.url, {
      forceNew: true,
      transports,
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
      randomizationFactor: 0,
      auth: { user: 'reconnecting' },
    });
    cleanups.push(() => socket.disconnect());
    let connects = 0;
    socket.on('connect', () => { connects++; });
    const firstWelcome = once(socket, 'welcome');
    await connected(socket);
    const [w1] = await firstWelcome;
    const firstId = socket.id;
    assert.equal(w1.id, firstId);
    if (transports.length === 2 && socket.io.engine.transport.name !== 'websocket') await once(socket.io.engine, 'upgrade', 10000);

    const disconnected = once(socket, 'disconnect', 10000);
    const started = Date.now();
    const exit = await server.stop(signal);
    if (signal === 'SIGTERM') {
      // Graceful shutdown closes every connection and exits by itself (stop() would
      // SIGKILL after 5 s).
      assert.deepEqual(exit, { code: 0, signal: null }, `graceful exit within 5 s (took ${Date.now() - started} ms)`);
    }
    const [reason] = await disconnected;
    assert.ok(['transport close', 'transport error', 'ping timeout'].includes(reason), `disconnect reason ${reason}`);
    assert.equal(socket.active, true, 'the client keeps trying to reconnect');

    // Let a few reconnection attempts fail against the closed port.
    const attempts = [];
    socket.io.on('reconnect_attempt', n => attempts.push(n));
    await sleep(600);
    assert.ok(attempts.length >= 1, 'the client attempted to reconnect while the server was down');

    const reconnected = once(socket.io, 'reconnect', 15000);
    const secondWelcome = once(socket, 'welcome', 15000);
    server = await startServer({ port });
    await reconnected;
    await connected(socket, 15000);
    assert.equal(connects, 2, 'connect fired again');
    assert.notEqual(socket.id, firstId, 'a new server gives a new socket id');
    const [w2] = await secondWelcome;
    assert.equal(w2.id, socket.id);
    assert.deepEqual(w2.auth, { user: 'reconnecting' }, 'auth is sent again on reconnect');

    const echo = once(socket, 'echo');
    socket.emit('echo', 'after restart');
    assert.deepEqual(await echo, ['after restart']);
    assert.deepEqual(await emitAck(socket, 'ack-echo', 1), [1]);
    socket.disconnect();
    await server.stop();
  });
}
