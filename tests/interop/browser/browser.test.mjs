// Browser interop: Debian's Chromium (headless, driven by playwright-core) opens the page the
// interop server serves (tests/interop/browser/page.html), which loads the socket.io client
// bundle, connects with the default transports (polling, then upgrade to websocket), emits,
// receives, acks both ways, sends binary, and talks JSON frames over a plain `new WebSocket`.
// The page collects everything in window.results; this test asserts on it.
//
// Run from tests/interop/node (where playwright-core is installed): npm run test:browser
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../node/lib/harness.mjs';
import { launchChromium, consoleOf } from './chromium.mjs';

let server;
let browser;

before(async () => {
  browser = await launchChromium();
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('socket.io client bundle and plain WebSocket in headless Chromium', async () => {
  const page = await browser.newPage();
  const consoleLines = consoleOf(page);
  const response = await page.goto(server.url + '/');
  assert.equal(response.status(), 200);
  await page.waitForFunction(() => window.results && window.results.done, null, { timeout: 30000 }).catch(err => {
    throw new Error(`the page did not finish: ${err.message}\nconsole:\n${consoleLines.join('\n')}`);
  });
  const r = await page.evaluate(() => window.results);
  const context = `results: ${JSON.stringify(r, null, 2)}\nconsole:\n${consoleLines.join('\n')}`;
  assert.deepEqual(r.errors, [], context);

  const sio = r.socketio;
  assert.equal(sio.connected, true, context);
  assert.match(sio.id, /^[A-Za-z0-9_-]{20}$/);
  assert.equal(sio.openedWith, 'polling', 'default transports start with polling');
  assert.deepEqual(sio.welcome, { id: sio.id, ns: '/', auth: {} });
  assert.deepEqual(sio.echo, [{ hello: 'browser' }, 42]);
  assert.deepEqual(sio.ack, ['x', { n: 1 }]);
  assert.equal(sio.emitWithAck, 'with-timeout');
  assert.deepEqual(sio.binary, { isArrayBuffer: true, bytes: [1, 2, 3], nestedIsArrayBuffer: true, nested: [4, 5] });
  assert.deepEqual(sio.serverAck, { ok: true, reply: { from: 'browser', got: { q: 'ping' } } });
  assert.equal(sio.upgradedTo, 'websocket');
  assert.equal(sio.finalTransport, 'websocket');
  assert.deepEqual(sio.echoAfterUpgrade, ['after-upgrade']);

  const plain = r.plain;
  assert.equal(plain.welcome[0], 'welcome');
  assert.equal(plain.welcome[1].ns, '/');
  assert.deepEqual(plain.echo, ['echo', { hello: 'plain' }]);
  assert.deepEqual(plain.ack, ['$ack', 5, { n: 7 }]);
  assert.equal(plain.raw, 'HELLO!!!');
  await page.close();
});
