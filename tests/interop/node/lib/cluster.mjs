// Helpers for the cluster tests: a private redis-server that a test can kill and restart,
// cluster nodes (examples/cluster_node.rs, or the Node socket.io node with the same contract
// in node-cluster-node.mjs), and clients that remember what they receive.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { REPO_ROOT, freePort, sleep, startServer, withTimeout } from './harness.mjs';

export const CLUSTER_NODE_BIN = process.env.CLUSTER_NODE_BIN || path.join(REPO_ROOT, 'target/debug/examples/cluster_node');
const NODE_NODE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node-cluster-node.mjs');

function redisPing(port) {
  return new Promise(resolve => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', d => { got += d; if (got.includes('\r\n')) { s.destroy(); resolve(got.startsWith('+PONG')); } });
    s.once('error', () => resolve(false));
  });
}

/**
 * A redis-server of this test alone on a free port (so killing it disturbs nothing else).
 * Returns { port, url, kill(), start() }: `kill` SIGKILLs it, `start` starts it again on the
 * same port.
 */
export async function startRedis() {
  const port = await freePort();
  let proc = null;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const deadline = Date.now() + 10000;
      while (!(await redisPing(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
        await sleep(50);
      }
    },
    async kill() {
      if (!proc) return;
      const exited = new Promise(resolve => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
      proc = null;
    },
  };
  await redis.start();
  return redis;
}

/** A Rust cluster node (examples/cluster_node.rs) named `name` on the Redis at `redisUrl`. */
export async function startRustNode(name, redisUrl, env = {}) {
  const server = await startServer({ bin: CLUSTER_NODE_BIN, env: { REDIS_URL: redisUrl, NODE_NAME: name, ...env } });
  return { ...server, name, kind: 'rust' };
}

/** A Node socket.io 4.8 node with @socket.io/redis-adapter 8.x (or, with `env.ADAPTER:
 * 'streams'`, @socket.io/redis-streams-adapter), same contract. */
export async function startNodeNode(name, redisUrl, env = {}) {
  const server = await startServer({ bin: process.execPath, args: [NODE_NODE_SCRIPT], env: { REDIS_URL: redisUrl, NODE_NAME: name, ...env } });
  return { ...server, name, kind: 'node' };
}

/**
 * A socket.io client of `node`, connected and greeted (`hello`). Keeps every event it
 * receives: `got(event)` lists the arguments of each, `waitFor(event, pred)` waits for one.
 * Answers `question` acks with `{ from: name, data }`.
 */
export async function connectClient(node, name) {
  const socket = io(node.url, { transports: ['websocket'], auth: { name }, forceNew: true, reconnection: false });
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  socket.on('question', (data, ack) => { if (name !== 'mute') ack({ from: name, data }); });
  const [hello] = await withTimeout(new Promise((resolve, reject) => {
    socket.once('hello', (...args) => resolve(args));
    socket.once('connect_error', err => reject(new Error(`connect_error: ${err.message}`)));
  }), 10000, `hello from ${node.name}`);
  return {
    socket,
    name,
    id: hello.id,
    node: hello.node,
    events,
    got: event => events.filter(e => e.event === event).map(e => e.args),
    async waitFor(event, pred = () => true, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = events.find(e => e.event === event && pred(...e.args));
        if (hit) return hit.args;
        if (Date.now() > deadline) throw new Error(`${name} on ${node.name}: no "${event}" within ${ms} ms; got ${JSON.stringify(events.map(e => e.event))}`);
        await sleep(20);
      }
    },
    /** Emits `event` with `data` and resolves with the ack's first argument. */
    ask(event, data, ms = 8000) {
      const args = data === undefined ? [] : [data];
      return withTimeout(new Promise(resolve => socket.emit(event, ...args, reply => resolve(reply))), ms, `ack of "${event}" from ${node.name}`);
    },
    close() { socket.disconnect(); },
  };
}

/** Polls `check` until it returns a truthy value (returned), or fails after `ms`. */
export async function eventually(check, what, ms = 10000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}
