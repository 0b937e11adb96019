// The game example (examples/game/) driven by plain WebSocket clients (the `ws` package on
// /ws): JSON frames `[event, data, ackId]`, the compact form `["m", [event, ...args], ackId]`,
// ack replies `["$ack", id, ...args]`, bare binary and text frames, the `/admin` namespace
// with `?ns=/admin&token=...`. The same handlers as game.test.mjs, another protocol.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, GAME_SERVER_BIN, connectPlain, sleep, withTimeout } from '../lib/harness.mjs';

let server;
const plains = [];
before(async () => { server = await startServer({ bin: GAME_SERVER_BIN }); });
after(async () => {
  for (const p of plains) p.close();
  await server?.stop();
});

const QUIET_MS = 300;
let seq = 0;
const unique = prefix => `${prefix}-${++seq}`;
const freshTable = () => 2000 + ++seq;

/** An open plain client, its welcome not yet consumed. */
async function open(query = '') {
  const p = await connectPlain(server.port, query);
  plains.push(p);
  return p;
}

/** An open plain client on `/` that has received its `welcome`. */
async function player() {
  const p = await open();
  await p.event('welcome');
  return p;
}

/** The JSON frames named `event` still in the queue (not consumed). */
const queued = (p, event) => p.frames.filter(f => Array.isArray(f.json) && f.json[0] === event);

test('#[on_connect]: the first frame after open is ["welcome", {id}]', async () => {
  const p = await open();
  const first = await p.next(() => true, 'the first frame');
  assert.equal(first.json?.[0], 'welcome', `first frame: ${first.text}`);
  assert.equal(first.json.length, 2);
  assert.match(first.json[1].id, /^[A-Za-z0-9_-]{20}$/);
});

test('Socket + Data<T>: login → ["$ack", id, {client_id, name}]; Err → {error}', async () => {
  const p = await player();
  const name = unique('pam');
  p.send(['login', { name }, 41]);
  const frame = await p.next(f => f.json?.[0] === '$ack', 'the login ack');
  assert.deepEqual(frame.json, ['$ack', 41, { client_id: name, name }]);
  assert.deepEqual(await p.request('login', { name: '' }), [{ error: 'a name is required' }]);
});

test('Extension<T>: whoami before login → {error}, after login → the player', async () => {
  const p = await player();
  const [before] = await p.request('whoami');
  assert.match(before.error, /^this connection has no \S*Player \(set it with Socket::insert_extension first\)$/);
  const name = unique('pat');
  await p.request('login', { name });
  assert.deepEqual(await p.request('whoami'), [{ name }]);
});

test('TryData<T>: ["score", n] → the score; ["score", "x"] → the handler\'s own error', async () => {
  const p = await player();
  assert.deepEqual(await p.request('score', freshTable()), [0]);
  const [bad] = await p.request('score', { table: 1 });
  assert.match(bad.error, /^expected a table number: invalid type: map, expected/);
});

test('Data<T>: a bad payload with an ack id → ["$ack", id, {error: "invalid payload for event ..."}]', async () => {
  const p = await player();
  const reply = await p.request('sit', 'seven');
  assert.equal(reply.length, 1);
  assert.match(reply[0].error, /^invalid payload for event "sit": invalid type: string "seven"/);
});

test('Data<T>: a bad payload without an ack id → ["$error", {event, error}]', async () => {
  const p = await player();
  p.send(['sit', 'seven']);
  const [, body, ...rest] = await p.event('$error');
  assert.deepEqual(rest, []);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'event']);
  assert.equal(body.event, 'sit');
  assert.match(body.error, /^invalid payload for event "sit": /);
});

test('returning () → ["$ack", id] with no arguments', async () => {
  const p = await player();
  const table = freshTable();
  await p.request('sit', table);
  p.send(['stand', table, 77]);
  assert.deepEqual((await p.next(f => f.json?.[0] === '$ack' && f.json[1] === 77, 'the stand ack')).json, ['$ack', 77]);
});

test('State<T> shared between plain clients; numbers answer the ack', async () => {
  const a = await player();
  const b = await player();
  const table = freshTable();
  assert.deepEqual(await a.request('move', { table, x: 0, y: 0 }), [1]);
  assert.deepEqual(await b.request('move', { table, x: 1, y: 0 }), [2]);
  assert.deepEqual(await a.request('score', table), [2]);
});

test('compact form ["m", ["score", n], id] reaches the same handler as ["score", n, id]', async () => {
  const p = await player();
  const table = freshTable();
  await p.request('move', { table, x: 0, y: 0 });
  p.send(['m', ['score', table], 1001]);
  p.send(['score', table, 1002]);
  assert.deepEqual(await p.ack(1001), [1]);
  assert.deepEqual(await p.ack(1002), [1]);
  // The compact form also carries several arguments: Payload sees them all.
  p.send(['m', ['replay', 'final', { round: 2 }, 3], 1003]);
  assert.deepEqual(await p.ack(1003), [{ args: 3, chunks: 0, bytes: 0 }, { base64: '' }]);
  // And an error in the inner event is reported for the inner name.
  p.send(['m', ['sit', 'x'], 1004]);
  assert.match((await p.ack(1004))[0].error, /^invalid payload for event "sit"/);
});

test('typed rooms: sit → {table, room: "table:n"}; moves reach the table, the mover too, not another table', async () => {
  const a = await player();
  const b = await player();
  const c = await player();
  const table = freshTable();
  const other = freshTable();
  assert.deepEqual(await a.request('sit', table), [{ table, room: `table:${table}` }]);
  assert.deepEqual(await b.request('sit', table), [{ table, room: `table:${table}` }]);
  const [, seated] = await a.event('seated');
  assert.equal(seated.table, table);
  assert.deepEqual(await c.request('sit', other), [{ table: other, room: `table:${other}` }]);
  assert.deepEqual(await a.request('move', { table, x: 4, y: 2 }), [1]);
  const [, aMove] = await a.event('moved');
  const [, bMove] = await b.event('moved');
  assert.deepEqual(aMove, bMove);
  assert.deepEqual({ x: aMove.x, y: aMove.y }, { x: 4, y: 2 });
  await sleep(QUIET_MS);
  assert.equal(queued(a, 'moved').length, 0, 'once for the mover');
  assert.equal(queued(b, 'moved').length, 0, 'once for the other player');
  assert.equal(queued(c, 'moved').length, 0, 'nothing at another table');
});

test('AckSender: ["roll", {table, dice}, id] → ["$ack", id, d1, d2, ...]; without an id → ["rolled", ...]', async () => {
  const a = await player();
  const b = await player();
  const table = freshTable();
  await a.request('sit', table);
  await b.request('sit', table);
  const dice = await a.request('roll', { table, dice: 4 });
  assert.equal(dice.length, 4);
  for (const d of dice) assert.ok(Number.isInteger(d) && d >= 1 && d <= 6, `die ${d}`);
  const [, heard] = await b.event('rolled');
  assert.deepEqual(heard.dice, dice);
  a.send(['roll', { table, dice: 1 }]);
  const [, mine] = await a.event('rolled');
  assert.equal(mine.dice.length, 1);
  assert.deepEqual((await b.event('rolled'))[1], mine);
  // AckSender taken, Data rejects: the error still answers the ack.
  assert.match((await a.request('roll', { table }))[0].error, /^invalid payload for event "roll": missing field `dice`/);
});

test('Bin: a bare binary frame reaches the "message" handler; a bare text frame gets a bare text reply', async () => {
  const p = await player();
  p.send(Buffer.from([9, 8, 7, 6, 5, 4, 3]));
  assert.deepEqual(await p.event('stored'), ['stored', { bytes: 7 }]);
  p.send('not a replay');
  const reply = await p.next(f => f.text?.includes('send a replay'), 'the bare text reply');
  assert.equal(reply.text, '{"error":"send a replay as a binary frame"}');
});

test('Event: the fallback names unknown events, numeric ones too', async () => {
  const p = await player();
  assert.deepEqual(await p.request('dance', { style: 'tango' }), [{ error: 'unknown event "dance"' }]);
  p.send([42, {}, 5001]);
  assert.deepEqual(await p.ack(5001), [{ error: 'unknown event "42"' }]);
});

test('BroadcastOperator: a shout reaches the other plain clients, not the sender', async () => {
  const a = await player();
  const b = await player();
  const text = unique('shout');
  a.send(['shout', text]);
  assert.deepEqual(await b.next(f => f.json?.[0] === 'shout' && f.json[1] === text, 'the shout').then(f => f.json), ['shout', text]);
  await sleep(QUIET_MS);
  assert.equal(queued(a, 'shout').filter(f => f.json[1] === text).length, 0);
});

test('send_to: a user on two plain connections gets a dm once on each; another user none', async () => {
  const [a1, a2, other, sender] = await Promise.all([player(), player(), player(), player()]);
  const alice = unique('alice');
  await a1.request('login', { name: alice });
  await a2.request('login', { name: alice });
  await other.request('login', { name: unique('olga') });
  await sender.request('login', { name: unique('sam') });
  assert.deepEqual(await sender.request('dm', { to: alice, text: 'hello' }), [true]);
  assert.equal((await a1.event('dm'))[1].text, 'hello');
  assert.equal((await a2.event('dm'))[1].text, 'hello');
  await sleep(QUIET_MS);
  for (const p of [a1, a2, other, sender]) assert.equal(queued(p, 'dm').length, 0);
});

test('#[on_disconnect]: closing a logged-in plain connection tells the lobby', async () => {
  const watcher = await player();
  const leaver = await player();
  const name = unique('gone');
  await leaver.request('login', { name });
  leaver.ws.close();
  const frame = await watcher.next(f => f.json?.[0] === 'left' && f.json[1].name === name, 'the left event');
  assert.deepEqual(frame.json, ['left', { name, reason: 'transport close' }]);
});

test('/admin via ?ns=/admin&token=: on_connect fires, stats via Arc<Namespace>, no fallback', async () => {
  const p = await open('?ns=/admin&token=letmein');
  assert.deepEqual(await p.event('admin'), ['admin', 'welcome, operator']);
  const [{ operators }] = await p.request('stats');
  assert.ok(operators >= 1);
  const q = await open('?ns=/admin&token=letmein');
  await q.event('admin');
  assert.deepEqual(await p.request('stats'), [{ operators: operators + 1 }]);
  assert.deepEqual(await p.request('x'), [{ error: 'no handler for event "x"' }]);
  assert.deepEqual(queued(p, 'welcome'), [], "/'s on_connect does not run for /admin");
});

test('/admin with a wrong token: ["$error", {message, data}], then close 1008', async () => {
  for (const query of ['?ns=/admin&token=guess', '?ns=/admin']) {
    const p = await open(query);
    const [, body] = await p.event('$error');
    assert.deepEqual(body, { message: 'admin token required', data: { hint: 'auth.token' } });
    const closed = await withTimeout(p.closed, 5000, 'the close');
    assert.equal(closed.code, 1008);
    assert.deepEqual(queued(p, 'admin'), [], 'on_connect does not run for a refused client');
  }
});
