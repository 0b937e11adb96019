// The game example (examples/game/): handlers spread over several modules that register
// themselves with #[event], #[on_connect], #[on_disconnect], #[fallback]; driven by the npm
// socket.io-client (websocket and polling) and, where protocols meet, by plain WebSocket
// clients. Plain-only scenarios are in game-plain.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import {
  startServer, GAME_SERVER_BIN, REPO_ROOT, once, connected, emitAck, collect, sleep, withTimeout,
  bytes, isBinary, connectPlain,
} from '../lib/harness.mjs';

let server;
const sockets = [];
const plains = [];
before(async () => { server = await startServer({ bin: GAME_SERVER_BIN }); });
after(async () => {
  for (const s of sockets) s.disconnect();
  for (const p of plains) p.close();
  await server?.stop();
});

/** How long to keep listening before concluding that something did not arrive. */
const QUIET_MS = 300;

let seq = 0;
/** A name no other test uses (the server lives for the whole file). */
const unique = prefix => `${prefix}-${++seq}`;
/** A table no other test sits at (scores are server-wide state). */
const freshTable = () => 1000 + ++seq;

/** A Socket.IO client on `nsp`, not yet awaited. */
function client(transport, nsp = '/', opts = {}) {
  const socket = io(server.url + nsp, { forceNew: true, reconnection: false, transports: [transport], ...opts });
  sockets.push(socket);
  return socket;
}

/** A connected Socket.IO client on `/` that has received its `welcome`. */
async function player(transport) {
  const socket = client(transport);
  const welcome = once(socket, 'welcome');
  await connected(socket);
  await welcome;
  return socket;
}

/** A connected plain WebSocket client on `/ws` that has received its `welcome`. */
async function plainPlayer(query = '') {
  const p = await connectPlain(server.port, query);
  plains.push(p);
  await p.event('welcome');
  return p;
}

/** Resolves with the first `event` on `socket` satisfying pred. */
function onceWhere(socket, event, pred, what = event) {
  let handler;
  return withTimeout(new Promise(resolve => {
    handler = (...args) => { if (pred(...args)) resolve(args); };
    socket.on(event, handler);
  }), 5000, what).finally(() => socket.off(event, handler));
}

// ---------------------------------------------------------------------------------------
// main.rs lists no handler: they all register themselves.
// ---------------------------------------------------------------------------------------

test('examples/game/main.rs registers no handler by hand; the modules use the attributes', () => {
  const dir = path.join(REPO_ROOT, 'examples/game');
  const main = readFileSync(path.join(dir, 'main.rs'), 'utf8');
  const code = main.replace(/\/\/.*$/gm, '');
  assert.doesNotMatch(main, /\.on\s*\(/, 'main.rs must not call .on(...)');
  assert.doesNotMatch(code, /#\[(event|on_connect|on_disconnect|fallback|on_start)\b/, 'main.rs defines no handler itself');
  assert.match(code, /Realtime::builder\(\)/, 'main.rs builds the server');
  const modules = readdirSync(dir).filter(f => f.endsWith('.rs') && f !== 'main.rs');
  for (const m of modules) {
    const src = readFileSync(path.join(dir, m), 'utf8');
    assert.doesNotMatch(src, /\.on\s*\(\s*"/, `${m} must not register handlers by hand`);
    assert.ok(main.includes(`mod ${m.replace(/\.rs$/, '')};`), `main.rs declares mod ${m}`);
  }
  const all = modules.map(m => readFileSync(path.join(dir, m), 'utf8')).join('\n');
  for (const attr of ['#[event(', '#[on_connect]', '#[on_disconnect]', '#[fallback]', '#[on_start]', 'namespace = "/admin"']) {
    assert.ok(all.includes(attr), `some module uses ${attr}`);
  }
});

// ---------------------------------------------------------------------------------------
// Every extractor and context, on both Socket.IO transports.
// ---------------------------------------------------------------------------------------

for (const transport of ['websocket', 'polling']) {
  test(`#[on_connect]: "welcome" is the first event, right after connect (${transport})`, async () => {
    const socket = client(transport);
    const order = [];
    socket.on('connect', () => order.push('connect'));
    socket.onAny(event => order.push(event));
    const [welcome] = await once(socket, 'welcome');
    assert.deepEqual(welcome, { id: socket.id });
    assert.deepEqual(order, ['connect', 'welcome']);
  });

  test(`Socket + Data<T>, Result Ok(struct) → callback(struct) (${transport})`, async () => {
    const socket = await player(transport);
    const name = unique('ann');
    const [reply, ...rest] = await emitAck(socket, 'login', { name: `  ${name} ` });
    assert.deepEqual(reply, { client_id: name, name });
    assert.equal(rest.length, 0);
  });

  test(`Result Err(String) → callback({error}) (${transport})`, async () => {
    const socket = await player(transport);
    assert.deepEqual(await emitAck(socket, 'login', { name: '   ' }), [{ error: 'a name is required' }]);
  });

  test(`Extension<T>: rejected with a clear error before login, present after (${transport})`, async () => {
    const socket = await player(transport);
    const [before] = await emitAck(socket, 'whoami');
    assert.equal(typeof before.error, 'string');
    assert.match(before.error, /^this connection has no \S*Player \(set it with Socket::insert_extension first\)$/);
    const name = unique('ext');
    await emitAck(socket, 'login', { name });
    assert.deepEqual(await emitAck(socket, 'whoami'), [{ name }]);
  });

  test(`Extension<T> rejection without an ack arrives as "$error" (${transport})`, async () => {
    const socket = await player(transport);
    const err = once(socket, '$error');
    socket.emit('whoami');
    const [body] = await err;
    assert.equal(body.event, 'whoami');
    assert.match(body.error, /has no \S*Player/);
  });

  test(`TryData<T>: a good payload is used, a bad one reaches the handler as an error (${transport})`, async () => {
    const socket = await player(transport);
    const table = freshTable();
    assert.deepEqual(await emitAck(socket, 'score', table), [0]);
    const [bad] = await emitAck(socket, 'score', 'seven');
    assert.match(bad.error, /^expected a table number: invalid type: string "seven", expected/);
    const [missing] = await emitAck(socket, 'score');
    assert.match(missing.error, /^expected a table number: /);
  });

  test(`Data<T> with a bad payload and an ack → callback({error: "invalid payload for event ..."}) (${transport})`, async () => {
    const socket = await player(transport);
    const [reply, ...rest] = await emitAck(socket, 'sit', { table: 'seven' });
    assert.match(reply.error, /^invalid payload for event "sit": /);
    assert.equal(rest.length, 0);
  });

  test(`Data<T> with a bad payload and no ack → "$error" {event, error} (${transport})`, async () => {
    const socket = await player(transport);
    const err = once(socket, '$error');
    socket.emit('move', { table: 1, x: 'left' });
    const [body] = await err;
    assert.deepEqual(Object.keys(body).sort(), ['error', 'event']);
    assert.equal(body.event, 'move');
    assert.match(body.error, /^invalid payload for event "move": /);
  });

  test(`returning () → the callback runs with no arguments (${transport})`, async () => {
    const socket = await player(transport);
    const table = freshTable();
    await emitAck(socket, 'sit', table);
    assert.deepEqual(await emitAck(socket, 'stand', table), []);
    assert.deepEqual(await emitAck(socket, 'shout', 'anyone?'), []);
  });

  test(`State<T> is shared across clients; plain numbers answer the ack (${transport})`, async () => {
    const a = await player(transport);
    const b = await player(transport);
    const table = freshTable();
    assert.deepEqual(await emitAck(a, 'move', { table, x: 1, y: 1 }), [1]);
    assert.deepEqual(await emitAck(a, 'move', { table, x: 2, y: 1 }), [2]);
    assert.deepEqual(await emitAck(b, 'score', table), [2], 'another client sees the same state');
    assert.deepEqual(await emitAck(b, 'move', { table, x: 3, y: 3 }), [3]);
    assert.deepEqual(await emitAck(a, 'score', table), [3]);
    assert.deepEqual(await emitAck(a, 'score', freshTable()), [0], 'tables are counted apart');
  });

  test(`compact form emit("m", ["score", n]) reaches the same handler as emit("score", n) (${transport})`, async () => {
    const socket = await player(transport);
    const table = freshTable();
    await emitAck(socket, 'move', { table, x: 0, y: 0 });
    assert.deepEqual(await emitAck(socket, 'm', ['score', table]), [1]);
    assert.deepEqual(await emitAck(socket, 'score', table), [1]);
    assert.deepEqual(await emitAck(socket, 'm', ['move', { table, x: 1, y: 0 }]), [2]);
    const [bad] = await emitAck(socket, 'm', ['score', 'x']);
    assert.match(bad.error, /^expected a table number/);
    const [unknown] = await emitAck(socket, 'm', ['juggle', 1]);
    assert.deepEqual(unknown, { error: 'unknown event "juggle"' }, 'the fallback sees the inner name');
    // Several inner arguments, binary among them, reach Payload and Bin.
    const [summary, joined] = await emitAck(socket, 'm', ['replay', 'final', Buffer.from([6, 7])]);
    assert.deepEqual(summary, { args: 2, chunks: 1, bytes: 2 });
    assert.deepEqual(bytes(joined), [6, 7]);
    // Not the compact form (a reserved inner name, no array): the event stays "m".
    assert.deepEqual(await emitAck(socket, 'm', ['connect', 1]), [{ error: 'unknown event "m"' }]);
    assert.deepEqual(await emitAck(socket, 'm', 'score'), [{ error: 'unknown event "m"' }]);
  });

  test(`typed rooms: sit Table(n) → room "table:n"; moves reach the whole table, mover included, and no other table (${transport})`, async () => {
    const a = await player(transport);
    const b = await player(transport);
    const c = await player(transport);
    const table = freshTable();
    const other = freshTable();
    assert.deepEqual(await emitAck(a, 'sit', table), [{ table, room: `table:${table}` }]);
    const seated = once(a, 'seated');
    assert.deepEqual(await emitAck(b, 'sit', table), [{ table, room: `table:${table}` }]);
    assert.deepEqual((await seated)[0], { id: b.id, table }, 'the others at the table hear who sat down');
    assert.deepEqual(await emitAck(c, 'sit', other), [{ table: other, room: `table:${other}` }]);

    const seen = { a: collect(a, 'moved'), b: collect(b, 'moved'), c: collect(c, 'moved') };
    const aSeen = once(a, 'moved');
    const bSeen = once(b, 'moved');
    assert.deepEqual(await emitAck(a, 'move', { table, x: 3, y: 4 }), [1]);
    assert.deepEqual((await aSeen)[0], { x: 3, y: 4, by: a.id });
    assert.deepEqual((await bSeen)[0], { x: 3, y: 4, by: a.id });
    await sleep(QUIET_MS);
    assert.equal(seen.a.length, 1, 'the mover gets its move exactly once');
    assert.equal(seen.b.length, 1);
    assert.equal(seen.c.length, 0, 'another table hears nothing');

    // After standing up, b is no longer at the table.
    assert.deepEqual(await emitAck(b, 'stand', table), []);
    await emitAck(a, 'move', { table, x: 5, y: 5 });
    await sleep(QUIET_MS);
    assert.equal(seen.a.length, 2);
    assert.equal(seen.b.length, 1, 'stood up: no more moves');
  });

  test(`AckSender: several ack arguments, then the table hears; no ack → "rolled" to self (${transport})`, async () => {
    const a = await player(transport);
    const b = await player(transport);
    const table = freshTable();
    await emitAck(a, 'sit', table);
    await emitAck(b, 'sit', table);
    const aRolled = collect(a, 'rolled');
    const bRolled = once(b, 'rolled');
    const dice = await emitAck(a, 'roll', { table, dice: 3 });
    assert.equal(dice.length, 3, 'one ack argument per die');
    for (const d of dice) assert.ok(Number.isInteger(d) && d >= 1 && d <= 6, `die ${d}`);
    assert.deepEqual((await bRolled)[0], { by: a.id, dice });
    await sleep(QUIET_MS);
    assert.equal(aRolled.length, 0, 'the roller got the ack, not the event');

    // No ack asked: the roller sees its roll as an event, like the others.
    const selfRolled = once(a, 'rolled');
    const bAgain = once(b, 'rolled');
    a.emit('roll', { table, dice: 2 });
    const [mine] = await selfRolled;
    assert.equal(mine.by, a.id);
    assert.equal(mine.dice.length, 2);
    assert.deepEqual((await bAgain)[0], mine);
  });

  test(`AckSender taken, then Data<T> rejects: the ack still gets the error (${transport})`, async () => {
    const socket = await player(transport);
    const [reply] = await emitAck(socket, 'roll', { dice: 'many' });
    assert.match(reply.error, /^invalid payload for event "roll": /);
  });

  test(`Bin + Payload: several arguments with binary in, a Payload with binary out (${transport})`, async () => {
    const socket = await player(transport);
    const [summary, joined, ...rest] = await emitAck(socket, 'replay', 'final', 7, Buffer.from([1, 2, 3]), { round: 2 }, Buffer.from([4, 5]));
    assert.deepEqual(summary, { args: 5, chunks: 2, bytes: 5 });
    assert.ok(isBinary(joined), 'the reply carries a binary argument');
    assert.deepEqual(bytes(joined), [1, 2, 3, 4, 5]);
    assert.equal(rest.length, 0);

    const [noBinary, empty] = await emitAck(socket, 'replay', 'a', 'b');
    assert.deepEqual(noBinary, { args: 2, chunks: 0, bytes: 0 });
    assert.deepEqual(bytes(empty), []);
  });

  test(`Bin: socket.send(bytes) reaches the "message" handler; acked and announced (${transport})`, async () => {
    const socket = await player(transport);
    const stored = once(socket, 'stored');
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    assert.deepEqual(await emitAck(socket, 'message', data), [300]);
    assert.deepEqual((await stored)[0], { bytes: 300 });
    assert.deepEqual(await emitAck(socket, 'message', 'not binary'), [{ error: 'send a replay as a binary frame' }]);
  });

  test(`Event: the fallback sees the name of an unknown event (${transport})`, async () => {
    const socket = await player(transport);
    assert.deepEqual(await emitAck(socket, 'dance', { style: 'waltz' }), [{ error: 'unknown event "dance"' }]);
    assert.deepEqual(await emitAck(socket, 'tänzeln'), [{ error: 'unknown event "tänzeln"' }]);
    // Without an ack the fallback's Reply has nobody to answer: nothing comes back, and the
    // connection keeps working.
    const stray = collect(socket, '$error');
    socket.emit('dance');
    await sleep(QUIET_MS);
    assert.equal(stray.length, 0);
    assert.deepEqual(await emitAck(socket, 'score', freshTable()), [0]);
  });

  test(`BroadcastOperator: a shout reaches everyone else, never the sender (${transport})`, async () => {
    const a = await player(transport);
    const b = await player(transport);
    const p = await plainPlayer();
    const text = unique('hello everybody');
    const aShouts = collect(a, 'shout');
    const bShout = onceWhere(b, 'shout', t => t === text);
    const pShout = p.next(f => Array.isArray(f.json) && f.json[0] === 'shout' && f.json[1] === text, 'plain shout');
    a.emit('shout', text);
    assert.deepEqual(await bShout, [text]);
    assert.deepEqual((await pShout).json, ['shout', text]);
    await sleep(QUIET_MS);
    assert.deepEqual(aShouts.filter(([t]) => t === text), [], 'the sender is excluded');
  });

  test(`#[on_disconnect] with Option<Extension<T>>: the lobby hears that a logged-in player left (${transport})`, async () => {
    const watcher = await player(transport);
    const leaver = await player(transport);
    const anonymous = await player(transport);
    const name = unique('leaver');
    await emitAck(leaver, 'login', { name });
    const left = collect(watcher, 'left');
    const heard = onceWhere(watcher, 'left', b => b.name === name);
    anonymous.disconnect();
    leaver.disconnect();
    assert.deepEqual((await heard)[0], { name, reason: 'client namespace disconnect' });
    await sleep(QUIET_MS);
    assert.equal(left.filter(([b]) => b.name === name).length, 1);
    assert.equal(left.length, 1, 'a connection that never logged in leaves silently');
  });

  // -------------------------------------------------------------------------------------
  // /admin: middleware, its own on_connect, Arc<Namespace>, no fallback.
  // -------------------------------------------------------------------------------------

  test(`/admin with the token: connects, its on_connect fires, Arc<Namespace> counts operators (${transport})`, async () => {
    const first = client(transport, '/admin', { auth: { token: 'letmein' } });
    const greeted = once(first, 'admin');
    await connected(first);
    assert.deepEqual(await greeted, ['welcome, operator']);
    const [{ operators: before }] = await emitAck(first, 'stats');
    assert.ok(before >= 1);

    const second = client(transport, '/admin', { auth: { token: 'letmein' } });
    const greeted2 = once(second, 'admin');
    await connected(second);
    await greeted2;
    assert.deepEqual(await emitAck(first, 'stats'), [{ operators: before + 1 }]);
    second.disconnect();
    await withTimeout((async () => {
      while ((await emitAck(first, 'stats'))[0].operators !== before) await sleep(20);
    })(), 5000, 'the operator count to drop');
    first.disconnect();
  });

  test(`/admin with a wrong token or none: connect_error with message and data (${transport})`, async () => {
    for (const opts of [{ auth: { token: 'guess' } }, {}]) {
      const socket = client(transport, '/admin', opts);
      const greeted = collect(socket, 'admin');
      const [err] = await once(socket, 'connect_error');
      assert.ok(err instanceof Error);
      assert.equal(err.message, 'admin token required');
      assert.deepEqual(err.data, { hint: 'auth.token' });
      assert.equal(socket.connected, false);
      assert.deepEqual(greeted, [], 'on_connect does not run for a refused client');
    }
  });

  test(`/admin has no fallback: unknown event with ack → {error: 'no handler for event "x"'} (${transport})`, async () => {
    const socket = client(transport, '/admin', { auth: { token: 'letmein' } });
    await connected(socket);
    assert.deepEqual(await emitAck(socket, 'x'), [{ error: 'no handler for event "x"' }]);
    assert.deepEqual(await emitAck(socket, 'login', { name: 'admin' }), [{ error: 'no handler for event "login"' }], '/ handlers stay in /');
    socket.disconnect();
  });
}

// ---------------------------------------------------------------------------------------
// Socket.IO and plain WebSocket clients together.
// ---------------------------------------------------------------------------------------

test('send_to: one user on three connections (socket.io websocket, polling, plain) gets each dm once per connection; another user none', async () => {
  const alice = unique('alice');
  const bob = unique('bob');
  const eve = unique('eve');
  const aWs = await player('websocket');
  const aPoll = await player('polling');
  const aPlain = await plainPlayer();
  const bobWs = await player('websocket');
  const sender = await plainPlayer();

  for (const s of [aWs, aPoll]) assert.deepEqual(await emitAck(s, 'login', { name: alice }), [{ client_id: alice, name: alice }]);
  assert.deepEqual(await aPlain.request('login', { name: alice }), [{ client_id: alice, name: alice }]);
  assert.deepEqual(await emitAck(bobWs, 'login', { name: bob }), [{ client_id: bob, name: bob }]);
  assert.deepEqual(await sender.request('login', { name: eve }), [{ client_id: eve, name: eve }]);

  const dms = { ws: collect(aWs, 'dm'), poll: collect(aPoll, 'dm'), bob: collect(bobWs, 'dm') };
  const firsts = [once(aWs, 'dm'), once(aPoll, 'dm'), aPlain.event('dm')];
  assert.deepEqual(await sender.request('dm', { to: alice, text: 'hi, all of you' }), [true]);
  const [[ws], [poll], plainFrame] = await Promise.all(firsts);
  const expected = { from: eve, text: 'hi, all of you' };
  assert.deepEqual(ws, expected);
  assert.deepEqual(poll, expected);
  assert.deepEqual(plainFrame, ['dm', expected]);
  await sleep(QUIET_MS);
  assert.equal(dms.ws.length, 1, 'socket.io websocket: exactly once');
  assert.equal(dms.poll.length, 1, 'socket.io polling: exactly once');
  assert.equal(aPlain.frames.filter(f => f.json?.[0] === 'dm').length, 0, 'plain: exactly once');
  assert.equal(dms.bob.length, 0, 'a different user gets nothing');
  assert.equal(sender.frames.filter(f => f.json?.[0] === 'dm').length, 0, 'the sender gets nothing');

  // And the other way round: from socket.io to the one plain user.
  const bobSeesIt = onceWhere(bobWs, 'dm', () => true);
  assert.deepEqual(await emitAck(aPoll, 'dm', { to: bob, text: 'psst' }), [true]);
  assert.deepEqual((await bobSeesIt)[0], { from: alice, text: 'psst' });
});

test('send_to needs a login: a dm before it is rejected by Extension<Player>', async () => {
  const socket = await player('websocket');
  const [reply] = await emitAck(socket, 'dm', { to: 'anyone', text: 'hi' });
  assert.match(reply.error, /has no \S*Player/);
});

test('the same handlers answer a socket.io client and a plain client alike', async () => {
  const sio = await player('websocket');
  const plain = await plainPlayer();
  const table = freshTable();
  const name = unique('same');
  assert.deepEqual(await emitAck(sio, 'login', { name }), [{ client_id: name, name }]);
  assert.deepEqual(await plain.request('login', { name }), [{ client_id: name, name }]);
  assert.deepEqual(await plain.request('whoami'), await emitAck(sio, 'whoami'));
  assert.deepEqual(await emitAck(sio, 'sit', table), await plain.request('sit', table));
  assert.deepEqual(await emitAck(sio, 'move', { table, x: 0, y: 0 }), [1]);
  assert.deepEqual(await plain.request('move', { table, x: 1, y: 0 }), [2]);
  assert.deepEqual(await plain.request('score', table), await emitAck(sio, 'score', table));
  assert.deepEqual(await plain.request('dance'), await emitAck(sio, 'dance'));
  const [sioBad] = await emitAck(sio, 'sit', 'x');
  const [plainBad] = await plain.request('sit', 'x');
  assert.deepEqual(plainBad, sioBad);
});

test('a broadcast from either protocol reaches both: moves at a shared table, shouts in the lobby', async () => {
  const sio = await player('polling');
  const plain = await plainPlayer();
  const table = freshTable();
  await emitAck(sio, 'sit', table);
  await plain.request('sit', table);

  // A plain client's move reaches the socket.io client at the table, and itself.
  const sioMoved = once(sio, 'moved');
  assert.deepEqual(await plain.request('move', { table, x: 7, y: 8 }), [1]);
  const [fromPlain] = await sioMoved;
  assert.equal(fromPlain.x, 7);
  assert.equal(fromPlain.y, 8);
  const [, ownMove] = await plain.event('moved');
  assert.deepEqual(ownMove, fromPlain);

  // A socket.io client's move reaches the plain client.
  const plainMoved = plain.event('moved');
  const sioOwn = once(sio, 'moved');
  assert.deepEqual(await emitAck(sio, 'move', { table, x: 9, y: 9 }), [2]);
  assert.deepEqual((await plainMoved)[1], { x: 9, y: 9, by: sio.id });
  assert.deepEqual((await sioOwn)[0], { x: 9, y: 9, by: sio.id });

  // A plain client's shout reaches the socket.io client.
  const text = unique('from plain');
  const heard = onceWhere(sio, 'shout', t => t === text);
  plain.send(['shout', text]);
  assert.deepEqual(await heard, [text]);
});
