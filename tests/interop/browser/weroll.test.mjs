// The weroll example (examples/weroll) in headless Chromium: one user logged in on two pages
// (two devices) and a guest on a third. Each page logs in over HTTP, connects with the
// socket.io client and shakes hands with `$init` + `_sess`, as weroll's guide shows; then
// the compact "m" form, rooms, broadcasts and `sendTo` reaching both of the user's devices.
//
// Run from tests/interop/node: npm run test:browser (after `cargo build --example weroll`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, REPO_ROOT } from '../node/lib/harness.mjs';
import { launchChromium, consoleOf, screenshot } from './chromium.mjs';

const WEROLL_BIN = process.env.WEROLL_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/examples/weroll');

let server;
let browser;

before(async () => {
  browser = await launchChromium();
  server = await startServer({ bin: WEROLL_BIN, env: { REDIS_URL: '', RUST_LOG: 'info' } });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page (in a browser context of its own) logged in as `userid`, or a guest. */
async function open(userid) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const log = consoleOf(page);
  assert.equal((await page.goto(server.url + '/')).status(), 200);
  if (userid) {
    await page.fill('#userid', userid);
    await page.click('#loginBtn');
  } else {
    await page.click('#guestBtn');
  }
  // Without `shakehand` the server pushes `$init` (the socket id) on connect, as weroll does;
  // the answer to the page's own `$init` follows: wait for the one that matches.
  await page.waitForFunction(u => u ? document.body.dataset.clientId === u : document.body.dataset.clientId, userid, { timeout: 10000 })
    .catch(err => { throw new Error(`no $init reply: ${err.message}\n${log.join('\n')}`); });
  return { page, log, clientId: await page.evaluate(() => document.body.dataset.clientId) };
}

/** The `data` of every log entry of `event` on the page. */
const entries = (page, event) => page.$$eval(`#log li[data-event="${event}"]`, lis => lis.map(li => JSON.parse(li.dataset.data)));

async function waitForEntry(p, event, pred, what) {
  await p.page.waitForFunction(({ event }) => document.querySelector(`#log li[data-event="${event}"]`), { event }, { timeout: 5000 })
    .catch(err => { throw new Error(`${what}: ${err.message}\n${p.log.join('\n')}`); });
  for (let i = 0; i < 50; i++) {
    const hit = (await entries(p.page, event)).find(pred);
    if (hit) return hit;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`${what}: got ${JSON.stringify(await entries(p.page, event))}`);
}

test('one user on two devices and a guest: $init, the "m" form, rooms, broadcasts, sendTo', async () => {
  const phone = await open('jay');
  const laptop = await open('jay');
  const guest = await open(null);
  assert.equal(phone.clientId, 'jay', 'after $init with a session the clientID is the userid');
  assert.equal(laptop.clientId, 'jay');
  assert.notEqual(guest.clientId, 'jay', 'a guest keeps its socket id');
  const init = (await entries(phone.page, '$init'))[0];
  assert.ok(init.socketID && init.time, `weroll's $init reply: ${JSON.stringify(init)}`);

  // The guide's first example, sent in the compact "m" form: hello → bye.
  await phone.page.click('#hello');
  assert.deepEqual(await waitForEntry(phone, 'bye', () => true, 'bye'), { msg: 'game over' });

  // enterRoom, then broadcastToRoom reaches the room only.
  await phone.page.click('#enter');
  await guest.page.click('#enter');
  await waitForEntry(guest, 'rooms', r => r.includes('lobby'), 'guest in the lobby');
  await waitForEntry(phone, 'rooms', r => r.includes('lobby'), 'phone in the lobby');
  await guest.page.fill('#text', 'in the lobby');
  await guest.page.click('#toRoom');
  await waitForEntry(phone, 'said', l => l.text === 'in the lobby', 'room message on the phone');
  await guest.page.fill('#text', 'to everyone');
  await guest.page.click('#toAll');
  await waitForEntry(laptop, 'said', l => l.text === 'to everyone', 'broadcast on the laptop');

  // sendTo(clientID) reaches every device of that user, and nobody else.
  await guest.page.fill('#to', 'jay');
  await guest.page.fill('#text', 'for jay');
  await guest.page.click('#sendTo');
  for (const device of [phone, laptop]) {
    const line = await waitForEntry(device, 'said', l => l.text === 'for jay', 'sendTo on each device');
    assert.equal(line.from, guest.clientId);
  }
  await new Promise(r => setTimeout(r, 300));
  assert.equal((await entries(laptop.page, 'said')).filter(l => l.text === 'in the lobby').length, 0, 'the laptop is not in the room');
  assert.equal((await entries(guest.page, 'said')).filter(l => l.text === 'for jay').length, 0, 'sendTo is private');

  await screenshot(phone.page, 'weroll-phone');
  await screenshot(guest.page, 'weroll-guest');
  // Every lifecycle event was logged by the server, as weroll's debug mode does.
  for (const ev of ['start', 'connection', 'shakeHandStart', 'shakeHandComplete', 'shakeHandSuccess']) {
    assert.match(server.output(), new RegExp(ev), `${ev} in the server's log`);
  }
  await laptop.page.context().close();
  await new Promise(r => setTimeout(r, 300));
  assert.match(server.output(), /disconnect/);
});
