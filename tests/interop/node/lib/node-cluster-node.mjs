// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.x (or, with
// ADAPTER=streams, @socket.io/redis-streams-adapter 0.3) that speaks the same test contract
// as examples/cluster_node.rs (see its doc comment for the events), so one test can drive a
// cluster that mixes Rust and Node nodes. CONNECTION_STATE_RECOVERY=1 turns Node's
// connectionStateRecovery on. Run: PORT=... REDIS_URL=... NODE_NAME=... node
// lib/node-cluster-node.mjs
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';

const port = Number(process.env.PORT || 3201);
const node = process.env.NODE_NAME || `node-${port}`;
const pub = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' });
const sub = pub.duplicate();
pub.on('error', () => {});
sub.on('error', () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const streams = process.env.ADAPTER === 'streams';
const io = new Server(http, {
  adapter: streams ? createStreamsAdapter(pub) : createAdapter(pub, sub, { requestsTimeout: 3000 }),
  ...(process.env.CONNECTION_STATE_RECOVERY === '1'
    ? { connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true } }
    : {}),
});

const describeSockets = sockets => sockets.map(s => ({ id: s.id, rooms: [...s.rooms], data: s.data }));
const failure = err => ({ ok: false, error: String(err && err.message || err) });

io.on('connection', socket => {
  socket.data = { name: socket.handshake.auth?.name ?? null, node };
  socket.emit('hello', { id: socket.id, node });

  socket.on('join', (room, ack) => { socket.join(room); ack([...socket.rooms]); });
  socket.on('recovered', ack => ack(socket.recovered));
  socket.on('leave', (room, ack) => { socket.leave(room); ack([...socket.rooms]); });

  socket.on('broadcast', (b, ack) => {
    let op = b.skipSelf ? socket.broadcast : io;
    op = op.to(b.rooms ?? []).except(b.except ?? []);
    if (b.volatile) op = op.volatile;
    if (b.local) op = op.local;
    if (b.binary) op.emit(b.event, b.data, Buffer.from([1, 2, 3]));
    else op.emit(b.event, b.data);
    ack(true);
  });

  socket.on('set-client-id', (id, ack) => { socket.join(`$client:${id}`); ack(true); });
  socket.on('send-to', (s, ack) => { io.to(`$client:${s.client}`).emit(s.event, s.data); ack(true); });

  socket.on('fetch', async (select, ack) => {
    try { ack({ ok: true, sockets: describeSockets(await io.in(select?.rooms ?? []).fetchSockets()) }); }
    catch (err) { ack(failure(err)); }
  });
  socket.on('all-rooms', async ack => {
    try { ack({ ok: true, rooms: [...await io.of('/').adapter.allRooms()] }); }
    catch (err) { ack(failure(err)); }
  });
  socket.on('server-count', async ack => {
    try { ack({ ok: true, count: await io.of('/').adapter.serverCount() }); }
    catch (err) { ack(failure(err)); }
  });

  socket.on('remote-join', (r, ack) => { io.in(r.rooms ?? []).socketsJoin(r.room); ack(true); });
  socket.on('remote-leave', (r, ack) => { io.in(r.rooms ?? []).socketsLeave(r.room); ack(true); });
  socket.on('remote-disconnect', (r, ack) => { ack(true); io.in(r.rooms ?? []).disconnectSockets(!!r.close); });
  socket.on('remote-emit', async (r, ack) => {
    const found = (await io.fetchSockets()).find(s => s.id === r.id);
    if (found) found.emit(r.event, r.data);
    ack(!!found);
  });

  socket.on('server-emit', (e, ack) => { io.serverSideEmit(e.event, e.data); ack(true); });
  socket.on('server-emit-ack', async (e, ack) => {
    try {
      const responses = await io.serverSideEmitWithAck(e.event, e.data);
      // Node does not say how many servers were asked.
      ack({ ok: true, responses, expected: null });
    } catch (err) { ack(failure(err)); }
  });

  socket.on('broadcast-ack', (b, ack) => {
    socket.broadcast.to(b.rooms ?? []).timeout(b.timeoutMs).emit(b.event, b.data, (err, responses) => {
      ack({ responses, expected: null, timedOut: !!err });
    });
  });
});

// Server-side events from other nodes: `ping-nodes` is answered with this node's name; the
// rest are handed to this node's sockets as `server-event`, and answered when asked to.
io.on('ping-nodes', (...args) => { const cb = args.at(-1); if (typeof cb === 'function') cb(node); });
for (const event of ['hello', 'news']) {
  io.on(event, (...args) => {
    const cb = typeof args.at(-1) === 'function' ? args.pop() : null;
    const data = args[0] ?? null;
    io.local.emit('server-event', { event, data, node });
    if (cb) cb({ node, got: data });
  });
}

http.listen(port, '127.0.0.1');
const stop = () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); setTimeout(() => process.exit(0), 200); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
