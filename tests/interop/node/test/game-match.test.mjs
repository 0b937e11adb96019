// The pong matches of the game example (examples/game/arena.rs, pong.rs), at the protocol
// level: the lobby's list, creating and joining matches (typed rooms), inputs as events, and
// the server-authoritative tick loop (one tokio task per match, broadcasting the state at
// 20 Hz, stopped when the match empties). Socket.IO clients on both transports and a plain
// WebSocket client play against each other. The page itself is tested in Chromium by
// tests/interop/browser/game.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import {
  startServer, GAME_SERVER_BIN, once, connected, emitAck, collect, sleep, withTimeout, connectPlain,
} from '../lib/harness.mjs';

/** pong.rs: a 640 × 400 field, 80 px paddles. */
const BOTTOM = 400 - 80;
const MIDDLE = BOTTOM / 2;
const QUIET_MS = 300;

let server;
const sockets = [];
const plains = [];
before(async () => { server = await startServer({ bin: GAME_SERVER_BIN }); });
after(async () => {
  for (const s of sockets) s.disconnect();
  for (const p of plains) p.close();
  await server?.stop();
});

let seq = 0;
const unique = prefix => `${prefix}-${++seq}`;

/** A Socket.IO client logged in as a fresh name. */
async function player(transport = 'websocket', name = unique('player')) {
  const socket = io(server.url, { forceNew: true, reconnection: false, transports: [transport] });
  sockets.push(socket);
  await connected(socket);
  const [welcome] = await emitAck(socket, 'login', { name });
  assert.equal(welcome.name, name);
  socket.name = name;
  return socket;
}

/** A plain WebSocket client logged in as a fresh name. */
async function plainPlayer(name = unique('plain')) {
  const p = await connectPlain(server.port);
  plains.push(p);
  await p.event('welcome');
  assert.equal((await p.request('login', { name }))[0].name, name);
  p.name = name;
  return p;
}

/** The next `state` of match `id` on `socket` that satisfies pred. */
function nextState(socket, id, pred = () => true, what = 'a state', ms = 5000) {
  let handler;
  return withTimeout(new Promise(resolve => {
    handler = s => { if (s.match === id && pred(s)) resolve(s); };
    socket.on('state', handler);
  }), ms, `${what} of match ${id}`).finally(() => socket.off('state', handler));
}

/** The lobby's view, polled until pred holds (the running count drops once a loop is gone). */
async function lobbyUntil(socket, pred, what) {
  const deadline = Date.now() + 5000;
  let view;
  while (Date.now() < deadline) {
    [view] = await emitAck(socket, 'lobby');
    if (pred(view)) return view;
    await sleep(50);
  }
  assert.fail(`the lobby never showed ${what}: ${JSON.stringify(view)}`);
}

const listed = (view, id) => view.matches.find(m => m.id === id);

test('create and join: seats, the field, errors for a full, unknown or malformed match, and a login first', async () => {
  const anonymous = io(server.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  sockets.push(anonymous);
  await connected(anonymous);
  const [refused] = await emitAck(anonymous, 'create_match');
  assert.match(refused.error, /has no \S*Player/, 'only logged-in players open matches');

  const a = await player();
  const [created] = await emitAck(a, 'create_match');
  assert.equal(typeof created.match, 'number');
  assert.equal(created.side, 'left');
  assert.deepEqual(created.field, {
    width: 640, height: 400, paddle_w: 10, paddle_h: 80, paddle_x: 20, ball_r: 6, points_to_win: 5,
  });
  assert.deepEqual(await emitAck(a, 'join_match', created.match), [{ error: `already playing in match ${created.match}` }]);

  const b = await player('polling');
  const [joined] = await emitAck(b, 'join_match', created.match);
  assert.deepEqual(joined, { match: created.match, side: 'right', field: created.field });

  const c = await player();
  assert.deepEqual(await emitAck(c, 'join_match', created.match), [{ error: `match ${created.match} is full` }]);
  assert.deepEqual(await emitAck(c, 'join_match', 999999), [{ error: 'no match 999999' }]);
  const [malformed] = await emitAck(c, 'join_match', 'seven');
  assert.match(malformed.error, /^invalid payload for event "join_match"/);
  assert.deepEqual(await emitAck(c, 'input', { dir: 1 }), [{ error: 'not in a match' }]);
  for (const s of [a, b]) await emitAck(s, 'leave_match');
});

test('the lobby: open matches with their players, pushed as "matches" on every change', async () => {
  const watcher = await player();
  const [initial] = await emitAck(watcher, 'lobby');
  assert.ok(Array.isArray(initial.matches) && typeof initial.running === 'number', JSON.stringify(initial));
  const pushes = collect(watcher, 'matches');

  const a = await player();
  const [{ match }] = await emitAck(a, 'create_match');
  await withTimeout((async () => { while (!pushes.some(([v]) => listed(v, match))) await sleep(20); })(), 5000, 'the new match in a push');
  assert.deepEqual(listed(pushes.at(-1)[0], match), { id: match, players: [a.name] });

  const b = await player();
  pushes.length = 0;
  await emitAck(b, 'join_match', match);
  await withTimeout((async () => { while (pushes.length === 0) await sleep(20); })(), 5000, 'a push after the join');
  assert.equal(listed(pushes.at(-1)[0], match), undefined, 'a full match is not open');

  pushes.length = 0;
  await emitAck(a, 'leave_match');
  await withTimeout((async () => { while (pushes.length === 0) await sleep(20); })(), 5000, 'a push after the leave');
  assert.deepEqual(listed(pushes.at(-1)[0], match), { id: match, players: [b.name] }, 'open again, with who stayed');
  await emitAck(b, 'leave_match');
});

test('the tick loop: about 20 states a second, consecutive ticks, the same state for both players', async () => {
  const a = await player();
  const b = await player('polling');
  const [{ match }] = await emitAck(a, 'create_match');
  await emitAck(b, 'join_match', match);
  const seen = { a: collect(a, 'state'), b: collect(b, 'state') };
  await sleep(1000);
  for (const [who, states] of Object.entries(seen)) {
    const ticks = states.map(([s]) => s.tick);
    assert.ok(ticks.length >= 14 && ticks.length <= 26, `${who}: ${ticks.length} states in one second`);
    for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i], ticks[i - 1] + 1, `${who}: ticks in order, none skipped: ${ticks}`);
  }
  // Whatever tick both saw, they saw the same state: one state per tick, broadcast.
  const byTick = new Map(seen.a.map(([s]) => [s.tick, s]));
  const common = seen.b.filter(([s]) => byTick.has(s.tick));
  assert.ok(common.length >= 10, `both players saw the same ticks (${common.length} in common)`);
  for (const [s] of common) assert.deepEqual(s, byTick.get(s.tick));
  const [last] = seen.b.at(-1);
  assert.deepEqual(Object.keys(last).sort(), ['ball', 'left', 'match', 'right', 'status', 'tick', 'winner']);
  assert.deepEqual(last.left, { name: a.name, y: MIDDLE, score: 0 });
  assert.deepEqual(last.right, { name: b.name, y: MIDDLE, score: 0 });
  assert.ok(['serving', 'playing'].includes(last.status), last.status);
  for (const s of [a, b]) await emitAck(s, 'leave_match');
});

test('inputs: each player moves only their own paddle, the other sees it, it stops at the walls and on dir 0', async () => {
  const a = await player();
  const b = await player();
  const [{ match }] = await emitAck(a, 'create_match');
  await emitAck(b, 'join_match', match);
  a.emit('input', { dir: -1 });
  const top = await nextState(b, match, s => s.left.y === 0, 'alice at the top');
  assert.equal(top.right.y, MIDDLE, 'the other paddle did not move');
  b.emit('input', { dir: 7 }); // clamped to 1
  await nextState(a, match, s => s.right.y === BOTTOM, 'bob at the bottom');
  a.emit('input', { dir: 1 });
  await nextState(b, match, s => s.left.y > 0, 'alice moving down');
  // Ok(()) answers as `()` does: with no argument.
  const stopReply = await emitAck(a, 'input', { dir: 0 });
  assert.deepEqual(stopReply, [], JSON.stringify(stopReply));
  const stopped = (await nextState(b, match, () => true)).left.y;
  await sleep(QUIET_MS);
  const later = await nextState(b, match, () => true);
  assert.equal(later.left.y, stopped, 'dir 0 stops the paddle');
  assert.ok(stopped > 0 && stopped < BOTTOM, `stopped between the walls (y=${stopped})`);
  for (const s of [a, b]) await emitAck(s, 'leave_match');
});

test('a missed ball is a point for the other side, served again from the middle', async () => {
  const a = await player();
  const b = await player();
  const [{ match }] = await emitAck(a, 'create_match');
  await emitAck(b, 'join_match', match);
  // Both paddles park at the top; the first serve goes left, 45° away from either paddle
  // when it arrives (y ≈ 200 ± 100), so the left player misses it.
  a.emit('input', { dir: -1 });
  b.emit('input', { dir: -1 });
  const playing = await nextState(a, match, s => s.status === 'playing', 'the serve');
  assert.equal(playing.left.score + playing.right.score, 0);
  const scored = await nextState(a, match, s => s.right.score === 1, 'a point for the right side', 10000);
  assert.equal(scored.left.score, 0);
  assert.equal(scored.status, 'serving');
  assert.deepEqual(scored.ball, [320, 200]);
  for (const s of [a, b]) await emitAck(s, 'leave_match');
});

test('a plain WebSocket client plays against a Socket.IO client: same lobby, same match, same states', async () => {
  const p = await plainPlayer();
  const s = await player('polling');
  const [created] = await p.request('create_match');
  assert.equal(created.side, 'left');
  await emitAck(s, 'join_match', created.match);
  p.send(['input', { dir: 1 }]);
  const seen = await nextState(s, created.match, st => st.left.y === BOTTOM, 'the plain player at the bottom');
  assert.equal(seen.left.name, p.name);
  const frame = await p.next(f => Array.isArray(f.json) && f.json[0] === 'state' && f.json[1].left?.y === BOTTOM, 'a state frame');
  assert.equal(frame.json[1].right.name, s.name);
  assert.deepEqual(await p.request('leave_match'), []);
  await emitAck(s, 'leave_match');
});

test('the loop stops when the match empties: by leaving, by disconnecting; leavers get no more states', async () => {
  const watcher = await player();
  const base = (await lobbyUntil(watcher, () => true, 'a view')).running;
  const a = await player();
  const b = await player();
  const [{ match }] = await emitAck(a, 'create_match');
  await emitAck(b, 'join_match', match);
  assert.equal((await lobbyUntil(watcher, v => v.running === base + 1, 'one more loop')).running, base + 1);

  // b leaves: the match goes on (a waits) and b hears no more of it.
  await emitAck(b, 'leave_match');
  const waiting = await nextState(a, match, s => s.status === 'waiting', 'waiting');
  assert.equal(waiting.right, null);
  const late = collect(b, 'state');
  await sleep(QUIET_MS);
  assert.deepEqual(late, [], 'no state after leaving');
  assert.equal((await emitAck(watcher, 'lobby'))[0].running, base + 1);

  // a disconnects: the match is closed and its loop is gone.
  a.disconnect();
  const view = await lobbyUntil(watcher, v => v.running === base, 'the loop stopped');
  assert.equal(listed(view, match), undefined);
  assert.deepEqual(await emitAck(b, 'join_match', match), [{ error: `no match ${match}` }]);

  // Creating from inside a match moves the player: the old match, now empty, stops too.
  const [first] = await emitAck(b, 'create_match');
  const [second] = await emitAck(b, 'create_match');
  assert.notEqual(first.match, second.match);
  const after = await lobbyUntil(watcher, v => v.running === base + 1, 'only the second loop');
  assert.equal(listed(after, first.match), undefined);
  assert.deepEqual(listed(after, second.match), { id: second.match, players: [b.name] });
  await emitAck(b, 'leave_match');
  await lobbyUntil(watcher, v => v.running === base, 'no loop left');
});
