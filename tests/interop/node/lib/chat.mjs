// Helpers for the tests of the chat example (examples/chat): start it with a known JWT
// secret, log in over HTTP, and users (Socket.IO, plain WebSocket) that keep what they receive.
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { REPO_ROOT, sleep, startServer, withTimeout } from './harness.mjs';

export const CHAT_BIN = process.env.CHAT_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/chat');
/** The JWT_SECRET the tests give the chat server, so that they can forge tokens of their own. */
export const CHAT_SECRET = 'chat-interop-test-secret';

/** Starts the chat example alone (REDIS_URL cleared unless `env` sets it). */
export function startChat(env = {}) {
  return startServer({ bin: CHAT_BIN, env: { REDIS_URL: '', JWT_SECRET: CHAT_SECRET, ...env } });
}

/** `POST /login {name}`: resolves with { status, body }. */
export async function login(server, name) {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  return { status: res.status, body: await res.json() };
}

/** A token for `name` from the server's `/login`; throws if refused. */
export async function tokenFor(server, name) {
  const { status, body } = await login(server, name);
  if (status !== 200) throw new Error(`POST /login ${name}: ${status} ${JSON.stringify(body)}`);
  return body.token;
}

/** A token signed by the test itself (expired, with another secret, ...). */
export function forgeToken(claims, { secret = CHAT_SECRET, expiresIn = '1h' } = {}) {
  return jwt.sign(claims, secret, { algorithm: 'HS256', ...(expiresIn === null ? {} : { expiresIn }) });
}

function waiter(events, what) {
  return (event, pred = () => true, ms = 5000) => withTimeout((async () => {
    for (;;) {
      const hit = events.find(([e, d]) => e === event && pred(d));
      if (hit) return hit[1];
      await sleep(20);
    }
  })(), ms, `"${event}" on ${what}`);
}

/**
 * A Socket.IO user connected with `token` in the query string (as the chat's page does).
 * `null` connects without one. Resolves once connected; rejects with the connect_error if
 * refused.
 */
export async function sioUser(server, token) {
  const url = token === null ? server.url : `${server.url}?token=${encodeURIComponent(token)}`;
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), 5000, 'connect');
  return {
    socket,
    events,
    /** Fire-and-forget in weroll's compact form, as the page does: emit("m", [event, data]). */
    send: (event, data) => socket.emit('m', [event, data]),
    emit: (event, data) => socket.emit(event, data),
    request: (event, data) => withTimeout(socket.emitWithAck(event, data), 5000, `ack of "${event}"`),
    waitFor: waiter(events, 'a Socket.IO user'),
    close: () => socket.disconnect(),
  };
}

/** A plain WebSocket user (what examples/chat/plain.html is) on /ws?token=... */
export async function plainUser(server, token) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${encodeURIComponent(token)}`);
  const events = [];
  const acks = new Map();
  let nextAck = 1;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let parsed;
    try { parsed = JSON.parse(data.toString()); } catch { events.push(['(raw)', data.toString()]); return; }
    const [event, ...args] = parsed;
    if (event === '$ack') { acks.get(args[0])?.(args[1]); acks.delete(args[0]); } else events.push([event, ...args]);
  });
  const closed = new Promise(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'plain websocket open');
  const frame = f => ws.send(JSON.stringify(f));
  return {
    ws,
    events,
    closed,
    send: (event, data) => frame([event, data]),
    /** A raw text frame, as a mini-program's bare `send("hi")`. */
    sendRaw: text => ws.send(text),
    /** weroll's compact form as a plain frame: ["m", [event, data]]. */
    sendCompact: (event, data) => frame(['m', [event, data]]),
    request: (event, data) => withTimeout(new Promise(resolve => {
      const id = nextAck++;
      acks.set(id, resolve);
      frame([event, data, id]);
    }), 5000, `ack of "${event}"`),
    waitFor: waiter(events, 'a plain user'),
    close: () => ws.terminate(),
  };
}
