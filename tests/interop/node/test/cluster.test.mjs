// The Redis cluster adapter across separate processes on a private redis-server: three Rust
// nodes (examples/cluster_node.rs) with socket.io clients on each; a Redis restart in the
// middle of traffic; a Node socket.io 4.8 node with @socket.io/redis-adapter 8.x in the same
// cluster as two Rust nodes; and @socket.io/redis-emitter 5.x pushing into the cluster.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { bytes, sleep } from '../lib/harness.mjs';
import { connectClient, eventually, startNodeNode, startRedis, startRustNode } from '../lib/cluster.mjs';

/** Time for a message that should not come (a duplicate, a wrong recipient) to show up. */
const SETTLE_MS = 400;

const sorted = xs => [...xs].sort();

async function stopAll(things) {
  await Promise.all(things.filter(Boolean).map(t => (t.stop ? t.stop() : t.close())));
}

function assertNoPanic(nodes) {
  for (const n of nodes) assert.doesNotMatch(n.output(), /panicked/, `${n.name} panicked:\n${n.output()}`);
}

describe('three Rust nodes on one Redis', () => {
  let redis;
  let nodes = [];
  let a, b, c; // a client on each node
  let clients = [];

  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all(['a', 'b', 'c'].map(name => startRustNode(name, redis.url)));
    [a, b, c] = await Promise.all(nodes.map((n, i) => connectClient(n, `user-${'abc'[i]}`)));
    clients = [a, b, c];
  });
  after(async () => {
    await stopAll(clients);
    assertNoPanic(nodes);
    await stopAll(nodes);
    await redis?.kill();
  });

  test('every node counts three servers', async () => {
    for (const client of clients) {
      assert.deepEqual(await client.ask('server-count'), { ok: true, count: 3 });
    }
  });

  test('a broadcast reaches every client on every node exactly once', async () => {
    assert.equal(await a.ask('broadcast', { event: 'news-all', data: { n: 1 } }), true);
    for (const client of clients) await client.waitFor('news-all');
    await sleep(SETTLE_MS);
    for (const client of clients) assert.deepEqual(client.got('news-all'), [[{ n: 1 }]], `${client.name}`);
  });

  test('rooms and except rooms select recipients on every node', async () => {
    await b.ask('join', 'r1');
    await c.ask('join', 'r1');
    await c.ask('join', 'r2');
    await a.ask('join', 'r2');
    await a.ask('broadcast', { rooms: ['r1'], except: ['r2'], event: 'news-r1', data: 'x' });
    await b.waitFor('news-r1');
    await sleep(SETTLE_MS);
    assert.deepEqual(b.got('news-r1'), [['x']]);
    assert.deepEqual(c.got('news-r1'), []);
    assert.deepEqual(a.got('news-r1'), []);

    // Two rooms: a socket in both gets it once.
    await a.ask('broadcast', { rooms: ['r1', 'r2'], event: 'news-r12', data: 1 });
    for (const client of clients) await client.waitFor('news-r12');
    await sleep(SETTLE_MS);
    for (const client of clients) assert.equal(client.got('news-r12').length, 1, client.name);
  });

  test('broadcast from a socket skips only the sender, on every node', async () => {
    await c.ask('broadcast', { skipSelf: true, event: 'news-skip', data: 2 });
    await a.waitFor('news-skip');
    await b.waitFor('news-skip');
    await sleep(SETTLE_MS);
    assert.deepEqual(c.got('news-skip'), []);
    assert.equal(a.got('news-skip').length + b.got('news-skip').length, 2);
  });

  test('binary arguments cross nodes as binary', async () => {
    await a.ask('broadcast', { event: 'news-bin', data: { kind: 'bin' }, binary: true });
    const [data, bin] = await c.waitFor('news-bin');
    assert.deepEqual(data, { kind: 'bin' });
    assert.deepEqual(bytes(bin), [1, 2, 3]);
  });

  test('a local broadcast stays on its node', async () => {
    await b.ask('broadcast', { event: 'news-local', data: 3, local: true });
    await b.waitFor('news-local');
    await sleep(SETTLE_MS);
    assert.deepEqual(a.got('news-local'), []);
    assert.deepEqual(c.got('news-local'), []);
  });

  test('send_to reaches every connection of a client id, on any node', async () => {
    const u1 = await connectClient(nodes[0], 'u1-first');
    const u2 = await connectClient(nodes[2], 'u1-second');
    clients.push(u1, u2);
    await u1.ask('set-client-id', 'u-1');
    await u2.ask('set-client-id', 'u-1');
    await b.ask('send-to', { client: 'u-1', event: 'private', data: 'hi' });
    await u1.waitFor('private');
    await u2.waitFor('private');
    await sleep(SETTLE_MS);
    assert.equal(u1.got('private').length, 1);
    assert.equal(u2.got('private').length, 1);
    for (const client of [a, b, c]) assert.deepEqual(client.got('private'), []);
  });

  test('fetch_sockets lists the sockets of every node with rooms and data', async () => {
    const reply = await b.ask('fetch', {});
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const byId = new Map(reply.sockets.map(s => [s.id, s]));
    for (const client of clients) {
      const s = byId.get(client.id);
      assert.ok(s, `${client.name} (${client.node}) missing from ${JSON.stringify(reply.sockets)}`);
      assert.deepEqual(s.data, { name: client.name, node: client.node });
      assert.ok(s.rooms.includes(client.id), 'a socket is in the room of its own id');
    }
    assert.ok(byId.get(c.id).rooms.includes('r1'));
    const inR1 = await a.ask('fetch', { rooms: ['r1'] });
    assert.deepEqual(sorted(inR1.sockets.map(s => s.id)), sorted([b.id, c.id]));
  });

  test('all_rooms gathers the rooms of every node', async () => {
    const reply = await a.ask('all-rooms');
    assert.equal(reply.ok, true);
    for (const room of ['r1', 'r2', '$client:u-1', a.id, b.id, c.id]) assert.ok(reply.rooms.includes(room), `${room} in ${reply.rooms}`);
    assert.equal(new Set(reply.rooms).size, reply.rooms.length, 'no room twice');
  });

  test('remote join and leave move sockets of other nodes', async () => {
    await a.ask('remote-join', { rooms: [c.id, b.id], room: 'moved' });
    const joined = await eventually(async () => {
      const r = await a.ask('fetch', { rooms: ['moved'] });
      return r.sockets.length === 2 && r;
    }, 'two sockets in "moved"');
    assert.deepEqual(sorted(joined.sockets.map(s => s.id)), sorted([b.id, c.id]));
    await a.ask('broadcast', { rooms: ['moved'], event: 'news-moved', data: 1 });
    await c.waitFor('news-moved');
    await b.waitFor('news-moved');

    await b.ask('remote-leave', { rooms: [c.id], room: 'moved' });
    await eventually(async () => (await a.ask('fetch', { rooms: ['moved'] })).sockets.length === 1, 'c left "moved"');
  });

  test('a socket found by fetch_sockets on another node can be emitted to', async () => {
    assert.equal(await a.ask('remote-emit', { id: c.id, event: 'direct', data: 'to-c' }), true);
    assert.deepEqual(await c.waitFor('direct'), ['to-c']);
  });

  test('server-side emit reaches the other nodes, not the sender', async () => {
    assert.equal(await a.ask('server-emit', { event: 'news', data: { n: 9 } }), true);
    const [ev] = await b.waitFor('server-event', e => e.event === 'news');
    assert.deepEqual(ev, { event: 'news', data: { n: 9 }, node: 'b' });
    await c.waitFor('server-event', e => e.event === 'news');
    await sleep(SETTLE_MS);
    assert.deepEqual(a.got('server-event'), []);
  });

  test('server-side emit with acks gathers one answer per other node', async () => {
    const reply = await a.ask('server-emit-ack', { event: 'ping-nodes', data: null });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.expected, 2);
    assert.deepEqual(sorted(reply.responses), ['b', 'c']);
  });

  test('broadcast with acks gathers every client of every node', async () => {
    const reply = await a.ask('broadcast-ack', { event: 'question', data: 'q1', timeoutMs: 3000 });
    const others = clients.filter(x => x !== a);
    assert.equal(reply.timedOut, false, JSON.stringify(reply));
    assert.equal(reply.expected, others.length);
    assert.deepEqual(sorted(reply.responses.map(r => r.from)), sorted(others.map(x => x.name)));
    for (const r of reply.responses) assert.equal(r.data, 'q1');
  });

  test('broadcast with acks times out with the answers it has', async () => {
    const mute = await connectClient(nodes[1], 'mute');
    clients.push(mute);
    await mute.ask('join', 'quiet');
    await c.ask('join', 'quiet');
    const reply = await a.ask('broadcast-ack', { rooms: ['quiet'], event: 'question', data: 'q2', timeoutMs: 500 });
    assert.equal(reply.timedOut, true);
    assert.equal(reply.expected, 2);
    assert.deepEqual(reply.responses.map(r => r.from), [c.name]);
  });

  test('remote disconnect closes sockets of other nodes', async () => {
    const k1 = await connectClient(nodes[1], 'kick-1');
    const k2 = await connectClient(nodes[2], 'kick-2');
    await k1.ask('join', 'kick');
    await k2.ask('join', 'kick');
    const reasons = [k1, k2].map(k => new Promise(resolve => k.socket.once('disconnect', resolve)));
    await a.ask('remote-disconnect', { rooms: ['kick'] });
    assert.deepEqual(await Promise.all(reasons), ['io server disconnect', 'io server disconnect']);

    const k3 = await connectClient(nodes[2], 'kick-3');
    await k3.ask('join', 'kick-close');
    const closed = new Promise(resolve => k3.socket.once('disconnect', resolve));
    await a.ask('remote-disconnect', { rooms: ['kick-close'], close: true });
    assert.equal(await closed, 'transport close');
    assert.equal((await b.ask('fetch', { rooms: ['kick', 'kick-close'] })).sockets.length, 0);
  });

  test('@socket.io/redis-emitter reaches rooms, everyone, and the servers', async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const emitter = new Emitter(client);
      emitter.to('r1').emit('from-emitter', { to: 'r1' });
      await b.waitFor('from-emitter');
      await c.waitFor('from-emitter');
      emitter.emit('from-emitter-all', 1, 'two', Buffer.from([7, 8]));
      for (const x of [a, b, c]) {
        const [one, two, bin] = await x.waitFor('from-emitter-all');
        assert.deepEqual([one, two, bytes(bin)], [1, 'two', [7, 8]]);
      }
      emitter.except('r1').emit('from-emitter-except', 1);
      await a.waitFor('from-emitter-except');
      emitter.in('r2').socketsJoin('via-emitter');
      await eventually(async () => (await b.ask('fetch', { rooms: ['via-emitter'] })).sockets.length === 2, 'r2 members joined "via-emitter"');
      emitter.serverSideEmit('hello', { from: 'emitter' });
      for (const x of [a, b, c]) {
        const [ev] = await x.waitFor('server-event', e => e.event === 'hello');
        assert.deepEqual(ev.data, { from: 'emitter' });
      }
      await sleep(SETTLE_MS);
      assert.equal(a.got('from-emitter').length, 0);
      assert.equal(b.got('from-emitter').length, 1);
      assert.equal(b.got('from-emitter-except').length, 0);
    } finally {
      await client.quit();
    }
  });
});

describe('Redis restarting in the middle of traffic', () => {
  let redis;
  let nodes = [];
  let a, b;

  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all(['a', 'b'].map(name => startRustNode(name, redis.url)));
    [a, b] = await Promise.all(nodes.map((n, i) => connectClient(n, `r-${i}`)));
  });
  after(async () => {
    await stopAll([a, b]);
    await stopAll(nodes);
    await redis?.kill();
  });

  test('local delivery goes on, requests fail clearly, the cluster heals by itself', async () => {
    let seq = 0;
    let sending = true;
    const sent = [];
    const sender = (async () => {
      while (sending) {
        const n = ++seq;
        if (await a.ask('broadcast', { event: 'tick', data: n })) sent.push(n);
        await sleep(10);
      }
    })();
    await b.waitFor('tick');

    await redis.kill();
    const killedAt = seq;
    // Local delivery keeps working while Redis is away.
    await a.waitFor('tick', n => n > killedAt + 20);
    // Requests fail with a clear error instead of hanging.
    const count = await a.ask('server-count');
    assert.equal(count.ok, false);
    assert.match(count.error, /redis|unavailable|cluster/i);
    const fetched = await a.ask('fetch', {});
    assert.equal(fetched.ok, false);

    await sleep(500);
    await redis.start();
    const restartedAt = seq;
    // The adapter reconnects and resubscribes by itself: b hears a again.
    await b.waitFor('tick', n => n > restartedAt, 20000);
    sending = false;
    await sender;

    const seenByA = a.got('tick').map(([n]) => n);
    const seenByB = b.got('tick').map(([n]) => n);
    assert.deepEqual(seenByA, sent, 'the sender node delivered every tick locally, in order');
    assert.equal(new Set(seenByB).size, seenByB.length, 'no tick twice on the other node');
    assert.deepEqual(seenByB, [...seenByB].sort((x, y) => x - y), 'in order');
    assert.deepEqual(await a.ask('server-count'), { ok: true, count: 2 });
    const stats = await a.ask('stats');
    assert.ok(stats.resubscribed >= 1, JSON.stringify(stats));
    assert.match(nodes[0].output(), /redis/i, 'the outage is logged');
    assertNoPanic(nodes);
  });
});

describe('Node socket.io with @socket.io/redis-adapter in a cluster with two Rust nodes', () => {
  let redis;
  let nodes = [];
  let r1, r2, n; // clients of rust-1, rust-2 and the Node node
  let clients = [];

  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([
      startRustNode('rust-1', redis.url),
      startRustNode('rust-2', redis.url),
      startNodeNode('node', redis.url),
    ]);
    [r1, r2, n] = await Promise.all(nodes.map(x => connectClient(x, `on-${x.name}`)));
    clients = [r1, r2, n];
  });
  after(async () => {
    await stopAll(clients);
    assertNoPanic(nodes);
    await stopAll(nodes);
    await redis?.kill();
  });

  test('both kinds count three servers', async () => {
    for (const client of clients) assert.deepEqual(await client.ask('server-count'), { ok: true, count: 3 });
  });

  for (const [from, label] of [[() => r1, 'Rust → Node'], [() => n, 'Node → Rust']]) {
    test(`${label}: broadcasts to all, rooms, except, with binary, no duplicates`, async () => {
      const tag = label.startsWith('Rust') ? 'rn' : 'nr';
      await eventually(async () => {
        await r2.ask('join', `${tag}-room`);
        await n.ask('join', `${tag}-room`);
        await r1.ask('join', `${tag}-room`);
        await r1.ask('join', `${tag}-skip`);
        return true;
      }, 'joins');
      await from().ask('broadcast', { event: `${tag}-all`, data: { n: 1 }, binary: true });
      for (const x of clients) {
        const [data, bin] = await x.waitFor(`${tag}-all`);
        assert.deepEqual([data, bytes(bin)], [{ n: 1 }, [1, 2, 3]], x.name);
      }
      await from().ask('broadcast', { rooms: [`${tag}-room`], except: [`${tag}-skip`], event: `${tag}-room`, data: 'r' });
      await r2.waitFor(`${tag}-room`);
      await n.waitFor(`${tag}-room`);
      await sleep(SETTLE_MS);
      for (const x of clients) assert.equal(x.got(`${tag}-all`).length, 1, x.name);
      assert.equal(r1.got(`${tag}-room`).length, 0);
      assert.equal(r2.got(`${tag}-room`).length, 1);
      assert.equal(n.got(`${tag}-room`).length, 1);
    });

    test(`${label}: fetchSockets, allRooms, socketsJoin/Leave, disconnectSockets`, async () => {
      const tag = label.startsWith('Rust') ? 'rn' : 'nr';
      const fetched = await from().ask('fetch', {});
      assert.equal(fetched.ok, true, JSON.stringify(fetched));
      for (const x of clients) {
        const s = fetched.sockets.find(s => s.id === x.id);
        assert.ok(s, `${x.name} in ${JSON.stringify(fetched.sockets)}`);
        assert.deepEqual(s.data, { name: x.name, node: x.node });
        assert.ok(s.rooms.includes(x.id));
      }
      const rooms = await from().ask('all-rooms');
      assert.ok(rooms.rooms.includes(`${tag}-room`) && rooms.rooms.includes(n.id) && rooms.rooms.includes(r2.id), JSON.stringify(rooms));

      await from().ask('remote-join', { rooms: [r2.id, n.id], room: `${tag}-joined` });
      await eventually(async () => (await r1.ask('fetch', { rooms: [`${tag}-joined`] })).sockets.length === 2, 'two joined');
      await from().ask('remote-leave', { rooms: [n.id], room: `${tag}-joined` });
      await eventually(async () => {
        const s = (await n.ask('fetch', { rooms: [`${tag}-joined`] })).sockets;
        return s.length === 1 && s[0].id === r2.id;
      }, 'only r2 left in the room');

      const target = label.startsWith('Rust') ? nodes[2] : nodes[1];
      const victim = await connectClient(target, `victim-${tag}`);
      await victim.ask('join', `${tag}-kick`);
      const gone = new Promise(resolve => victim.socket.once('disconnect', resolve));
      await from().ask('remote-disconnect', { rooms: [`${tag}-kick`] });
      assert.equal(await gone, 'io server disconnect');
    });

    test(`${label}: serverSideEmit with and without acks`, async () => {
      const reply = await from().ask('server-emit-ack', { event: 'ping-nodes', data: null });
      assert.equal(reply.ok, true, JSON.stringify(reply));
      const expected = label.startsWith('Rust') ? ['node', 'rust-2'] : ['rust-1', 'rust-2'];
      assert.deepEqual(sorted(reply.responses), expected);

      const data = { label };
      await from().ask('server-emit', { event: 'news', data });
      for (const x of clients.filter(x => x !== from())) {
        const [ev] = await x.waitFor('server-event', e => e.event === 'news' && e.data.label === label);
        assert.equal(ev.node, x.node);
      }
    });

    test(`${label}: broadcast acks from clients of every node`, async () => {
      const reply = await from().ask('broadcast-ack', { event: 'question', data: label, timeoutMs: 3000 });
      assert.equal(reply.timedOut, false, JSON.stringify(reply));
      const others = clients.filter(x => x !== from());
      assert.deepEqual(sorted(reply.responses.map(r => r.from)), sorted(others.map(x => x.name)));
      if (reply.expected !== null) assert.equal(reply.expected, others.length);
    });
  }
});
