// Shared helpers for the interop tests: start/stop the interop server binary, pick free
// ports, wait for events with timeouts, compare binary values.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const SERVER_BIN = process.env.INTEROP_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/interop');
/** The game example (examples/game/), whose handlers register themselves with `#[event]`. */
export const GAME_SERVER_BIN = process.env.GAME_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/game');
/** The seed's echo server (examples/echo.rs), with its two pages. */
export const ECHO_SERVER_BIN = process.env.ECHO_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/echo');

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise(resolve => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts the interop server (or the example binary `bin`, e.g. GAME_SERVER_BIN, with `args`
 * and extra `env`) on `port` (a free one if not given) and resolves once it accepts TCP
 * connections. Returns
 * { port, url, proc, stop(signal), output() }.
 */
export async function startServer({ port, bin = SERVER_BIN, args = [], env = {} } = {}) {
  if (!existsSync(bin)) {
    const example = path.basename(bin);
    throw new Error(`server binary not found at ${bin}: run \`cargo build --example ${example}\` from the repo root first`);
  }
  port ??= await freePort();
  const proc = spawn(bin, args, {
    env: { ...process.env, PORT: String(port), RUST_LOG: process.env.RUST_LOG || 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', d => { out += d; });
  proc.stderr.on('data', d => { out += d; if (process.env.INTEROP_VERBOSE) process.stderr.write(d); });
  let exited = null;
  const exit = new Promise(resolve => proc.once('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited) throw new Error(`interop server exited early (${JSON.stringify(exited)}):\n${out}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`interop server did not listen on port ${port} within 15 s:\n${out}`);
    }
    await sleep(50);
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    output: () => out,
    /** Stops the server (SIGTERM by default), SIGKILL if it has not exited after 5 s. */
    async stop(signal = 'SIGTERM') {
      if (exited) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, 5000);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/** Rejects after `ms` with a message naming `what`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** The arguments of the next `event` on `emitter` (socket.io socket, manager, engine...). */
export function once(emitter, event, ms = 5000) {
  return withTimeout(new Promise(resolve => emitter.once(event, (...args) => resolve(args))), ms, `event "${event}"`);
}

/** Waits for `connect`; a `connect_error` rejects with its message. */
export function connected(socket, ms = 5000) {
  if (socket.connected) return Promise.resolve();
  return withTimeout(new Promise((resolve, reject) => {
    const onConnect = () => { socket.off('connect_error', onError); resolve(); };
    const onError = err => { socket.off('connect', onConnect); reject(new Error(`connect_error: ${err.message} ${JSON.stringify(err.data ?? null)}`)); };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  }), ms, 'connect');
}

/** Emits with a callback and resolves with every argument of the ack. */
export function emitAck(socket, event, ...args) {
  return withTimeout(new Promise(resolve => socket.emit(event, ...args, (...reply) => resolve(reply))), 5000, `ack of "${event}"`);
}

/** Collects every `event` on `emitter` into an array. */
export function collect(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

/** Whether a value arrived as binary (Buffer, ArrayBuffer or typed array). */
export function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

/** The bytes of a binary value as a plain array, to compare with deepStrictEqual. */
export function bytes(v) {
  if (!isBinary(v)) throw new Error(`expected a binary value, got ${JSON.stringify(v)}`);
  if (v instanceof ArrayBuffer) return Array.from(new Uint8Array(v));
  return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
}

/**
 * A plain WebSocket client (the `ws` package) on `/ws` of the server at `port`, with a queue
 * of received frames: `{ text, json, binary }` (`json` parsed when the text is JSON, `binary`
 * a Buffer for binary frames). Resolves once the socket is open.
 *
 * Returns { ws, frames, closed, send(value), next(pred, what), event(name), close() }.
 */
export async function connectPlain(port, query = '') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`);
  const frames = [];
  const waiters = new Set();
  ws.on('message', (data, isBinaryFrame) => {
    let frame;
    if (isBinaryFrame) {
      frame = { binary: Buffer.from(data) };
    } else {
      const text = data.toString();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      frame = { text, json };
    }
    frames.push(frame);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'plain websocket open');
  return {
    ws,
    frames,
    closed,
    /** Sends a string as-is, a Buffer as a binary frame, anything else as JSON text. */
    send: v => ws.send(typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v)),
    /** The first frame (removed from the queue) matching pred; waits up to `ms`. */
    next(pred, what = 'a frame', ms = 5000) {
      let check;
      return withTimeout(new Promise(resolve => {
        check = () => {
          const i = frames.findIndex(pred);
          if (i >= 0) { waiters.delete(check); resolve(frames.splice(i, 1)[0]); }
        };
        waiters.add(check);
        check();
      }), ms, what).finally(() => waiters.delete(check));
    },
    /** The first JSON frame whose first element is `event`, e.g. ['welcome', {...}]. */
    async event(event, ms = 5000) {
      return (await this.next(f => Array.isArray(f.json) && f.json[0] === event, `frame ["${event}", ...]`, ms)).json;
    },
    /** The reply `["$ack", id, ...args]` to the ack request `id`, as its arguments. */
    async ack(id, ms = 5000) {
      const frame = await this.next(f => Array.isArray(f.json) && f.json[0] === '$ack' && f.json[1] === id, `frame ["$ack", ${id}, ...]`, ms);
      return frame.json.slice(2);
    },
    /** Sends `[event, data, ackId]` with a fresh ack id and resolves with the reply's arguments. */
    request(event, data) {
      const id = (this.nextId = (this.nextId ?? 0) + 1);
      ws.send(JSON.stringify([event, data, id]));
      return this.ack(id);
    },
    close() { ws.terminate(); },
  };
}
