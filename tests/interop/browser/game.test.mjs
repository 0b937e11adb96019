// The game example (examples/game/) in headless Chromium: two players open the page in two
// tabs, log in, one creates a match, the other joins it from the lobby, and each page shows
// the other's paddle moving as the server's 20 Hz state says. Assertions read the state the
// page exposes: data attributes of the #board canvas (data-left-y, data-right-y,
// data-status, data-tick, ...) and the lobby list. Screenshots go to browser/output/.
//
// Run from tests/interop/node: npm run test:browser (after `cargo build --example game`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, GAME_SERVER_BIN, sleep } from '../node/lib/harness.mjs';
import { launchChromium, consoleOf, screenshot } from './chromium.mjs';

/** The field the server sends (pong.rs): 400 px high, 80 px paddles. */
const TOP = 0;
const BOTTOM = 400 - 80;
const MIDDLE = BOTTOM / 2;

let server;
let browser;

before(async () => {
  browser = await launchChromium();
  server = await startServer({ bin: GAME_SERVER_BIN });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A tab with the game page, logged in as `name` and showing the lobby. */
async function player(name) {
  const page = await browser.newPage({ viewport: { width: 760, height: 760 } });
  const log = consoleOf(page);
  const response = await page.goto(server.url + '/');
  assert.equal(response.status(), 200);
  await page.fill('#name', name);
  await page.click('#play');
  await page.waitForSelector('#lobby:not([hidden])', { timeout: 10000 })
    .catch(err => { throw new Error(`${name} never reached the lobby: ${err.message}\n${log.join('\n')}`); });
  return { name, page, log };
}

/** What the page shows of the match: the data attributes of #board. */
const shown = p => p.page.$eval('#board', b => ({ ...b.dataset }));

/** Waits until the page's #board shows every attribute of `want` (compared as strings). */
async function until(p, want, what, timeout = 5000) {
  try {
    await p.page.waitForFunction(
      w => Object.entries(w).every(([k, v]) => document.getElementById('board').dataset[k] === String(v)),
      want, { timeout });
  } catch (err) {
    throw new Error(`${p.name}'s page never showed ${what} ${JSON.stringify(want)}; it shows ${JSON.stringify(await shown(p))}\n` +
      `${err.message}\nconsole:\n${p.log.join('\n')}`);
  }
}

/** Holds `key` down on `p`'s page until `p` or `other` shows `want`, then releases it. */
async function hold(p, key, watcher, want, what) {
  await p.page.keyboard.down(key);
  try {
    await until(watcher, want, what);
  } finally {
    await p.page.keyboard.up(key);
  }
}

test('two tabs: a match created in one, joined from the lobby in the other; each shows the other\'s moves', async () => {
  const alice = await player('alice');
  await screenshot(alice.page, 'game-lobby-empty');
  await alice.page.click('#create');
  await until(alice, { side: 'left', status: 'waiting', leftName: 'alice', rightName: '' }, 'a match waiting for an opponent');
  const { match } = await shown(alice);
  assert.match(match, /^\d+$/);
  await screenshot(alice.page, 'game-waiting');

  // bob's lobby lists alice's match, open; he joins it from there.
  const bob = await player('bob');
  const entry = bob.page.locator(`#matches li[data-match="${match}"]`);
  await entry.waitFor({ timeout: 5000 });
  assert.match(await entry.textContent(), /alice/);
  assert.match(await bob.page.textContent('#running'), /^1 match running/);
  await screenshot(bob.page, 'game-lobby');
  await entry.locator('button.join').click();

  for (const p of [alice, bob]) {
    await until(p, { match, leftName: 'alice', rightName: 'bob', leftY: MIDDLE, rightY: MIDDLE }, 'both players');
  }
  assert.equal((await shown(bob)).side, 'right');

  // alice moves up: bob's page shows it; bob moves down: alice's page shows it.
  await hold(alice, 'ArrowUp', bob, { leftY: TOP }, 'alice\'s paddle at the top');
  await hold(bob, 'KeyS', alice, { rightY: BOTTOM }, 'bob\'s paddle at the bottom');
  // Each page agrees on both paddles, and a paddle stops when its key is released.
  for (const p of [alice, bob]) await until(p, { leftY: TOP, rightY: BOTTOM }, 'both paddles where they were left');

  // A short move: both pages settle on the same position, between the walls.
  await alice.page.keyboard.down('ArrowDown');
  await sleep(120);
  await alice.page.keyboard.up('ArrowDown');
  await sleep(300);
  const leftY = (await shown(alice)).leftY;
  assert.ok(Number(leftY) > TOP && Number(leftY) < BOTTOM, `alice moved a little: y=${leftY}`);
  await until(bob, { leftY }, 'where alice stopped');

  // The server's clock: about 20 states a second, the ball in play.
  const t0 = await bob.page.evaluate(() => ({ tick: Number(document.getElementById('board').dataset.tick), at: performance.now() }));
  await sleep(1000);
  const t1 = await bob.page.evaluate(() => ({ tick: Number(document.getElementById('board').dataset.tick), at: performance.now() }));
  const rate = (t1.tick - t0.tick) / ((t1.at - t0.at) / 1000);
  assert.ok(rate > 12 && rate < 28, `about 20 ticks a second, saw ${rate.toFixed(1)}`);
  const ball = async p => { const d = await shown(p); return [d.status, d.ballX, d.ballY].join(' '); };
  const b0 = await ball(bob);
  await sleep(400);
  assert.notEqual(await ball(bob), b0, 'the ball moves (or a point is being served)');
  await screenshot(alice.page, 'game-alice');
  await screenshot(bob.page, 'game-bob');

  // bob leaves: alice waits again, and her match is open again in bob's lobby.
  await bob.page.click('#leave');
  await bob.page.waitForSelector('#lobby:not([hidden])');
  await until(alice, { status: 'waiting', rightName: '' }, 'an empty seat');
  await entry.waitFor({ timeout: 5000 });
  // alice leaves too: the match is gone from the lobby and its tick loop stopped.
  await alice.page.click('#leave');
  await entry.waitFor({ state: 'detached', timeout: 5000 });
  await bob.page.waitForFunction(() => /^0 matches running/.test(document.getElementById('running').textContent), null, { timeout: 5000 });
  assert.equal(await bob.page.isVisible('#no-matches'), true);
  for (const p of [alice, bob]) assert.deepEqual(p.log.filter(l => l.startsWith('pageerror')), []);
  await alice.page.close();
  await bob.page.close();
});

test('closing a tab frees the seat: the other player waits, and the lobby lists the match again', async () => {
  const carol = await player('carol');
  await carol.page.click('#create');
  await until(carol, { status: 'waiting' }, 'a match');
  const { match } = await shown(carol);
  const dave = await player('dave');
  await dave.page.locator(`#matches li[data-match="${match}"] button.join`).click();
  await until(carol, { rightName: 'dave' }, 'dave seated');
  const erin = await player('erin');
  await erin.page.locator(`#matches li[data-match="${match}"]`).waitFor({ state: 'detached', timeout: 5000 });
  // A closed tab's WebSocket closes at once (a long-polling client would be noticed only
  // after the ping timeout): wait for the upgrade first.
  await dave.page.waitForFunction(() => /websocket/.test(document.getElementById('status').textContent), null, { timeout: 10000 });
  await dave.page.close();
  await until(carol, { status: 'waiting', rightName: '' }, 'the seat freed by a closed tab');
  await erin.page.locator(`#matches li[data-match="${match}"]`).waitFor({ timeout: 5000 });
  await carol.page.close();
  await erin.page.locator(`#matches li[data-match="${match}"]`).waitFor({ state: 'detached', timeout: 5000 });
  await erin.page.close();
});
