// Connection state recovery for plain WebSocket clients (docs: plain_websocket.md): with
// recovery on, a plain client that asks for it (?recover=1) gets ["$session", {sid, pid,
// recovered}] first and {"$offset": ...} after each recoverable event, and when it comes
// back with ?pid=...&offset=... its socket id, rooms, and every event it missed, once, in
// order, before new ones. A plain client that does not ask sees the plain protocol
// unchanged. Against the interop server with CONNECTION_STATE_RECOVERY=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { connectPlain, connected, emitAck, sleep, startServer, withTimeout } from '../lib/harness.mjs';

describe('connection state recovery, plain WebSocket', () => {
  let server;
  before(async () => { server = await startServer({ env: { CONNECTION_STATE_RECOVERY: '1' } }); });
  after(async () => { await server?.stop(); });

  const isEvent = name => f => f.json?.[0] === name;

  /** `[event, ...args, {$offset}]` → `{args, offset}`. */
  function split(frame) {
    const [, ...rest] = frame.json;
    const last = rest.at(-1);
    assert.ok(last && typeof last.$offset === 'string', `an offset ends ${frame.text}`);
    return { args: rest.slice(0, -1), offset: last.$offset };
  }

  test('a plain client cut off comes back with ?pid&offset and gets what it missed', async () => {
    const a = await connectPlain(server.port, '?recover=1');
    const session = (await a.next(isEvent('$session'), '$session')).json[1];
    assert.equal(session.recovered, false);
    assert.ok(session.sid && session.pid, JSON.stringify(session));
    a.send(['join', 'pr', 1]);
    await a.next(f => f.json?.[0] === '$ack' && f.json[1] === 1, 'join ack');

    const sender = io(server.url, { transports: ['websocket'], forceNew: true });
    await connected(sender);
    await emitAck(sender, 'to-room', { room: 'pr', data: 0 });
    const first = split(await a.next(isEvent('room-message'), 'first message'));
    assert.equal(first.args[0].data, 0);

    // A TCP-level cut: no close frame.
    a.ws._socket.destroy();
    await withTimeout(a.closed, 5000, 'close');
    await sleep(150); // the server notices and keeps the state
    for (let i = 1; i <= 4; i++) await emitAck(sender, 'to-room', { room: 'pr', data: i });

    const back = await connectPlain(server.port, `?pid=${encodeURIComponent(session.pid)}&offset=${encodeURIComponent(first.offset)}`);
    await emitAck(sender, 'to-room', { room: 'pr', data: 5 });
    await withTimeout((async () => { while (back.frames.filter(isEvent('room-message')).length < 5) await sleep(10); })(), 5000, 'every message');
    await sleep(200);
    const frames = back.frames.filter(f => f.json?.[0] === '$session' || f.json?.[0] === 'room-message');
    assert.equal(frames[0].json[0], '$session', 'the session frame comes first');
    assert.deepEqual(frames[0].json[1], { sid: session.sid, pid: session.pid, recovered: true });
    const got = frames.slice(1).map(split);
    assert.deepEqual(got.map(g => g.args[0].data), [1, 2, 3, 4, 5], 'each once, in order, missed before new');
    const offsets = got.map(g => BigInt(g.offset));
    assert.deepEqual([...offsets].sort((x, y) => (x < y ? -1 : 1)), offsets, 'offsets increase');
    back.close();
    sender.disconnect();
  });

  test('a plain client that does not ask gets no $session frame and no offsets', async () => {
    const a = await connectPlain(server.port);
    a.send(['join', 'quiet', 1]);
    await a.next(f => f.json?.[0] === '$ack' && f.json[1] === 1, 'join ack');
    const sender = io(server.url, { transports: ['websocket'], forceNew: true });
    await connected(sender);
    await emitAck(sender, 'to-room', { room: 'quiet', data: 1 });
    const frame = await a.next(isEvent('room-message'), 'the message');
    assert.equal(frame.json.length, 2, `no offset: ${frame.text}`);
    assert.equal(a.frames.filter(isEvent('$session')).length, 0, 'no $session frame');
    a.close();
    sender.disconnect();
  });

  test('a wrong pid is a new plain socket, told so', async () => {
    const a = await connectPlain(server.port, '?pid=nope&offset=1');
    const session = (await a.next(isEvent('$session'), '$session')).json[1];
    assert.equal(session.recovered, false);
    a.close();
  });
});
