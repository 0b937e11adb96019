// The echo example (examples/echo.rs) in headless Chromium: its two pages, the seed's "Send
// Message" page with the socket.io client and with a bare `new WebSocket(...)`, each typing
// `hello` and showing the server's `HELLO!!!`. On the plain page the frames themselves are
// checked: raw text out, raw text in, on /ws (what a WeChat mini-program sends).
//
// Run from tests/interop/node: npm run test:browser (after `cargo build --example echo`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, ECHO_SERVER_BIN } from '../node/lib/harness.mjs';
import { launchChromium, consoleOf, screenshot } from './chromium.mjs';

let server;
let browser;

before(async () => {
  browser = await launchChromium();
  server = await startServer({ bin: ECHO_SERVER_BIN });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens `path`, waits for "connected", sends `text` with the page's own input and button,
 *  and returns what #recv shows then. */
async function roundTrip(page, path, text, log) {
  const response = await page.goto(server.url + path);
  assert.equal(response.status(), 200);
  const context = () => `console:\n${log.join('\n')}`;
  await page.waitForFunction(() => document.getElementById('recv').textContent === 'connected', null, { timeout: 10000 })
    .catch(err => { throw new Error(`${path} did not connect: ${err.message}\n${context()}`); });
  await page.fill('#sendTxt', text);
  await page.click('#sendBtn');
  await page.waitForFunction(t => document.getElementById('recv').textContent !== t, 'connected', { timeout: 10000 })
    .catch(err => { throw new Error(`${path}: no answer to ${text}: ${err.message}\n${context()}`); });
  return page.textContent('#recv');
}

test('socket.io page: socket.send("hello") → a "message" event "HELLO!!!"', async () => {
  const page = await browser.newPage();
  const log = consoleOf(page);
  const polls = [];
  page.on('request', r => { if (r.url().includes('/socket.io/')) polls.push(r.url()); });
  assert.equal(await roundTrip(page, '/', 'hello', log), 'HELLO!!!', log.join('\n'));
  assert.equal(await page.evaluate(() => typeof io), 'function', 'the page runs the socket.io client');
  assert.equal(await page.getAttribute('script[src]', 'src'), '/socket.io.min.js', 'the example serves the client itself');
  assert.ok(polls.some(u => /EIO=4/.test(u)), `the page spoke Engine.IO v4 to /socket.io/: ${polls.join(', ')}`);
  // Another line, to see the page keeps working after the first answer.
  await page.fill('#sendTxt', 'again');
  await page.click('#sendBtn');
  await page.waitForFunction(() => document.getElementById('recv').textContent === 'AGAIN!!!', null, { timeout: 5000 });
  await page.fill('#sendTxt', 'hello');
  await page.click('#sendBtn');
  await page.waitForFunction(() => document.getElementById('recv').textContent === 'HELLO!!!', null, { timeout: 5000 });
  await screenshot(page, 'echo-socketio');
  await page.close();
});

test('plain page: a bare WebSocket on /ws sends the raw text "hello" and receives the raw text "HELLO!!!"', async () => {
  const page = await browser.newPage();
  const log = consoleOf(page);
  const sockets = [];
  page.on('websocket', ws => {
    const seen = { url: ws.url(), sent: [], received: [] };
    ws.on('framesent', f => seen.sent.push(f.payload));
    ws.on('framereceived', f => seen.received.push(f.payload));
    sockets.push(seen);
  });
  assert.equal(await roundTrip(page, '/plain', 'hello', log), 'HELLO!!!', log.join('\n'));
  assert.equal(await page.evaluate(() => typeof io), 'undefined', 'no socket.io client on the plain page');
  assert.equal(sockets.length, 1, JSON.stringify(sockets));
  assert.equal(new URL(sockets[0].url).pathname, '/ws');
  assert.deepEqual(sockets[0].sent, ['hello'], 'raw text out, no JSON, no Engine.IO framing');
  assert.deepEqual(sockets[0].received, ['HELLO!!!'], 'raw text in, nothing else');
  await screenshot(page, 'echo-plain');
  await page.close();
});

test('both pages are served with the realtime endpoints on one port, and link to each other', async () => {
  const page = await browser.newPage();
  await page.goto(server.url + '/');
  assert.equal(await page.getAttribute('a', 'href'), '/plain');
  await page.goto(server.url + '/plain');
  assert.equal(await page.getAttribute('a', 'href'), '/');
  await page.close();
});
