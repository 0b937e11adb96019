// The chat example (examples/chat): log in over HTTP for a JWT, connect with it in the query
// string (Socket.IO and the plain WebSocket endpoint, as its two pages do), then enter/leave
// notices, the online list, group, room and private messages, and weroll's compact "m" form.
// Alone, and as two copies on two ports with REDIS_URL set (a private redis-server), which
// must be one chat. The pages themselves are driven in Chromium by
// ../browser/chat.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectPlain, sleep, startServer } from '../lib/harness.mjs';
import { startRedis } from '../lib/cluster.mjs';
import { CHAT_BIN, CHAT_SECRET, forgeToken, login, plainUser, sioUser, startChat, tokenFor } from '../lib/chat.mjs';

/** The connect_error a Socket.IO client gets with `token`, as { message, data }. */
async function sioRefusal(server, token) {
  try {
    const user = await sioUser(server, token);
    user.close();
  } catch (err) {
    return { message: err.message, data: err.data };
  }
  throw new Error('the connection was accepted');
}

describe('chat, one process', () => {
  let server;
  before(async () => { server = await startChat(); });
  after(async () => {
    assert.doesNotMatch(server?.output() ?? '', /panicked/);
    await server?.stop();
  });

  test('POST /login issues a token for the name, and refuses bad and taken names', async () => {
    const { status, body } = await login(server, '  zoe ');
    assert.equal(status, 200);
    assert.equal(body.name, 'zoe', 'the name is trimmed');
    const [, payload] = body.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    assert.equal(claims.sub, 'zoe');
    assert.ok(claims.exp > Date.now() / 1000 + 3600, 'valid for hours');

    for (const bad of ['', '   ', 'x'.repeat(17), '$client:zoe']) {
      const r = await login(server, bad);
      assert.equal(r.status, 400, `name ${JSON.stringify(bad)}`);
      assert.match(r.body.error, /1 to 16 characters/);
    }
    assert.equal((await login(server, '张三')).status, 200, 'any script');
    const raw = await fetch(`${server.url}/login`, { method: 'POST', body: 'name=zoe' });
    assert.equal(raw.status, 400);

    // Taken while someone is online with it, free again once they leave.
    const zoe = await sioUser(server, body.token);
    await zoe.waitFor('welcome');
    const taken = await login(server, 'zoe');
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error, 'zoe is already online');
    zoe.close();
    for (let i = 0; (await login(server, 'zoe')).status !== 200; i++) {
      assert.ok(i < 50, 'zoe is free again after disconnecting');
      await sleep(20);
    }
  });

  test('a connection without a valid token is refused with the reason, on both endpoints', async () => {
    assert.deepEqual(await sioRefusal(server, null), {
      message: 'no token: expected one in the query parameter `token`', data: { code: 'missing_token' },
    });
    const plainNoToken = await connectPlain(server.port);
    assert.deepEqual(await plainNoToken.event('$error'), ['$error', {
      message: 'no token: expected one in the query parameter `token`', data: { code: 'missing_token' },
    }]);
    assert.equal((await plainNoToken.closed).code, 1008);

    const cases = [
      [forgeToken({ sub: 'eve' }, { secret: 'not-the-secret' }), 'invalid token signature'],
      [forgeToken({ sub: 'eve', exp: Math.floor(Date.now() / 1000) - 60 }, { expiresIn: null }), 'token expired'],
      [forgeToken({ sub: 'eve' }, { expiresIn: null }), 'token is missing the `exp` claim'],
      ['not-a-token', 'malformed token'],
      ['', 'no token: expected one in the query parameter `token`'],
    ];
    for (const [token, reason] of cases) {
      assert.equal((await sioRefusal(server, token)).message, reason);
      const plain = await connectPlain(server.port, `?token=${encodeURIComponent(token)}`);
      assert.equal((await plain.event('$error'))[1].message, reason);
      assert.equal((await plain.closed).code, 1008);
    }
    // A token the test signs with the server's secret is as good as one from /login.
    const mallory = await sioUser(server, forgeToken({ sub: 'mallory' }));
    assert.equal((await mallory.waitFor('welcome')).name, 'mallory');
    mallory.close();
  });

  test('enter, online list, group, room and private messages, the "m" form, leave', async () => {
    const ann = await sioUser(server, await tokenFor(server, 'ann'));
    assert.deepEqual(await ann.waitFor('welcome'), { name: 'ann', online: ['ann'] });
    const ben = await plainUser(server, await tokenFor(server, 'ben'));
    assert.deepEqual(await ben.waitFor('welcome'), { name: 'ben', online: ['ann', 'ben'] });
    assert.equal(await ann.waitFor('enter'), 'ben');
    assert.deepEqual(await ann.waitFor('online', l => l.length === 2), ['ann', 'ben']);
    const cat = await sioUser(server, await tokenFor(server, 'cat'));
    await cat.waitFor('welcome');
    assert.deepEqual(await ben.request('online'), ['ann', 'ben', 'cat'], 'the seed\'s GroupList request');

    // Group: everyone, the sender too. The names come from the tokens, whatever the client says.
    ann.send('say', { text: 'hello all', from: 'not-ann' }); // compact: emit("m", ["say", ...])
    for (const u of [ann, ben, cat]) assert.deepEqual(await u.waitFor('chat'), { from: 'ann', text: 'hello all', room: null });
    ben.sendCompact('say', { text: 'plain compact' }); // ["m", ["say", ...]]
    assert.deepEqual(await ann.waitFor('chat', l => l.from === 'ben'), { from: 'ben', text: 'plain compact', room: null });
    ben.send('say', { text: 'plain full' });
    await cat.waitFor('chat', l => l.text === 'plain full');
    // A raw text frame (the last seed's mini-program client) is a group message too.
    ben.sendRaw('raw hello');
    assert.deepEqual(await ann.waitFor('chat', l => l.text === 'raw hello'), { from: 'ben', text: 'raw hello', room: null });
    await ben.waitFor('chat', l => l.text === 'raw hello');

    // Private: only the addressee.
    assert.equal(await ben.request('whisper', { to: 'ann', text: 'psst' }), true);
    assert.deepEqual(await ann.waitFor('private'), { from: 'ben', to: 'ann', text: 'psst' });
    assert.equal(await ann.request('whisper', { to: 'nobody', text: '?' }), false);

    // Rooms: join, speak to members only, leave.
    assert.deepEqual(await ann.request('join', 'games'), { rooms: ['games'] });
    assert.deepEqual(await ben.request('join', 'games'), { rooms: ['games'] });
    assert.deepEqual(await ann.waitFor('joined'), { room: 'games', name: 'ben' });
    assert.match((await cat.request('join', '$client:ann')).error, /1 to 16 characters/, 'no way into private messages');
    ben.send('say', { text: 'gg', room: 'games' });
    assert.deepEqual(await ann.waitFor('chat', l => l.room === 'games'), { from: 'ben', text: 'gg', room: 'games' });
    await ben.waitFor('chat', l => l.room === 'games');
    cat.send('say', { text: 'let me in', room: 'games' });
    assert.equal(await cat.waitFor('notice'), 'join #games to speak in it');
    assert.deepEqual(await ann.request('leave', 'games'), { rooms: [] });
    assert.deepEqual(await ben.waitFor('left'), { room: 'games', name: 'ann' });
    ben.send('say', { text: 'anyone?', room: 'games' });
    await ben.waitFor('chat', l => l.text === 'anyone?');

    await sleep(200);
    const seen = (u, pred) => u.events.filter(([e, d]) => pred(e, d)).length;
    assert.equal(seen(cat, e => e === 'private'), 0, 'a private message reaches only the addressee');
    assert.equal(seen(cat, (e, d) => e === 'chat' && d.room), 0, 'room messages reach only members');
    assert.equal(seen(ann, (e, d) => e === 'chat' && d.text === 'anyone?'), 0, 'not after leaving');
    assert.equal(seen(ann, (e, d) => e === 'chat' && d.text === 'hello all'), 1, 'nothing twice');

    ann.close();
    assert.equal(await ben.waitFor('leave'), 'ann');
    assert.deepEqual(await ben.waitFor('online', l => !l.includes('ann')), ['ben', 'cat']);
    ben.close();
    assert.equal(await cat.waitFor('leave', n => n === 'ben'), 'ben');
    cat.close();
  });

  test('one user with two tabs: one name online, private messages to both, one leave', async () => {
    const token = await tokenFor(server, 'dan');
    const tab1 = await sioUser(server, token);
    await tab1.waitFor('welcome');
    const eve = await plainUser(server, await tokenFor(server, 'eve'));
    await eve.waitFor('welcome');
    const tab2 = await plainUser(server, token);
    assert.deepEqual(await tab2.waitFor('welcome'), { name: 'dan', online: ['dan', 'eve'] });
    assert.equal(await eve.request('whisper', { to: 'dan', text: 'both tabs' }), true);
    await tab1.waitFor('private');
    await tab2.waitFor('private');
    tab1.close();
    await eve.waitFor('online', l => l.length === 2 && eve.events.filter(([e]) => e === 'online').length >= 3);
    await sleep(200);
    assert.equal(eve.events.filter(([e]) => e === 'enter').length, 0, 'the second tab is no newcomer');
    assert.equal(eve.events.filter(([e]) => e === 'leave').length, 0, 'dan is still here');
    tab2.close();
    assert.equal(await eve.waitFor('leave'), 'dan');
    eve.close();
  });

  test('the pages and the Socket.IO client bundle are served', async () => {
    for (const [path, type] of [['/', /text\/html/], ['/plain.html', /text\/html/], ['/chat.js', /javascript/], ['/chat.css', /text\/css/]]) {
      const res = await fetch(server.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type'), type, path);
    }
    const bundle = await fetch(`${server.url}/vendor/socket.io.min.js`);
    assert.equal(bundle.status, 200, 'served from tests/interop/node/node_modules (npm ci)');
    assert.match(await bundle.text(), /Socket\.IO v4/);
  });
});

describe('chat, without the client bundle on disk', () => {
  test('the page\'s bundle route redirects to the official CDN', async () => {
    const server = await startChat({ SOCKET_IO_CLIENT_DIST: '/nonexistent/socket.io-client/dist' });
    try {
      const res = await fetch(`${server.url}/vendor/socket.io.min.js`, { redirect: 'manual' });
      assert.equal(res.status, 307);
      assert.match(res.headers.get('location'), /^https:\/\/cdn\.socket\.io\/4\.[0-9.]+\/socket\.io\.min\.js$/);
    } finally {
      await server.stop();
    }
  });
});

describe('chat, two copies on one Redis', () => {
  let redis;
  let one, two;
  before(async () => {
    redis = await startRedis();
    [one, two] = await Promise.all([1, 2].map(() => startServer({ bin: CHAT_BIN, env: { REDIS_URL: redis.url, JWT_SECRET: CHAT_SECRET } })));
  });
  after(async () => {
    for (const s of [one, two]) if (s) assert.doesNotMatch(s.output(), /panicked/);
    await Promise.all([one, two].filter(Boolean).map(s => s.stop()));
    await redis?.kill();
  });

  test('one online list, one conversation, private messages and rooms across copies', async () => {
    const alice = await sioUser(one, await tokenFor(one, 'alice'));
    assert.deepEqual(await alice.waitFor('welcome'), { name: 'alice', online: ['alice'] });
    // A token from one copy opens the other (same JWT_SECRET).
    const bob = await plainUser(two, await tokenFor(one, 'bob'));
    assert.deepEqual(await bob.waitFor('welcome'), { name: 'bob', online: ['alice', 'bob'] });
    assert.equal(await alice.waitFor('enter'), 'bob');
    assert.deepEqual(await alice.waitFor('online', l => l.length === 2), ['alice', 'bob']);

    // A name online on one copy is taken on the other.
    assert.equal((await login(two, 'alice')).status, 409);
    const carol = await sioUser(two, await tokenFor(two, 'carol'));
    await carol.waitFor('welcome');

    bob.send('say', { text: 'hi from two' });
    assert.deepEqual(await alice.waitFor('chat'), { from: 'bob', text: 'hi from two', room: null });
    alice.send('say', { text: 'hi from one' });
    assert.deepEqual(await bob.waitFor('chat', l => l.from === 'alice'), { from: 'alice', text: 'hi from one', room: null });
    await carol.waitFor('chat', l => l.from === 'alice');

    assert.equal(await alice.request('whisper', { to: 'bob', text: 'psst' }), true);
    assert.deepEqual(await bob.waitFor('private'), { from: 'alice', to: 'bob', text: 'psst' });
    assert.equal(await alice.request('whisper', { to: 'nobody', text: '?' }), false);

    await alice.request('join', 'games');
    await bob.request('join', 'games');
    assert.deepEqual(await alice.waitFor('joined'), { room: 'games', name: 'bob' });
    alice.send('say', { text: 'gg', room: 'games' });
    assert.deepEqual(await bob.waitFor('chat', l => l.room === 'games'), { from: 'alice', text: 'gg', room: 'games' });

    // Nothing arrived twice, nothing where it should not.
    await sleep(300);
    assert.equal(alice.events.filter(([e, d]) => e === 'chat' && d.text === 'hi from two').length, 1);
    assert.equal(carol.events.filter(([e]) => e === 'private').length, 0);
    assert.equal(carol.events.filter(([e, d]) => e === 'chat' && d.room === 'games').length, 0);

    alice.close();
    assert.equal(await bob.waitFor('leave'), 'alice');
    assert.deepEqual(await bob.waitFor('online', l => !l.includes('alice')), ['bob', 'carol']);
    bob.close();
    carol.close();
  });
});
