// Namespaces: middleware auth (success, refusal with message and data), unknown namespace,
// several namespaces multiplexed on one connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io, Manager } from 'socket.io-client';
import { startServer, once, connected, emitAck, sleep, withTimeout } from '../lib/harness.mjs';

let server;
const sockets = [];
function client(nsp, opts = {}) {
  const socket = io(server.url + nsp, { forceNew: true, reconnection: false, ...opts });
  sockets.push(socket);
  return socket;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await server?.stop();
});

for (const transport of ['websocket', 'polling']) {
  test(`/admin with the right token connects (${transport})`, async () => {
    const socket = client('/admin', { transports: [transport], auth: { token: 'secret' } });
    const welcome = once(socket, 'welcome');
    await connected(socket);
    const [w] = await welcome;
    assert.equal(w.ns, '/admin');
    assert.equal(w.id, socket.id);
    assert.deepEqual(w.auth, { token: 'secret' });
    const [me] = await emitAck(socket, 'whoami');
    assert.deepEqual(me, { ns: '/admin', id: socket.id, auth: { token: 'secret' } });
  });

  test(`/admin with a wrong token: connect_error with message and data (${transport})`, async () => {
    const socket = client('/admin', { transports: [transport], auth: { token: 'wrong' } });
    const [err] = await once(socket, 'connect_error');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'not authorized');
    assert.deepEqual(err.data, { reason: 'bad token' });
    assert.equal(socket.connected, false);
    assert.equal(socket.active, false, 'a middleware refusal is final: no automatic retry');
  });

  test(`/admin without auth is refused too (${transport})`, async () => {
    const socket = client('/admin', { transports: [transport] });
    const [err] = await once(socket, 'connect_error');
    assert.equal(err.message, 'not authorized');
    assert.equal(err.data.reason, 'bad token');
  });

  test(`unknown namespace: connect_error "Invalid namespace" (${transport})`, async () => {
    const socket = client('/no-such-namespace', { transports: [transport] });
    const [err] = await once(socket, 'connect_error');
    assert.equal(err.message, 'Invalid namespace');
    assert.equal(socket.connected, false);
  });
}

test('/custom namespace: welcome and echo stay in their namespace', async () => {
  const socket = client('/custom', { transports: ['websocket'] });
  const welcome = once(socket, 'welcome');
  await connected(socket);
  assert.equal((await welcome)[0].ns, '/custom');
  const echo = once(socket, 'echo');
  socket.emit('echo', 'in custom');
  assert.deepEqual(await echo, ['in custom']);
});

for (const transport of ['websocket', 'polling']) {
  test(`several namespaces multiplexed on one connection (${transport})`, async () => {
    const manager = new Manager(server.url, { reconnection: false, transports: [transport] });
    const main = manager.socket('/');
    const custom = manager.socket('/custom');
    const admin = manager.socket('/admin', { auth: { token: 'secret' } });
    // (manager.socket caches one socket per namespace, so the refused one is another name.)
    const refused = manager.socket('/no-such-namespace');
    sockets.push(main, custom, admin, refused);
    const refusedErr = once(refused, 'connect_error');
    await Promise.all([connected(main), connected(custom), connected(admin)]);
    // A namespace refused on a shared connection leaves the others connected.
    assert.equal((await refusedErr)[0].message, 'Invalid namespace');
    assert.notEqual(main.id, custom.id);
    // One engine connection carries all of them.
    assert.equal(manager.engine.readyState, 'open');
    assert.ok(main.connected && custom.connected && admin.connected);

    const mainEchoes = [];
    const customEchoes = [];
    main.on('echo', v => mainEchoes.push(v));
    custom.on('echo', v => customEchoes.push(v));
    main.emit('echo', 'to main');
    custom.emit('echo', 'to custom');
    await withTimeout((async () => { while (mainEchoes.length < 1 || customEchoes.length < 1) await sleep(20); })(), 5000, 'echoes in both namespaces');
    await sleep(100);
    assert.deepEqual(mainEchoes, ['to main']);
    assert.deepEqual(customEchoes, ['to custom']);
    const [me] = await emitAck(admin, 'whoami');
    assert.equal(me.ns, '/admin');

    // Leaving one namespace keeps the others working.
    custom.disconnect();
    const echo = once(main, 'echo');
    main.emit('echo', 'still here');
    assert.deepEqual(await echo, ['still here']);
    main.disconnect();
    admin.disconnect();
  });
}
