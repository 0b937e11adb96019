// The chat example (examples/chat): alone, and as two copies on two ports with REDIS_URL set
// (a private redis-server), which must be one chat: one online list, one conversation,
// private messages across copies. One user talks Socket.IO (the npm client), the other the
// plain WebSocket endpoint the example's page uses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { io } from 'socket.io-client';
import { REPO_ROOT, connectPlain, connected, emitAck, sleep, startServer, withTimeout } from '../lib/harness.mjs';
import { startRedis } from '../lib/cluster.mjs';

const CHAT_BIN = process.env.CHAT_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/chat');

/** A Socket.IO user of `server` that keeps what it receives. */
async function sioUser(server) {
  const socket = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  await connected(socket);
  return {
    socket,
    events,
    login: name => emitAck(socket, 'login', { name }).then(([reply]) => reply),
    emit: (event, data) => socket.emit(event, data),
    request: (event, data) => emitAck(socket, event, data).then(([reply]) => reply),
    waitFor: (event, pred = () => true, ms = 5000) => withTimeout((async () => {
      for (;;) {
        const hit = events.find(([e, d]) => e === event && pred(d));
        if (hit) return hit[1];
        await sleep(20);
      }
    })(), ms, `"${event}" on a Socket.IO user`),
  };
}

/** A plain WebSocket user (what examples/chat/index.html is). */
async function plainUser(server) {
  const p = await connectPlain(server.port);
  return {
    p,
    login: name => p.request('login', { name }).then(([reply]) => reply),
    emit: (event, data) => p.send([event, data]),
    request: (event, data) => p.request(event, data).then(([reply]) => reply),
    waitFor: async (event, pred = () => true, ms = 5000) =>
      (await p.next(f => Array.isArray(f.json) && f.json[0] === event && pred(f.json[1]), `["${event}", ...] on a plain user`, ms)).json[1],
  };
}

describe('chat, one process', () => {
  let server;
  before(async () => { server = await startServer({ bin: CHAT_BIN, env: { REDIS_URL: '' } }); });
  after(async () => { await server?.stop(); });

  test('log in, online list, talk, leave', async () => {
    const ann = await sioUser(server);
    const ben = await plainUser(server);
    assert.deepEqual(await ann.login('ann'), { ok: true, online: ['ann'] });
    assert.deepEqual(await ben.login('ben'), { ok: true, online: ['ann', 'ben'] });
    assert.equal(await ann.waitFor('enter'), 'ben');
    assert.deepEqual((await ben.login('ann')).ok, false, 'a second login is refused');
    ben.emit('say', { text: 'hello' });
    assert.deepEqual(await ann.waitFor('chat'), { from: 'ben', text: 'hello', room: null });
    ann.socket.disconnect();
    assert.equal(await ben.waitFor('leave'), 'ann');
    assert.deepEqual(await ben.waitFor('online', list => !list.includes('ann')), ['ben']);
    ben.p.close();
  });
});

describe('chat, two copies on one Redis', () => {
  let redis;
  let one, two;
  before(async () => {
    redis = await startRedis();
    [one, two] = await Promise.all([1, 2].map(() => startServer({ bin: CHAT_BIN, env: { REDIS_URL: redis.url } })));
  });
  after(async () => {
    for (const s of [one, two]) if (s) assert.doesNotMatch(s.output(), /panicked/);
    await Promise.all([one, two].filter(Boolean).map(s => s.stop()));
    await redis?.kill();
  });

  test('one online list, one conversation, private messages and rooms across copies', async () => {
    const alice = await sioUser(one);
    const bob = await plainUser(two);
    assert.deepEqual(await alice.login('alice'), { ok: true, online: ['alice'] });
    assert.deepEqual(await bob.login('bob'), { ok: true, online: ['alice', 'bob'] });
    assert.equal(await alice.waitFor('enter'), 'bob');
    assert.deepEqual(await alice.waitFor('online', l => l.length === 2), ['alice', 'bob']);

    // A name taken on the other copy is taken.
    const carol = await sioUser(two);
    assert.equal((await carol.login('alice')).ok, false);
    assert.equal((await carol.login('carol')).ok, true);

    bob.emit('say', { text: 'hi from two' });
    assert.deepEqual(await alice.waitFor('chat'), { from: 'bob', text: 'hi from two', room: null });
    alice.emit('say', { text: 'hi from one' });
    assert.deepEqual(await bob.waitFor('chat', l => l.from === 'alice'), { from: 'alice', text: 'hi from one', room: null });
    await carol.waitFor('chat', l => l.from === 'alice');

    assert.equal(await alice.request('whisper', { to: 'bob', text: 'psst' }), true);
    assert.deepEqual(await bob.waitFor('private'), { from: 'alice', text: 'psst', room: null });
    assert.equal(await alice.request('whisper', { to: 'nobody', text: '?' }), false);

    alice.emit('join', 'games');
    bob.emit('join', 'games');
    assert.deepEqual(await alice.waitFor('joined'), { room: 'games', name: 'bob' });
    alice.emit('say', { text: 'gg', room: 'games' });
    assert.deepEqual(await bob.waitFor('chat', l => l.room === 'games'), { from: 'alice', text: 'gg', room: 'games' });

    // Nothing arrived twice.
    await sleep(300);
    assert.equal(alice.events.filter(([e, d]) => e === 'chat' && d.text === 'hi from two').length, 1);
    assert.equal(carol.events.filter(([e, d]) => e === 'private').length, 0);
    assert.equal(carol.events.filter(([e, d]) => e === 'chat' && d.room === 'games').length, 0);

    alice.socket.disconnect();
    assert.equal(await bob.waitFor('leave'), 'alice');
    assert.deepEqual(await bob.waitFor('online', l => !l.includes('alice')), ['bob', 'carol']);
    bob.p.close();
    carol.socket.disconnect();
  });
});
