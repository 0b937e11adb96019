// The auth example's weroll server (examples/auth/init.rs, Socket.IO at /socket.io/, plain
// WebSocket at /ws): weroll's `$init` handshake with the session from `POST /login`, driven
// by the npm socket.io-client (websocket and polling) and plain `ws` clients.
//
// Several servers, each with its own settings: the main one (no guests on `/`, guests always
// on `/lobby`, 1.5 s shakehand timeout, sessions in memory), one that allows guests (weroll's
// fallback: any failed $init makes a guest), one with strict sessions, one whose sessions
// live 1 s, one that keeps its sessions in Redis, and one that reads and writes weroll's own
// Redis session format (REDIS_URL or 127.0.0.1:6379; this file FAILS if Redis is not running).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { io } from 'socket.io-client';
import { createClient } from 'redis';
import {
  startServer, REPO_ROOT, once, connected, emitAck, collect, sleep, withTimeout, connectPlain,
} from '../lib/harness.mjs';

const AUTH_SERVER_BIN = process.env.AUTH_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/auth');
const TRANSPORTS = ['websocket', 'polling'];
const QUIET_MS = 300;
const SHAKEHAND_TIMEOUT_MS = 1500;
const BASE_ENV = {
  JWT_SECRET: 'test-only-secret-do-not-deploy', ALLOW_GUEST: '0', SHAKEHAND_TIMEOUT_MS: String(SHAKEHAND_TIMEOUT_MS),
  SESSION_TTL_MS: '600000', REDIS_URL: '', RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '20',
};

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const HANDSHAKE_REQUIRED = 'handshake required: emit $init first';
const INVALID_SESSION = 'invalid or expired session';
const NO_GUESTS = 'a session is required (guests are not allowed)';

/** Starts the example with `env` added to this process's environment. */
async function startAuthServer(env) {
  const saved = {};
  for (const [k, v] of Object.entries(env)) { saved[k] = process.env[k]; process.env[k] = v; }
  try {
    return await startServer({ bin: AUTH_SERVER_BIN });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }
}

let seq = 0;
const unique = prefix => `${prefix}-${process.pid}-${++seq}`;

/**
 * Asserts `reply` (the arguments of the `$init` event or ack) is weroll's
 * `[{clientID, socketID, time}]`, with this client id and socket id (any string when
 * `socketID` is undefined); returns the socket id.
 */
function assertInit(reply, clientID, socketID) {
  assert.equal(reply.length, 1, JSON.stringify(reply));
  const [r] = reply;
  assert.deepEqual(Object.keys(r).sort(), ['clientID', 'socketID', 'time'], JSON.stringify(r));
  assert.equal(r.clientID, clientID);
  assert.equal(typeof r.socketID, 'string');
  if (socketID !== undefined) assert.equal(r.socketID, socketID);
  assert.equal(typeof r.time, 'number');
  assert.ok(Math.abs(Date.now() - r.time) < 60_000, `time ${r.time}`);
  return r.socketID;
}

/**
 * Clients of one server: Socket.IO and plain, logged-in sessions, the handler counters.
 * Every client it makes is closed by `closeAll`.
 */
function clientsOf(getServer) {
  const sockets = [];
  const plains = [];
  const api = {
    /** POST /login: weroll's `_sess` fields (`userid` as given: a string or a number). */
    async login(userid = unique('user')) {
      const res = await fetch(`${getServer().url}/login`, { method: 'POST', body: JSON.stringify({ userid }) });
      assert.equal(res.status, 200);
      const { token, tokentimestamp } = await res.json();
      return { userid, token, tokentimestamp, cookie: res.headers.get('set-cookie').split(';')[0] };
    },
    async stats() {
      return (await fetch(`${getServer().url}/stats`)).json();
    },
    /**
     * A connected Socket.IO client of `/` that has not shaken hands yet. `seen` logs every
     * event it receives, in order (`lifecycle` as `lifecycle:<name>`).
     */
    async sio(transport, nsp = '') {
      const socket = io(getServer().url + nsp, { forceNew: true, reconnection: false, transports: [transport] });
      sockets.push(socket);
      socket.seen = [];
      socket.onAny((event, data) => socket.seen.push(event === 'lifecycle' ? `lifecycle:${data.event}` : event));
      socket.lifecycle = collect(socket, 'lifecycle');
      await connected(socket);
      return socket;
    },
    /** `$init` with an ack: resolves with the ack's arguments. */
    init(socket, sess) {
      return emitAck(socket, '$init', sess === undefined ? {} : { _sess: sess });
    },
    /** A Socket.IO client that completed `$init` with `sess`. */
    async initialized(transport, sess) {
      const socket = await api.sio(transport);
      const reply = once(socket, '$init');
      assertInit(await api.init(socket, sess), String(sess.userid), socket.id);
      assertInit(await reply, String(sess.userid), socket.id);
      return socket;
    },
    /** A plain WebSocket client of `/ws`, not shaken hands yet. */
    async plain() {
      const p = await connectPlain(getServer().port);
      plains.push(p);
      return p;
    },
    /** A plain client that completed `$init` with `sess`. */
    async plainInitialized(sess) {
      const p = await api.plain();
      const sid = assertInit(await p.request('$init', { _sess: sess }), String(sess.userid));
      assertInit((await p.event('$init')).slice(1), String(sess.userid), sid);
      return p;
    },
    closeAll() {
      for (const s of sockets) s.disconnect();
      for (const p of plains) p.close();
    },
  };
  return api;
}

/** Asserts a refused `$init` over Socket.IO: the error ack, `$error`, lifecycle, disconnect. */
async function assertInitRefused(c, socket, sess, reason) {
  const before = await c.stats();
  const errors = collect(socket, '$error');
  const gone = once(socket, 'disconnect');
  assert.deepEqual(await c.init(socket, sess), [{ error: reason }]);
  assert.equal((await gone)[0], 'io server disconnect');
  await sleep(50);
  // With an ack the refusal is the error ack; the `$error` event comes only without one.
  assert.deepEqual(errors, []);
  assert.deepEqual(socket.lifecycle.map(([l]) => l), [
    { event: 'shakeHandStart', data: null },
    { event: 'shakeHandComplete', data: false },
    { event: 'shakeHandFail', data: reason },
  ]);
  const after = await c.stats();
  assert.equal(after['/ shakeHandSuccess'], before['/ shakeHandSuccess'], 'no success handler ran');
  assert.equal(after['/ whoami'], before['/ whoami']);
}

// ---------------------------------------------------------------------------------------
// The main server: shakehand on, no guests, 1.5 s to shake hands, sessions in memory
// ---------------------------------------------------------------------------------------

describe('$init (guests not allowed, sessions in memory)', () => {
  let server;
  const c = clientsOf(() => server);
  before(async () => { server = await startAuthServer(BASE_ENV); });
  after(async () => { c.closeAll(); await server?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`$init with the session from POST /login: clientID is the userid; the documented lifecycle order (${transport})`, async () => {
      const sess = await c.login();
      const socket = await c.sio(transport);
      const reply = once(socket, '$init');
      assertInit(await c.init(socket, sess), sess.userid, socket.id);
      assertInit(await reply, sess.userid, socket.id);
      assert.deepEqual(socket.lifecycle.map(([l]) => l), [
        { event: 'shakeHandStart', data: null },
        { event: 'shakeHandComplete', data: true },
        { event: 'shakeHandSuccess', data: sess.userid },
      ]);
      assert.deepEqual(socket.seen, [
        'lifecycle:shakeHandStart', 'lifecycle:shakeHandComplete', 'lifecycle:shakeHandSuccess', '$init',
      ], 'every lifecycle handler ran before the $init reply');
      assert.deepEqual(await emitAck(socket, 'whoami'), [{ clientID: sess.userid, socketID: socket.id, guest: false, userid: sess.userid }]);
    });

    test(`$init without an ack: the reply is the "$init" event (weroll's client) (${transport})`, async () => {
      const sess = await c.login();
      const socket = await c.sio(transport);
      const reply = once(socket, '$init');
      socket.emit('$init', { _sess: sess });
      assertInit(await reply, sess.userid, socket.id);
      assert.deepEqual(await emitAck(socket, 'bump'), [1]);
    });

    test(`$init with tokentimestamp as a string, as some weroll clients send it (${transport})`, async () => {
      const sess = await c.login();
      const socket = await c.sio(transport);
      assertInit(await c.init(socket, { ...sess, tokentimestamp: String(sess.tokentimestamp) }), sess.userid, socket.id);
    });

    test(`events before $init are refused and reach no handler; after it they run (${transport})`, async () => {
      const sess = await c.login();
      const before = await c.stats();
      const socket = await c.sio(transport);
      const err = once(socket, '$error');
      socket.emit('bump');
      assert.deepEqual(await err, [{ event: 'bump', error: HANDSHAKE_REQUIRED }]);
      assert.deepEqual(await emitAck(socket, 'whoami'), [{ error: HANDSHAKE_REQUIRED }]);
      assert.deepEqual(await emitAck(socket, 'dm', { to: sess.userid, text: 'sneaky' }), [{ error: HANDSHAKE_REQUIRED }]);
      assert.deepEqual(await emitAck(socket, 'no-such-event'), [{ error: HANDSHAKE_REQUIRED }]);
      const mid = await c.stats();
      for (const key of ['/ bump', '/ whoami', '/ dm']) assert.equal(mid[key], before[key], `${key} did not run`);
      assert.ok(socket.connected, 'refusing an early event does not disconnect');
      assertInit(await c.init(socket, sess), sess.userid, socket.id);
      // The counter proves it: the bump refused before $init never ran.
      assert.deepEqual(await emitAck(socket, 'bump'), [1]);
      assert.deepEqual(await emitAck(socket, 'bump'), [2]);
      assert.equal((await c.stats())['/ bump'], (before['/ bump'] ?? 0) + 2);
    });

    test(`$init with a forged userid (user A's valid token, user B's id) is refused and disconnected (${transport})`, async () => {
      const a = await c.login();
      const b = await c.login();
      const socket = await c.sio(transport);
      await assertInitRefused(c, socket, { userid: b.userid, token: a.token, tokentimestamp: a.tokentimestamp }, INVALID_SESSION);
    });

    test(`$init with a forged userid of a user who never logged in is refused (${transport})`, async () => {
      const a = await c.login();
      const socket = await c.sio(transport);
      await assertInitRefused(c, socket, { ...a, userid: unique('ghost') }, INVALID_SESSION);
    });

    test(`$init with a wrong token or a wrong timestamp is refused (${transport})`, async () => {
      const a = await c.login();
      for (const sess of [
        { ...a, token: a.token.replace(/.$/, ch => (ch === '0' ? '1' : '0')) },
        { ...a, tokentimestamp: a.tokentimestamp - 1 },
      ]) {
        const socket = await c.sio(transport);
        await assertInitRefused(c, socket, sess, INVALID_SESSION);
      }
      // An empty token is no session at all (weroll treats it as missing): said so.
      await assertInitRefused(c, await c.sio(transport), { ...a, token: '' }, 'invalid $init payload: empty field `token`');
    });

    test(`several devices: a newer login leaves the older valid; POST /logout ends one device, /logout/everywhere all (${transport})`, async () => {
      const phone = await c.login();
      const laptop = await c.login(phone.userid);
      const tablet = await c.login(phone.userid);
      assert.notEqual(phone.token, laptop.token);
      for (const sess of [phone, laptop, tablet]) await c.initialized(transport, sess);
      const out = await fetch(`${server.url}/logout`, { method: 'POST', headers: { cookie: laptop.cookie } });
      assert.equal(out.status, 204);
      await assertInitRefused(c, await c.sio(transport), laptop, INVALID_SESSION);
      await c.initialized(transport, phone);
      await c.initialized(transport, tablet);
      const all = await fetch(`${server.url}/logout/everywhere`, { method: 'POST', headers: { cookie: phone.cookie } });
      assert.equal(all.status, 204);
      await assertInitRefused(c, await c.sio(transport), phone, INVALID_SESSION);
      await assertInitRefused(c, await c.sio(transport), tablet, INVALID_SESSION);
    });

    test(`a numeric userid: POST /login {userid: 42...} and $init with the number; clientID is its decimal string (${transport})`, async () => {
      const userid = 4_200_000 + process.pid * 100 + (++seq);
      const sess = await c.login(userid);
      const socket = await c.initialized(transport, sess);
      assert.deepEqual(await emitAck(socket, 'whoami'), [{ clientID: String(userid), socketID: socket.id, guest: false, userid: String(userid) }]);
      // The same user, the id as a string this time: one user, reached by send_to on both.
      const other = await c.initialized(transport, { ...sess, userid: String(userid) });
      const got = once(other, 'dm');
      assert.deepEqual(await emitAck(socket, 'dm', { to: String(userid), text: 'hi' }), [{ sent: true }]);
      assert.deepEqual(await got, [{ from: String(userid), text: 'hi' }]);
    });

    test(`per-namespace handshake: a bad session is refused on / but makes a guest on /lobby, same server (${transport})`, async () => {
      const a = await c.login();
      const bad = { ...a, token: 'wrong' };
      await assertInitRefused(c, await c.sio(transport), bad, INVALID_SESSION);
      const lobby = await c.sio(transport, '/lobby');
      assert.deepEqual(await emitAck(lobby, 'whoami'), [{ error: HANDSHAKE_REQUIRED }], 'the lobby has a handshake too');
      assertInit(await c.init(lobby, bad), lobby.id, lobby.id);
      assert.deepEqual(await emitAck(lobby, 'whoami'), [{ ns: '/lobby', clientID: lobby.id, socketID: lobby.id, guest: true, userid: null }]);
      const member = await c.sio(transport, '/lobby');
      assertInit(await c.init(member, a), a.userid, member.id);
      assert.deepEqual((await emitAck(member, 'whoami'))[0].userid, a.userid);
    });

    test(`a guest $init (no _sess) is refused when guests are not allowed (${transport})`, async () => {
      await assertInitRefused(c, await c.sio(transport), undefined, NO_GUESTS);
    });

    test(`a malformed $init payload is refused with the reason (${transport})`, async () => {
      const socket = await c.sio(transport);
      const gone = once(socket, 'disconnect');
      const [reply] = await c.init(socket, { userid: 'x' });
      assert.match(reply.error, /^invalid \$init payload: missing field `token`/);
      await gone;
    });

    test(`a refused $init without an ack: "$error" {event: "$init", error}, then disconnect (${transport})`, async () => {
      const socket = await c.sio(transport);
      const err = once(socket, '$error');
      const gone = once(socket, 'disconnect');
      socket.emit('$init', { _sess: { userid: unique('ghost'), token: 'x', tokentimestamp: 1 } });
      assert.deepEqual(await err, [{ event: '$init', error: INVALID_SESSION }]);
      assert.equal((await gone)[0], 'io server disconnect');
      assert.deepEqual(socket.seen, [
        'lifecycle:shakeHandStart', 'lifecycle:shakeHandComplete', 'lifecycle:shakeHandFail', '$error',
      ]);
    });

    test(`no $init within the shakehand timeout: "$error" handshake timed out, disconnected; a late $init does nothing (${transport})`, async () => {
      const sess = await c.login();
      const before = await c.stats();
      const start = Date.now();
      const socket = await c.sio(transport);
      const err = once(socket, '$error', SHAKEHAND_TIMEOUT_MS + 3000);
      const gone = once(socket, 'disconnect', SHAKEHAND_TIMEOUT_MS + 3000);
      assert.deepEqual(await err, [{ event: '$init', error: 'handshake timed out' }]);
      assert.equal((await gone)[0], 'io server disconnect');
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= SHAKEHAND_TIMEOUT_MS - 100, `not before the timeout: ${elapsed} ms`);
      assert.deepEqual(socket.seen, ['lifecycle:shakeHandFail', '$error'], 'only shakeHandFail: no handshake started');
      assert.deepEqual(socket.lifecycle[0], [{ event: 'shakeHandFail', data: 'handshake timed out' }]);
      // Too late: the socket is gone from the namespace; nothing answers, nothing runs.
      const late = collect(socket, '$init');
      socket.emit('$init', { _sess: sess });
      await sleep(QUIET_MS);
      assert.equal(late.length, 0);
      assert.equal(socket.connected, false);
      const after = await c.stats();
      assert.equal(after['/ shakeHandStart'], before['/ shakeHandStart']);
      assert.equal(after['/ shakeHandSuccess'], before['/ shakeHandSuccess']);
      assert.equal(after['/ shakeHandFail'], (before['/ shakeHandFail'] ?? 0) + 1);
    });
  }

  test('a slow but timely $init succeeds (just inside the timeout)', async () => {
    const sess = await c.login();
    const socket = await c.sio('websocket');
    await sleep(SHAKEHAND_TIMEOUT_MS - 600);
    assertInit(await c.init(socket, sess), sess.userid, socket.id);
    await sleep(700); // past the original deadline: still connected
    assert.ok(socket.connected);
    assert.deepEqual(await emitAck(socket, 'bump'), [1]);
  });

  test('plain WebSocket: $init as a JSON frame; events before it refused; lifecycle in order', async () => {
    const sess = await c.login();
    const p = await c.plain();
    assert.deepEqual(await p.request('bump'), [{ error: HANDSHAKE_REQUIRED }]);
    p.send(['whoami']);
    assert.deepEqual(await p.event('$error'), ['$error', { event: 'whoami', error: HANDSHAKE_REQUIRED }]);
    const sid = assertInit(await p.request('$init', { _sess: sess }), sess.userid);
    assertInit((await p.event('$init')).slice(1), sess.userid, sid);
    const lifecycle = p.frames.filter(f => Array.isArray(f.json) && f.json[0] === 'lifecycle').map(f => f.json[1].event);
    assert.deepEqual(lifecycle, ['shakeHandStart', 'shakeHandComplete', 'shakeHandSuccess']);
    assert.deepEqual(await p.request('bump'), [1], 'the refused bump never ran');
    const [me] = await p.request('whoami');
    assert.deepEqual(me, { clientID: sess.userid, socketID: sid, guest: false, userid: sess.userid });
    assert.notEqual(me.socketID, sess.userid, 'the socket keeps its own id');
  });

  test('plain WebSocket: a forged $init gets "$error" and the connection is closed', async () => {
    const a = await c.login();
    const b = await c.login();
    const p = await c.plain();
    p.send(['$init', { _sess: { ...a, userid: b.userid } }]);
    assert.deepEqual(await p.event('$error'), ['$error', { event: '$init', error: INVALID_SESSION }]);
    await withTimeout(p.closed, 5000, 'close after a refused $init');
    const lifecycle = p.frames.filter(f => Array.isArray(f.json) && f.json[0] === 'lifecycle').map(f => f.json[1]);
    assert.deepEqual(lifecycle, [
      { event: 'shakeHandStart', data: null },
      { event: 'shakeHandComplete', data: false },
      { event: 'shakeHandFail', data: INVALID_SESSION },
    ]);
  });

  test('plain WebSocket: no $init within the timeout: "$error" handshake timed out, then the connection closes', async () => {
    const p = await c.plain();
    assert.deepEqual(await p.event('$error', SHAKEHAND_TIMEOUT_MS + 3000), ['$error', { event: '$init', error: 'handshake timed out' }]);
    await withTimeout(p.closed, 5000, 'close after the timeout');
    assert.equal(p.ws.readyState, p.ws.CLOSED, 'a late $init has nowhere to go');
  });

  test('send_to(userid) after $init reaches all three connections of the user (websocket, polling, plain), once each', async () => {
    const alice = await c.login();
    const bob = await c.login();
    const carol = await c.login();
    const a1 = await c.initialized('websocket', alice);
    const a2 = await c.initialized('polling', alice);
    const a3 = await c.plainInitialized(alice);
    const b = await c.initialized('websocket', bob);
    const other = await c.initialized('polling', carol);
    const got = [collect(a1, 'dm'), collect(a2, 'dm')];
    const bobGot = collect(b, 'dm');
    const carolGot = collect(other, 'dm');
    for (const s of [a1, a2]) assert.deepEqual((await emitAck(s, 'whoami'))[0].clientID, alice.userid);

    assert.deepEqual(await emitAck(b, 'dm', { to: alice.userid, text: 'hi alice' }), [{ sent: true }]);
    const expected = { from: bob.userid, text: 'hi alice' };
    assert.deepEqual(await a3.event('dm'), ['dm', expected]);
    await withTimeout((async () => { while (got.some(g => g.length === 0)) await sleep(10); })(), 5000, 'the dm on both Socket.IO connections');
    await sleep(QUIET_MS);
    for (const g of got) assert.deepEqual(g, [[expected]], 'exactly once on each connection');
    assert.equal(a3.frames.filter(f => Array.isArray(f.json) && f.json[0] === 'dm').length, 0, 'once on the plain one');
    assert.equal(bobGot.length, 0, 'the sender is not alice');
    assert.equal(carolGot.length, 0, 'other users get nothing');

    // A dm to oneself reaches every own connection, the sender's included.
    a3.send(['dm', { to: alice.userid, text: 'note to self' }]);
    assert.deepEqual(await a3.event('dm'), ['dm', { from: alice.userid, text: 'note to self' }]);
    await withTimeout((async () => { while (got.some(g => g.length < 2)) await sleep(10); })(), 5000, 'the note on both Socket.IO connections');

    // After one of alice's connections leaves, the others still get messages.
    a1.disconnect();
    await sleep(100);
    assert.deepEqual(await emitAck(b, 'dm', { to: alice.userid, text: 'still there?' }), [{ sent: true }]);
    assert.deepEqual(await a3.event('dm'), ['dm', { from: bob.userid, text: 'still there?' }]);
    await withTimeout((async () => { while (got[1].length < 3) await sleep(10); })(), 5000, 'the dm on the polling connection');
    assert.equal(got[0].length, 2, 'the disconnected one got nothing more');
  });

  test('a socket that never shook hands is not reachable by send_to(userid)', async () => {
    const alice = await c.login();
    const bob = await c.login();
    const pending = await c.sio('websocket'); // alice's device, before $init
    const gotPending = collect(pending, 'dm');
    const b = await c.initialized('websocket', bob);
    const a = await c.initialized('polling', alice);
    const gotA = collect(a, 'dm');
    await emitAck(b, 'dm', { to: alice.userid, text: 'x' });
    await withTimeout((async () => { while (gotA.length === 0) await sleep(10); })(), 5000, 'the dm');
    await sleep(QUIET_MS);
    assert.equal(gotPending.length, 0);
  });
});

// ---------------------------------------------------------------------------------------
// Guests allowed
// ---------------------------------------------------------------------------------------

describe('$init (ALLOW_GUEST=1)', () => {
  let server;
  const c = clientsOf(() => server);
  before(async () => { server = await startAuthServer({ ...BASE_ENV, ALLOW_GUEST: '1' }); });
  after(async () => { c.closeAll(); await server?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`a guest $init (no _sess) is accepted; its clientID is its socket id (${transport})`, async () => {
      const socket = await c.sio(transport);
      assert.deepEqual(await emitAck(socket, 'bump'), [{ error: HANDSHAKE_REQUIRED }], 'guests shake hands too');
      assertInit(await c.init(socket, undefined), socket.id, socket.id);
      assert.deepEqual(socket.lifecycle.map(([l]) => l), [
        { event: 'shakeHandStart', data: null },
        { event: 'shakeHandComplete', data: true },
        { event: 'shakeHandSuccess', data: socket.id },
      ]);
      assert.deepEqual(await emitAck(socket, 'whoami'), [{ clientID: socket.id, socketID: socket.id, guest: true, userid: null }]);
      assert.deepEqual(await emitAck(socket, 'bump'), [1]);
      // Guests have no session: the `Session` extractor refuses them.
      assert.deepEqual(await emitAck(socket, 'dm', { to: 'anyone', text: 'x' }), [{ error: 'no session: complete the $init handshake with a valid session first' }]);
    });

    test(`with guests allowed, a session still makes the user known; a bad, partial or null one makes a guest, as in weroll (${transport})`, async () => {
      const sess = await c.login();
      const socket = await c.initialized(transport, sess);
      assert.deepEqual((await emitAck(socket, 'whoami'))[0].guest, false);
      const other = await c.login();
      for (const bad of [
        { ...sess, userid: other.userid }, { ...sess, token: 'wrong' }, { userid: sess.userid }, null, 'not an object',
      ]) {
        const guest = await c.sio(transport);
        assertInit(await emitAck(guest, '$init', { _sess: bad }), guest.id, guest.id);
        assert.deepEqual(guest.lifecycle.map(([l]) => l), [
          { event: 'shakeHandStart', data: null },
          { event: 'shakeHandComplete', data: true },
          { event: 'shakeHandSuccess', data: guest.id },
        ], JSON.stringify(bad));
        assert.deepEqual(await emitAck(guest, 'whoami'), [{ clientID: guest.id, socketID: guest.id, guest: true, userid: null }]);
        assert.ok(guest.connected);
      }
    });
  }

  test('a user can dm a guest by its clientID (the socket id)', async () => {
    const guest = await c.sio('websocket');
    assertInit(await c.init(guest, undefined), guest.id, guest.id);
    const sess = await c.login();
    const user = await c.initialized('polling', sess);
    const got = once(guest, 'dm');
    assert.deepEqual(await emitAck(user, 'dm', { to: guest.id, text: 'welcome' }), [{ sent: true }]);
    assert.deepEqual(await got, [{ from: sess.userid, text: 'welcome' }]);
  });

  test('plain WebSocket guest: $init {} is accepted', async () => {
    const p = await c.plain();
    const reply = await p.request('$init', {});
    const [me] = await p.request('whoami');
    assertInit(reply, me.socketID, me.socketID);
    assert.equal(me.guest, true);
  });
});

// ---------------------------------------------------------------------------------------
// Guests allowed, strict sessions (not weroll's behaviour: an explicit mode)
// ---------------------------------------------------------------------------------------

describe('$init (ALLOW_GUEST=1 STRICT_SESSIONS=1)', () => {
  let server;
  const c = clientsOf(() => server);
  before(async () => { server = await startAuthServer({ ...BASE_ENV, ALLOW_GUEST: '1', STRICT_SESSIONS: '1' }); });
  after(async () => { c.closeAll(); await server?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`no _sess (or null) makes a guest; a bad or partial session is refused and disconnected (${transport})`, async () => {
      for (const none of [undefined, null]) {
        const guest = await c.sio(transport);
        assertInit(await emitAck(guest, '$init', none === undefined ? {} : { _sess: none }), guest.id, guest.id);
        assert.equal((await emitAck(guest, 'whoami'))[0].guest, true);
      }
      const sess = await c.login();
      await c.initialized(transport, sess);
      await assertInitRefused(c, await c.sio(transport), { ...sess, token: 'wrong' }, INVALID_SESSION);
      await assertInitRefused(c, await c.sio(transport), { userid: sess.userid }, 'invalid $init payload: missing field `token`');
      // The lobby keeps its own setting: weroll's fallback.
      const lobby = await c.sio(transport, '/lobby');
      assertInit(await c.init(lobby, { ...sess, token: 'wrong' }), lobby.id, lobby.id);
    });
  }
});

// ---------------------------------------------------------------------------------------
// Sessions that expire
// ---------------------------------------------------------------------------------------

describe('$init (SESSION_TTL_MS=1000)', () => {
  let server;
  const c = clientsOf(() => server);
  before(async () => { server = await startAuthServer({ ...BASE_ENV, SESSION_TTL_MS: '1000' }); });
  after(async () => { c.closeAll(); await server?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`a session works while it lives and is refused once expired (${transport})`, async () => {
      const fresh = await c.login();
      await c.initialized(transport, fresh);
      const expiring = await c.login();
      await sleep(1300);
      await assertInitRefused(c, await c.sio(transport), expiring, INVALID_SESSION);
    });
  }

  test('the session cookie expires with the session (Max-Age) and /cookie refuses it after', async () => {
    const res = await fetch(`${server.url}/login`, { method: 'POST', body: JSON.stringify({ userid: unique('kim') }) });
    assert.match(res.headers.get('set-cookie'), /Max-Age=1(;|$)/);
    const cookie = res.headers.get('set-cookie').split(';')[0];
    await sleep(1300);
    const socket = io(`${server.url}/cookie`, {
      path: '/auth/socket.io/', forceNew: true, reconnection: false, transports: ['websocket'], extraHeaders: { cookie },
    });
    try {
      const [err] = await once(socket, 'connect_error');
      assert.equal(err.message, INVALID_SESSION);
    } finally {
      socket.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------------------
// Sessions in Redis
// ---------------------------------------------------------------------------------------

describe('$init (REDIS_URL: sessions in Redis at 127.0.0.1:6379)', () => {
  let server;
  const c = clientsOf(() => server);
  before(async () => {
    // Fails (does not skip) when Redis is not running: the server exits with the reason.
    server = await startAuthServer({
      ...BASE_ENV, REDIS_URL, SESSION_TTL_MS: '1500', RUST_LOG: 'auth=info,realtime_core=warn',
    });
  });
  after(async () => { c.closeAll(); await server?.stop(); });

  test('the example really keeps its sessions in Redis, under its prefix', async () => {
    await withTimeout((async () => { while (!server.output().includes('sessions in Redis')) await sleep(20); })(), 5000, 'the log line');
    // eslint-disable-next-line no-control-regex
    assert.match(server.output().replace(/\x1b\[[0-9;]*m/g, ''), /sessions in Redis url=\S+ prefix=realtime-auth-example:/);
  });

  for (const transport of TRANSPORTS) {
    test(`$init with a session from Redis; forged and expired ones are refused (${transport})`, async () => {
      const alice = await c.login();
      const bob = await c.login();
      const socket = await c.initialized(transport, alice);
      assert.equal((await emitAck(socket, 'whoami'))[0].userid, alice.userid);
      await assertInitRefused(c, await c.sio(transport), { ...alice, userid: bob.userid }, INVALID_SESSION);
      await assertInitRefused(c, await c.sio(transport), { ...alice, tokentimestamp: alice.tokentimestamp + 1 }, INVALID_SESSION);
      await sleep(1700); // Redis expires the key (PX)
      await assertInitRefused(c, await c.sio(transport), alice, INVALID_SESSION);
    });
  }

  test('plain WebSocket $init with a session from Redis, and send_to across protocols', async () => {
    const alice = await c.login();
    const bob = await c.login();
    const p = await c.plainInitialized(alice);
    const b = await c.initialized('websocket', bob);
    await emitAck(b, 'dm', { to: alice.userid, text: 'via redis sessions' });
    assert.deepEqual(await p.event('dm'), ['dm', { from: bob.userid, text: 'via redis sessions' }]);
  });
});

// ---------------------------------------------------------------------------------------
// Sessions in weroll's own Redis format (SESSION_FORMAT=weroll)
// ---------------------------------------------------------------------------------------

describe('$init (SESSION_FORMAT=weroll: sessions in weroll\'s Redis layout)', () => {
  let server;
  let redis;
  const prefix = `realtime-interop-weroll-${process.pid}-${Date.now()}:`;
  const c = clientsOf(() => server);
  before(async () => {
    // Fails (does not skip) when Redis is not running.
    redis = createClient({ url: REDIS_URL });
    redis.on('error', () => {});
    await withTimeout(redis.connect(), 5000, `connecting to Redis at ${REDIS_URL}`);
    server = await startAuthServer({ ...BASE_ENV, REDIS_URL, SESSION_FORMAT: 'weroll', SESSION_PREFIX: prefix });
  });
  after(async () => {
    c.closeAll();
    await server?.stop();
    if (redis?.isOpen) {
      for await (const key of redis.scanIterator({ MATCH: `${prefix}*` })) await redis.del(key);
      await redis.quit();
    }
  });

  /** A session as weroll's `Session.save` writes it: HMSET user_sess_<id>_<token> ..., EXPIRE. */
  async function werollSave(userid, token, tokentimestamp = Date.now()) {
    const key = `${prefix}user_sess_${userid}_${token}`;
    await redis.hSet(key, { userid: String(userid), token, tokentimestamp: String(tokentimestamp), type: '100', extra: JSON.stringify({ nickname: 'Jay' }) });
    await redis.expire(key, 60);
    return { userid, token, tokentimestamp };
  }

  for (const transport of TRANSPORTS) {
    test(`sessions a weroll app wrote shake hands (numeric userid, two devices); forged ones are refused (${transport})`, async () => {
      const userid = 7_000_000 + process.pid * 10 + (++seq);
      const phone = await werollSave(userid, `phone${seq}`);
      const laptop = await werollSave(userid, `laptop${seq}`);
      const a = await c.initialized(transport, phone);
      const b = await c.initialized(transport, laptop);
      assert.deepEqual(await emitAck(a, 'whoami'), [{ clientID: String(userid), socketID: a.id, guest: false, userid: String(userid) }]);
      const got = once(b, 'dm');
      await emitAck(a, 'dm', { to: String(userid), text: 'to my laptop' });
      assert.deepEqual(await got, [{ from: String(userid), text: 'to my laptop' }]);
      await assertInitRefused(c, await c.sio(transport), { ...phone, userid: userid + 1 }, INVALID_SESSION);
      await redis.del(`${prefix}user_sess_${userid}_${phone.token}`);
      await assertInitRefused(c, await c.sio(transport), phone, INVALID_SESSION);
      await c.initialized(transport, laptop);
    });
  }

  test('POST /login writes weroll\'s layout: user_sess_<userid>_<token>, a hash of strings, with a TTL', async () => {
    const sess = await c.login();
    const key = `${prefix}user_sess_${sess.userid}_${sess.token}`;
    const hash = await redis.hGetAll(key);
    assert.equal(hash.userid, sess.userid);
    assert.equal(hash.token, sess.token);
    assert.equal(hash.tokentimestamp, String(sess.tokentimestamp));
    const ttl = await redis.pTTL(key);
    assert.ok(ttl > 0 && ttl <= 600_000, `PTTL ${ttl}`);
    await c.initialized('websocket', sess);
    const out = await fetch(`${server.url}/logout`, { method: 'POST', headers: { cookie: sess.cookie } });
    assert.equal(out.status, 204);
    assert.equal(await redis.exists(key), 0);
  });
});
