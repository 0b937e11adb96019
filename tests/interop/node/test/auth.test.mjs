// The auth example (examples/auth/): every way in through the token server
// (`/auth/socket.io/`, `/auth/ws`) — session cookie, JWT in the query, bearer header, RS256,
// auth payload, roles — each with a success and every way around it, driven by the npm
// socket.io-client (websocket and polling) and plain `ws` clients where the method applies;
// and the per-connection rate limit. weroll's `$init` handshake is in auth-init.test.mjs.
//
// A refusal must reach the client with a clear message, and nothing may reach a handler: the
// example counts every handler run (`GET /stats`), and each refusal test compares the counters
// before and after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import {
  startServer, REPO_ROOT, once, connected, emitAck, collect, sleep, withTimeout,
} from '../lib/harness.mjs';

const AUTH_SERVER_BIN = process.env.AUTH_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/auth');
/** The example's default HS256 secret (examples/auth/main.rs), passed explicitly anyway. */
const SECRET = 'test-only-secret-do-not-deploy';
const KEYS = path.join(REPO_ROOT, 'examples/auth/keys');
const PRIVATE_KEY = readFileSync(path.join(KEYS, 'test-only-private.pem'));
const PUBLIC_KEY = readFileSync(path.join(KEYS, 'test-only-public.pem'));
/** Where the token server lives. */
const SIO_PATH = '/auth/socket.io/';
const WS_PATH = '/auth/ws';
const TRANSPORTS = ['websocket', 'polling'];
/** How long to keep listening before concluding that something did not arrive. */
const QUIET_MS = 300;

/**
 * Framework bugs found while writing these tests, now fixed: the entries stay so each test
 * still says which regression it guards against; `false` means the test must pass.
 */
const KNOWN_BUGS = {
  audienceNotRequired: false, // Jwt::audience did not require the `aud` claim
  closeLosesFrames: false, // a WebSocket closed while the client was still sending was reset
  pollingCloseLost: false, // a polling session closed with frames queued never sent the close packet
};

let server;
const sockets = [];
const plains = [];

/** Starts the example with `env` added to this process's environment. */
async function startAuthServer(env) {
  const saved = {};
  for (const [k, v] of Object.entries(env)) { saved[k] = process.env[k]; process.env[k] = v; }
  try {
    return await startServer({ bin: AUTH_SERVER_BIN });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }
}

before(async () => {
  server = await startAuthServer({
    JWT_SECRET: SECRET, ALLOW_GUEST: '0', SHAKEHAND_TIMEOUT_MS: '15000', SESSION_TTL_MS: '600000',
    REDIS_URL: '', RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '20',
  });
});
after(async () => {
  for (const s of sockets) s.disconnect();
  for (const p of plains) p.close();
  await server?.stop();
});

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

let seq = 0;
const unique = prefix => `${prefix}-${process.pid}-${++seq}`;
const now = () => Math.floor(Date.now() / 1000);
const b64url = v => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 token for `aud`, valid for 5 minutes, with `claims` on top. */
function hs256(aud, claims = {}, { secret = SECRET, algorithm = 'HS256' } = {}) {
  return jwt.sign({ sub: 'alice', aud, exp: now() + 300, ...claims }, secret, { algorithm });
}

/** An RS256 token signed with the test-only private key (or `key`). */
function rs256(aud, claims = {}, key = PRIVATE_KEY) {
  return jwt.sign({ sub: 'alice', aud, exp: now() + 300, ...claims }, key, { algorithm: 'RS256' });
}

/** A token with any header, HMAC-SHA256-signed with any key (for attacks a library refuses to sign). */
function rawHmacToken(header, claims, key) {
  const signingInput = `${b64url(header)}.${b64url(claims)}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

/** The `alg: none` attack: an unsigned token. */
function algNoneToken(aud, claims = {}) {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'alice', aud, exp: now() + 300, ...claims })}.`;
}

/** The handler counters of the example. */
async function stats() {
  const res = await fetch(`${server.url}/stats`);
  assert.equal(res.status, 200);
  return res.json();
}

/** Runs `refusal` and asserts that no handler ran meanwhile. */
async function noHandlerRuns(refusal) {
  const before = await stats();
  const result = await refusal();
  await sleep(50);
  assert.deepEqual(await stats(), before, 'a refused client reached no handler');
  return result;
}

/** POST /login: weroll's _sess fields and the session cookie. */
async function login(userid) {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userid }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const sess = await res.json();
  const setCookie = res.headers.get('set-cookie');
  assert.match(setCookie, /^session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
  return { ...sess, cookie: setCookie.split(';')[0] };
}

/** A Socket.IO client of the token server, namespace `ns`, not yet awaited. */
function sio(ns, transport, opts = {}) {
  const socket = io(server.url + ns, {
    path: SIO_PATH, forceNew: true, reconnection: false, transports: [transport], ...opts,
  });
  sockets.push(socket);
  return socket;
}

/** Connects and resolves with the socket; a connect_error fails the test with its message. */
async function sioConnected(ns, transport, opts) {
  const socket = sio(ns, transport, opts);
  await connected(socket);
  return socket;
}

/** Expects a refusal: resolves with the connect_error (and checks that no connect follows). */
async function sioRefused(ns, transport, opts) {
  const socket = sio(ns, transport, opts);
  const connects = collect(socket, 'connect');
  const outcome = await withTimeout(new Promise(resolve => {
    socket.once('connect', () => resolve({ connected: true }));
    socket.once('connect_error', err => resolve({ err }));
  }), 5000, `connect_error on ${ns}`);
  if (outcome.connected) {
    const [me] = await emitAck(socket, 'whoami').catch(() => [null]);
    socket.disconnect();
    assert.fail(`the server let the client into ${ns} (whoami: ${JSON.stringify(me)}) instead of refusing it`);
  }
  const { err } = outcome;
  assert.ok(err instanceof Error);
  await sleep(50);
  assert.equal(connects.length, 0, 'no connect after connect_error');
  assert.equal(socket.connected, false);
  assert.equal(socket.active, false, 'a middleware refusal is final');
  socket.disconnect();
  return err;
}

/**
 * A plain WebSocket client of the token server (`/auth/ws` + query, with request headers),
 * with a queue of JSON frames. Resolves once open.
 */
async function plain(query, headers = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${WS_PATH}${query}`, { headers });
  const frames = [];
  const waiters = new Set();
  ws.on('message', (data, binary) => {
    if (binary) return;
    let json;
    try { json = JSON.parse(data.toString()); } catch { json = undefined; }
    frames.push(json);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'plain websocket open');
  const client = {
    ws, frames, closed,
    send: v => ws.send(JSON.stringify(v)),
    next(pred, what, ms = 5000) {
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
    /** `[event, data]` frames named `event`: the next one's data. */
    async event(event, ms) {
      return (await this.next(f => Array.isArray(f) && f[0] === event, `frame ["${event}", ...]`, ms))[1];
    },
    /** Sends `[event, data, id]` and resolves with the ack's arguments. */
    async request(event, data) {
      const id = (this.nextId = (this.nextId ?? 0) + 1);
      ws.send(JSON.stringify([event, data, id]));
      const frame = await this.next(f => Array.isArray(f) && f[0] === '$ack' && f[1] === id, `["$ack", ${id}]`);
      return frame.slice(2);
    },
    close() { ws.terminate(); },
  };
  plains.push(client);
  return client;
}

/** Expects a plain refusal: `["$error", {message, data}]`, then a close 1008. Returns the error. */
async function plainRefused(query, headers) {
  const p = await plain(query, headers);
  const err = await p.event('$error');
  const closed = await withTimeout(p.closed, 5000, 'close after a refusal');
  assert.deepEqual(closed, { code: 1008, reason: 'connection refused' });
  return err;
}

/** The query string for a token. */
const q = (ns, token) => `?ns=${ns}${token === undefined ? '' : `&token=${encodeURIComponent(token)}`}`;

// ---------------------------------------------------------------------------------------
// HTTP login: the way tests (and browsers) get a session
// ---------------------------------------------------------------------------------------

test('POST /login answers the _sess fields and sets the session cookie; bad bodies are 400', async () => {
  const userid = unique('alice');
  const sess = await login(userid);
  assert.equal(sess.userid, userid);
  assert.match(sess.token, /^[0-9a-f]{64}$/);
  assert.ok(Number.isInteger(sess.tokentimestamp) && Math.abs(sess.tokentimestamp - Date.now()) < 60_000);
  assert.equal(sess.ttlMs, 600000);
  assert.equal(sess.cookie, `session=${userid}:${sess.token}:${sess.tokentimestamp}`);
  const again = await login(userid);
  assert.notEqual(again.token, sess.token, 'every login makes a new token');
  for (const body of ['nope', '{}', JSON.stringify({ userid: '' }), JSON.stringify({ userid: 'a:b' })]) {
    const res = await fetch(`${server.url}/login`, { method: 'POST', body });
    assert.equal(res.status, 400, body);
    assert.ok((await res.json()).error);
  }
});

test('the token server\'s "/" lets nobody in and says where to go', async () => {
  const err = await noHandlerRuns(() => sioRefused('/', 'websocket'));
  assert.equal(err.message, 'connect to /cookie, /jwt, /bearer, /rsa, /payload or /admin');
  assert.deepEqual(err.data, { code: 'pick_a_namespace' });
  const plainErr = await plainRefused('');
  assert.equal(plainErr.message, 'connect to /cookie, /jwt, /bearer, /rsa, /payload or /admin');
});

// ---------------------------------------------------------------------------------------
// /cookie: the session cookie, checked by a hand-written middleware
// ---------------------------------------------------------------------------------------

for (const transport of TRANSPORTS) {
  test(`/cookie: the cookie from POST /login lets the user in; whoami is the session (${transport})`, async () => {
    const userid = unique('carla');
    const sess = await login(userid);
    const before = await stats();
    const socket = await sioConnected('/cookie', transport, { extraHeaders: { cookie: sess.cookie } });
    const [me] = await emitAck(socket, 'whoami');
    assert.deepEqual(me, { ns: '/cookie', userid, tokentimestamp: sess.tokentimestamp, clientID: userid });
    const after = await stats();
    assert.equal(after['/cookie connection'], (before['/cookie connection'] ?? 0) + 1);
    assert.equal(after['/cookie whoami'], (before['/cookie whoami'] ?? 0) + 1);
  });

  test(`/cookie: other cookies beside it are fine (${transport})`, async () => {
    const sess = await login(unique('carla'));
    const socket = await sioConnected('/cookie', transport, { extraHeaders: { cookie: `theme=dark; ${sess.cookie}; lang=en` } });
    assert.equal((await emitAck(socket, 'whoami'))[0].userid, sess.userid);
  });

  test(`/cookie: every way around it is refused with its reason, reaching no handler (${transport})`, async () => {
    const alice = await login(unique('alice'));
    const bob = await login(unique('bob'));
    const cases = [
      [undefined, 'no session cookie: log in with POST /login first', 'missing_cookie'],
      ['theme=dark', 'no session cookie: log in with POST /login first', 'missing_cookie'],
      ['session=garbage', 'malformed session cookie: expected <userid>:<token>:<tokentimestamp>', 'malformed_cookie'],
      [`session=${alice.userid}:${alice.token}:soon`, 'malformed session cookie: expected <userid>:<token>:<tokentimestamp>', 'malformed_cookie'],
      // Forged: bob's user id with alice's token.
      [`session=${bob.userid}:${alice.token}:${alice.tokentimestamp}`, 'invalid or expired session', 'invalid_session'],
      // Right user and token, wrong timestamp.
      [`session=${alice.userid}:${alice.token}:${alice.tokentimestamp + 1}`, 'invalid or expired session', 'invalid_session'],
      // A token that was never issued.
      [`session=${alice.userid}:${'0'.repeat(64)}:${alice.tokentimestamp}`, 'invalid or expired session', 'invalid_session'],
      // A user who never logged in.
      [`session=${unique('nobody')}:${alice.token}:${alice.tokentimestamp}`, 'invalid or expired session', 'invalid_session'],
    ];
    for (const [cookie, message, code] of cases) {
      const err = await noHandlerRuns(() => sioRefused('/cookie', transport, cookie ? { extraHeaders: { cookie } } : {}));
      assert.equal(err.message, message, `cookie ${cookie}`);
      assert.deepEqual(err.data, { code }, `cookie ${cookie}`);
    }
  });

  test(`/cookie: after POST /logout the cookie is refused (${transport})`, async () => {
    const sess = await login(unique('dora'));
    const first = await sioConnected('/cookie', transport, { extraHeaders: { cookie: sess.cookie } });
    first.disconnect();
    const out = await fetch(`${server.url}/logout`, { method: 'POST', headers: { cookie: sess.cookie } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie'), /^session=; .*Max-Age=0/);
    const err = await noHandlerRuns(() => sioRefused('/cookie', transport, { extraHeaders: { cookie: sess.cookie } }));
    assert.equal(err.message, 'invalid or expired session');
    const again = await fetch(`${server.url}/logout`, { method: 'POST', headers: { cookie: sess.cookie } });
    assert.equal(again.status, 401, 'logging out twice: the session is gone');
  });

  test(`/cookie: a newer login is another device: both cookies work until POST /logout/everywhere (${transport})`, async () => {
    const userid = unique('eve');
    const old = await login(userid);
    const fresh = await login(userid);
    await sioConnected('/cookie', transport, { extraHeaders: { cookie: old.cookie } });
    await sioConnected('/cookie', transport, { extraHeaders: { cookie: fresh.cookie } });
    const out = await fetch(`${server.url}/logout/everywhere`, { method: 'POST', headers: { cookie: fresh.cookie } });
    assert.equal(out.status, 204);
    for (const sess of [old, fresh]) {
      const err = await noHandlerRuns(() => sioRefused('/cookie', transport, { extraHeaders: { cookie: sess.cookie } }));
      assert.equal(err.message, 'invalid or expired session');
    }
  });
}

test('/cookie over plain WebSocket: the Cookie header lets the user in; without it, "$error" and close 1008', async () => {
  const sess = await login(unique('pat'));
  const p = await plain('?ns=/cookie', { cookie: sess.cookie });
  assert.deepEqual(await p.request('whoami'), [{ ns: '/cookie', userid: sess.userid, tokentimestamp: sess.tokentimestamp, clientID: sess.userid }]);
  const err = await noHandlerRuns(() => plainRefused('?ns=/cookie'));
  assert.deepEqual(err, { message: 'no session cookie: log in with POST /login first', data: { code: 'missing_cookie' } });
  const forged = await noHandlerRuns(() => plainRefused('?ns=/cookie', { cookie: `session=someone-else:${sess.token}:${sess.tokentimestamp}` }));
  assert.deepEqual(forged, { message: 'invalid or expired session', data: { code: 'invalid_session' } });
});

// ---------------------------------------------------------------------------------------
// JWT namespaces: /jwt (query), /bearer (header), /rsa (RS256), /payload (auth payload)
// ---------------------------------------------------------------------------------------

/** How each namespace's client carries a token, for Socket.IO and for plain WebSocket. */
const CARRY = {
  '/jwt': { sio: token => ({ query: { token } }), plain: token => [q('/jwt', token), {}] },
  '/bearer': {
    sio: token => ({ extraHeaders: { authorization: `Bearer ${token}` } }),
    plain: token => ['?ns=/bearer', { authorization: `Bearer ${token}` }],
  },
  '/rsa': { sio: token => ({ query: { token } }), plain: token => [q('/rsa', token), {}] },
  '/payload': { sio: token => ({ auth: { token } }), plain: null },
};
const WHERE = {
  '/jwt': 'the query parameter `token`',
  '/bearer': 'the Authorization: Bearer header',
  '/rsa': 'the query parameter `token`',
  '/payload': 'the auth payload field `token`',
};
/** A valid token for each namespace. */
const VALID = {
  '/jwt': claims => hs256('/jwt', claims),
  '/bearer': claims => hs256('/bearer', claims),
  '/rsa': claims => rs256('/rsa', claims),
  '/payload': claims => hs256('/payload', claims),
};
/** A token of the namespace's own kind (algorithm, key), any claims. */
const SIGN = {
  '/jwt': claims => jwt.sign(claims, SECRET, { algorithm: 'HS256' }),
  '/bearer': claims => jwt.sign(claims, SECRET, { algorithm: 'HS256' }),
  '/rsa': claims => jwt.sign(claims, PRIVATE_KEY, { algorithm: 'RS256' }),
  '/payload': claims => jwt.sign(claims, SECRET, { algorithm: 'HS256' }),
};

const EXPIRED = ['token expired', 'token_expired'];
const NOT_YET = ['token not valid yet', 'token_not_yet_valid'];
const BAD_SIG = ['invalid token signature', 'bad_signature'];
const WRONG_ALG = ['token algorithm not allowed', 'wrong_algorithm'];
const WRONG_AUD = ['token is not for this service (audience mismatch)', 'wrong_audience'];
const MALFORMED = ['malformed token', 'malformed_token'];

let otherRsaKey;
function anotherPrivateKey() {
  otherRsaKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    .export({ type: 'pkcs8', format: 'pem' });
  return otherRsaKey;
}

/** Every way around each namespace's token check: [name, token, [message, code], todo?]. */
function attacks(ns) {
  const aud = ns;
  const other = ns === '/jwt' ? '/bearer' : '/jwt';
  const list = [
    ['expired (exp a minute ago)', () => VALID[ns]({ exp: now() - 60 }), EXPIRED],
    ['not yet valid (nbf in 5 minutes)', () => VALID[ns]({ nbf: now() + 300 }), NOT_YET],
    ['for another namespace (aud)', () => SIGN[ns]({ sub: 'alice', aud: other, exp: now() + 300 }), WRONG_AUD],
    ['for several audiences, none this one', () => SIGN[ns]({ sub: 'alice', aud: [other, '/admin'], exp: now() + 300 }), WRONG_AUD],
    ['without exp', () => SIGN[ns]({ sub: 'alice', aud }), ['token is missing the `exp` claim', 'missing_claim']],
    ['without aud', () => SIGN[ns]({ sub: 'alice', exp: now() + 300 }), ['token is missing the `aud` claim', 'missing_claim'], KNOWN_BUGS.audienceNotRequired],
    ['alg: none (unsigned)', () => algNoneToken(aud), ['token algorithm not allowed', 'wrong_algorithm']],
    ['not a JWT', () => 'not.a.jwt', MALFORMED],
    ['garbage', () => 'garbage', MALFORMED],
    ['claims of the wrong type (sub a number)', () => SIGN[ns]({ sub: 42, aud, exp: now() + 300 }),
      ['token claims do not have the expected shape: invalid type: integer `42`, expected a string', 'invalid_claims']],
  ];
  if (ns === '/rsa') {
    list.push(
      ['signed with another RSA key', () => rs256(aud, {}, anotherPrivateKey()), BAD_SIG],
      ['HS256 with the shared secret', () => hs256(aud), WRONG_ALG],
      // The classic key confusion: HMAC keyed with the server's *public* key.
      ['HS256 keyed with the RSA public key', () => rawHmacToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', aud, exp: now() + 300 }, PUBLIC_KEY), WRONG_ALG],
    );
  } else {
    list.push(
      ['signed with another secret', () => hs256(aud, {}, { secret: 'not-the-secret' }), BAD_SIG],
      ['HS512 with the right secret', () => hs256(aud, {}, { algorithm: 'HS512' }), WRONG_ALG],
      ['RS256 (the test key pair)', () => rs256(aud), WRONG_ALG],
      ['a tampered payload (sub changed after signing)', () => {
        const [h, , s] = hs256(aud).split('.');
        return `${h}.${b64url({ sub: 'root', aud, exp: now() + 300 })}.${s}`;
      }, BAD_SIG],
    );
  }
  return list;
}

for (const ns of Object.keys(CARRY)) {
  for (const transport of TRANSPORTS) {
    test(`${ns}: a valid token connects; whoami is its claims (${transport})`, async () => {
      const before = await stats();
      const socket = await sioConnected(ns, transport, CARRY[ns].sio(VALID[ns]({ sub: 'alice', roles: ['reader'] })));
      assert.deepEqual(await emitAck(socket, 'whoami'), [{ ns, sub: 'alice', roles: ['reader'] }]);
      const after = await stats();
      assert.equal(after[`${ns} connection`], (before[`${ns} connection`] ?? 0) + 1);
      assert.equal(after[`${ns} whoami`], (before[`${ns} whoami`] ?? 0) + 1);
    });

    test(`${ns}: no token: "no token: expected one in ${WHERE[ns]}" (${transport})`, async () => {
      const err = await noHandlerRuns(() => sioRefused(ns, transport));
      assert.equal(err.message, `no token: expected one in ${WHERE[ns]}`);
      assert.deepEqual(err.data, { code: 'missing_token' });
    });

    for (const [name, token, [message, code], todo] of attacks(ns)) {
      test(`${ns}: ${name} → "${message}" (${transport})`, { todo }, async () => {
        const err = await noHandlerRuns(() => sioRefused(ns, transport, CARRY[ns].sio(token())));
        assert.equal(err.message, message);
        assert.deepEqual(err.data, { code });
      });
    }
  }

  if (CARRY[ns].plain) {
    test(`${ns} over plain WebSocket: a valid token connects; every attack gets "$error" and close 1008`, async () => {
      const p = await plain(...CARRY[ns].plain(VALID[ns]({ sub: 'pat' })));
      assert.deepEqual(await p.request('whoami'), [{ ns, sub: 'pat', roles: [] }]);
      const missing = await noHandlerRuns(() => plainRefused(...(ns === '/bearer' ? ['?ns=/bearer', {}] : [q(ns)])));
      assert.deepEqual(missing, { message: `no token: expected one in ${WHERE[ns]}`, data: { code: 'missing_token' } });
      for (const [name, token, [message, code], todo] of attacks(ns)) {
        if (todo) continue; // asserted (as todo) over Socket.IO above
        const err = await noHandlerRuns(() => plainRefused(...CARRY[ns].plain(token())));
        assert.deepEqual(err, { message, data: { code } }, name);
      }
    });
  }
}

for (const transport of TRANSPORTS) {
  test(`a token in the wrong place is not looked for: /bearer ignores ?token=, /jwt ignores the header (${transport})`, async () => {
    const token = hs256('/bearer');
    let err = await noHandlerRuns(() => sioRefused('/bearer', transport, { query: { token } }));
    assert.equal(err.message, 'no token: expected one in the Authorization: Bearer header');
    err = await noHandlerRuns(() => sioRefused('/bearer', transport, { extraHeaders: { authorization: `Basic ${token}` } }));
    assert.equal(err.message, 'no token: expected one in the Authorization: Bearer header', 'another scheme');
    err = await noHandlerRuns(() => sioRefused('/jwt', transport, { extraHeaders: { authorization: `Bearer ${hs256('/jwt')}` } }));
    assert.equal(err.message, 'no token: expected one in the query parameter `token`');
    err = await noHandlerRuns(() => sioRefused('/payload', transport, { query: { token: hs256('/payload') } }));
    assert.equal(err.message, 'no token: expected one in the auth payload field `token`');
    err = await noHandlerRuns(() => sioRefused('/payload', transport, { auth: { token: 12345 } }));
    assert.equal(err.message, 'no token: expected one in the auth payload field `token`', 'a token must be a string');
    err = await noHandlerRuns(() => sioRefused('/jwt', transport, { query: { token: '' } }));
    assert.equal(err.message, 'no token: expected one in the query parameter `token`', 'an empty token is no token');
  });

  test(`the bearer scheme is case-insensitive (${transport})`, async () => {
    const socket = await sioConnected('/bearer', transport, { extraHeaders: { authorization: `bearer ${hs256('/bearer')}` } });
    assert.equal((await emitAck(socket, 'whoami'))[0].sub, 'alice');
  });
}

test('/payload over plain WebSocket: a plain client has no auth payload, and a query token is not looked for', async () => {
  const err = await noHandlerRuns(() => plainRefused(q('/payload', hs256('/payload'))));
  assert.deepEqual(err, { message: 'no token: expected one in the auth payload field `token`', data: { code: 'missing_token' } });
});

test('one engine connection, several namespaces: a refused one leaves the others connected', async () => {
  const { Manager } = await import('socket.io-client');
  const manager = new Manager(server.url, { path: SIO_PATH, reconnection: false, transports: ['websocket'], query: { token: hs256('/jwt') } });
  const good = manager.socket('/jwt');
  const bad = manager.socket('/payload', { auth: { token: hs256('/payload', { exp: now() - 5 }) } });
  sockets.push(good, bad);
  const refused = once(bad, 'connect_error');
  await connected(good);
  assert.equal((await refused)[0].message, 'token expired');
  assert.deepEqual(await emitAck(good, 'whoami'), [{ ns: '/jwt', sub: 'alice', roles: [] }]);
});

// ---------------------------------------------------------------------------------------
// /admin: roles from the token guard an event (HasRole<Admin>)
// ---------------------------------------------------------------------------------------

for (const transport of TRANSPORTS) {
  test(`/admin: an admin token may ban (${transport})`, async () => {
    const socket = await sioConnected('/admin', transport, { auth: { token: hs256('/admin', { sub: 'root', roles: ['admin', 'reader'] }) } });
    assert.deepEqual(await emitAck(socket, 'roles'), [['admin', 'reader']]);
    const before = (await stats())['/admin ban'] ?? 0;
    assert.deepEqual(await emitAck(socket, 'ban', { userid: 'mallory' }), [{ banned: 'mallory', by: 'root' }]);
    assert.equal((await stats())['/admin ban'], before + 1);
  });

  test(`/admin: without the role, "ban" is refused with 'missing role "admin"' and never runs (${transport})`, async () => {
    for (const roles of [['reader'], [], undefined, ['Admin'], ['administrator']]) {
      const claims = { sub: 'mallory', ...(roles ? { roles } : {}) };
      const socket = await sioConnected('/admin', transport, { auth: { token: hs256('/admin', claims) } });
      assert.deepEqual(await emitAck(socket, 'roles'), [roles ?? []]);
      const stray = collect(socket, '$error');
      const before = await stats();
      assert.deepEqual(await emitAck(socket, 'ban', { userid: 'root' }), [{ error: 'missing role "admin"' }], `roles ${JSON.stringify(roles)}`);
      // Without an ack the refusal arrives as "$error".
      const refusal = once(socket, '$error');
      socket.emit('ban', { userid: 'root' });
      const [err] = await refusal;
      assert.deepEqual(err, { event: 'ban', error: 'missing role "admin"' });
      await sleep(50);
      assert.equal(stray.length, 1, 'one $error for the one event without ack');
      const after = await stats();
      assert.equal(after['/admin ban'], before['/admin ban'], 'the guarded handler never ran');
      socket.disconnect();
    }
  });

  test(`/admin: a token for /jwt with the admin role does not open /admin (${transport})`, async () => {
    const err = await noHandlerRuns(() => sioRefused('/admin', transport, { auth: { token: hs256('/jwt', { roles: ['admin'] }) } }));
    assert.equal(err.message, 'token is not for this service (audience mismatch)');
  });
}

test('/admin over plain WebSocket: the query token, roles enforced', async () => {
  const admin = await plain(q('/admin', hs256('/admin', { sub: 'root', roles: ['admin'] })));
  assert.deepEqual(await admin.request('ban', { userid: 'x' }), [{ banned: 'x', by: 'root' }]);
  const user = await plain(q('/admin', hs256('/admin', { sub: 'joe', roles: ['reader'] })));
  // A round trip first: a plain socket joins its namespace (and counts) after the upgrade.
  assert.deepEqual(await user.request('roles'), [['reader']]);
  const before = await stats();
  assert.deepEqual(await user.request('ban', { userid: 'x' }), [{ error: 'missing role "admin"' }]);
  user.send(['ban', { userid: 'x' }]);
  assert.deepEqual(await user.event('$error'), { event: 'ban', error: 'missing role "admin"' });
  assert.deepEqual(await stats(), before);
  const err = await noHandlerRuns(() => plainRefused(q('/admin', hs256('/admin', { exp: now() - 1 }))));
  assert.deepEqual(err, { message: 'token expired', data: { code: 'token_expired' } });
});

// ---------------------------------------------------------------------------------------
// Rate limit: 20 events/s, bursts of 20, cut off after 20 refusals in a row
// ---------------------------------------------------------------------------------------

const FLOOD = 100;

/**
 * Floods `flooder` (a Socket.IO client on /jwt) in two steps: 25 events, of which the burst of
 * 20 is handled and 5 are refused with "$error" (the connection stays); then FLOOD more, which
 * keep being refused until the connection is cut. Returns what the client and the handler saw.
 */
async function floodSio(flooder) {
  const errors = collect(flooder, '$error');
  const before = (await stats())['/jwt whoami'] ?? 0;
  const start = Date.now();
  for (let i = 0; i < 25; i++) flooder.emit('whoami');
  await withTimeout((async () => { while (errors.length < 4) await sleep(10); })(), 5000, 'refusals');
  const burstRefill = Math.ceil(((Date.now() - start) / 1000) * 20);
  await sleep(QUIET_MS);
  const first = {
    handled: (await stats())['/jwt whoami'] - before, refused: errors.length, connected: flooder.connected, burstRefill,
  };
  const gone = once(flooder, 'disconnect', 5000);
  for (let i = 0; i < FLOOD; i++) flooder.emit('whoami');
  // Tokens refill at 20/s: this many may have come back since the burst.
  const refilled = Math.ceil(((Date.now() - start) / 1000) * 20) + 1;
  const [reason] = await gone;
  return { first, reason, errors, refilled, handled: (await stats())['/jwt whoami'] - before };
}

for (const transport of TRANSPORTS) {
  test(`a flooding client is refused with "rate limit exceeded", then cut off; another client is unaffected (${transport})`, async () => {
    const bystander = await sioConnected('/jwt', transport, { query: { token: hs256('/jwt', { sub: 'calm' }) } });
    const flooder = await sioConnected('/jwt', transport, { query: { token: hs256('/jwt', { sub: 'flood' }) } });
    const { first, reason, errors, refilled, handled } = await floodSio(flooder);
    // 20 at once (the burst), the rest refused; a refill of a token within a few ms at most.
    assert.ok(first.handled >= 20 && first.handled <= 20 + first.burstRefill, `the burst was handled: ${first.handled}`);
    assert.equal(first.refused, 25 - first.handled, 'every other event was refused, and the client was told');
    assert.ok(first.connected, '5 refusals in a row are tolerated');
    for (const [err] of errors) assert.deepEqual(err, { event: 'whoami', error: 'rate limit exceeded' });
    // Then the flood: cut off, and the handler ran no more (at most a refilled token).
    assert.ok(['transport close', 'transport error'].includes(reason), `cut off: ${reason}`);
    assert.equal(flooder.connected, false);
    assert.ok(handled <= first.handled + refilled, `during the flood, only refilled tokens were handled: ${handled} - ${first.handled} <= ${refilled}`);
    assert.ok(handled < 20 + 25 + FLOOD, 'most of the flood was refused');
    // The bystander never noticed.
    assert.ok(bystander.connected);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await emitAck(bystander, 'whoami'), [{ ns: '/jwt', sub: 'calm', roles: [] }]);
    }
  });
}

test('a flooding plain WebSocket client is refused with "rate limit exceeded", then cut off; a bystander is unaffected', async () => {
  const bystander = await plain(q('/jwt', hs256('/jwt', { sub: 'calm' })));
  const flooder = await plain(q('/jwt', hs256('/jwt', { sub: 'flood' })));
  assert.deepEqual(await bystander.request('whoami'), [{ ns: '/jwt', sub: 'calm', roles: [] }]);
  const before = (await stats())['/jwt whoami'] ?? 0;
  const start = Date.now();
  for (let i = 1; i <= 25; i++) flooder.send(['whoami', null, i]);
  const acks = [];
  for (let i = 1; i <= 25; i++) acks.push((await flooder.next(f => Array.isArray(f) && f[0] === '$ack' && f[1] === i, `ack ${i}`))[2]);
  const refill = Math.ceil(((Date.now() - start) / 1000) * 20);
  const ok = acks.filter(a => a?.sub === 'flood').length;
  assert.ok(ok >= 20 && ok <= 20 + refill, `the burst was answered: ${ok}`);
  assert.ok(ok < 25, 'and then the limit bit');
  assert.deepEqual(acks.filter(a => a?.sub !== 'flood'), Array(25 - ok).fill({ error: 'rate limit exceeded' }));
  // Refused without an ack id: "$error" (a few, in case a token came back meanwhile).
  for (let i = 0; i < 5; i++) flooder.send(['whoami']);
  assert.deepEqual(await flooder.event('$error'), { event: 'whoami', error: 'rate limit exceeded' });
  for (let i = 0; i < FLOOD; i++) flooder.send(['whoami']);
  await withTimeout(flooder.closed, 5000, 'the flooder to be cut off');
  assert.ok((await stats())['/jwt whoami'] - before <= ok + 1, 'the handler ran no more');
  assert.deepEqual(await bystander.request('whoami'), [{ ns: '/jwt', sub: 'calm', roles: [] }]);
});

test('the limit refills: a client that slows down is served again', async () => {
  const socket = await sioConnected('/jwt', 'websocket', { query: { token: hs256('/jwt') } });
  const errors = collect(socket, '$error');
  for (let i = 0; i < 25; i++) socket.emit('whoami');
  await sleep(QUIET_MS);
  assert.ok(errors.length >= 3 && errors.length <= 5, `burst of 20, then refusals: ${errors.length}`);
  await sleep(500); // 10 tokens back
  assert.ok(socket.connected);
  assert.deepEqual(await emitAck(socket, 'whoami'), [{ ns: '/jwt', sub: 'alice', roles: [] }]);
});

// What a flooding client should see, and does not always (framework bugs, see KNOWN_BUGS).
for (const transport of TRANSPORTS) {
  const todo = transport === 'websocket' ? KNOWN_BUGS.closeLosesFrames : KNOWN_BUGS.pollingCloseLost;
  test(`every refusal reaches a client cut off for flooding, then a clean close (${transport})`, { todo }, async () => {
    const flooder = await sioConnected('/jwt', transport, { query: { token: hs256('/jwt', { sub: 'flood' }) } });
    const errors = collect(flooder, '$error');
    const gone = once(flooder, 'disconnect', 5000);
    for (let i = 0; i < FLOOD; i++) flooder.emit('whoami');
    const [reason] = await gone;
    // 20 handled, 20 refused, the 21st refusal in a row refused and cut off.
    assert.equal(errors.length, 21, 'every refusal before the cut reached the client');
    assert.equal(reason, 'transport close');
  });
}

test('every answer and refusal reaches a plain client cut off for flooding, then a close frame', { todo: KNOWN_BUGS.closeLosesFrames }, async () => {
  const flooder = await plain(q('/jwt', hs256('/jwt', { sub: 'flood' })));
  for (let i = 1; i <= FLOOD; i++) flooder.send(['whoami', null, i]);
  const closed = await withTimeout(flooder.closed, 5000, 'the flooder to be cut off');
  const acks = flooder.frames.filter(f => Array.isArray(f) && f[0] === '$ack').map(f => f[2]);
  assert.equal(acks.length, 41, '20 answers and 21 refusals before the cut');
  assert.notEqual(closed.code, 1006, 'the connection ended with a close frame, not a reset');
});
