// The chat example's two pages in headless Chromium (Debian's, driven by playwright-core;
// never a downloaded browser): ann on the Socket.IO page (/), ben on the plain WebSocket page
// (/plain.html), cat on the Socket.IO page as the bystander. They log in through the page
// (POST /login, then the token in the connection's query string), see each other online,
// exchange a group message, a private message only the addressee sees, talk in a room joined
// and left from the page, and ann sees ben leave when his page closes. A page whose token is
// refused shows the server's reason.
//
// Screenshots go to tests/interop/browser/output/ (gitignored).
// Run from tests/interop/node after `cargo build --example chat` and `npm ci`:
//   node --test ../browser/chat.test.mjs      (or: npm run test:browser)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../node/lib/harness.mjs';
import { forgeToken, startChat } from '../node/lib/chat.mjs';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUTPUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'output');

let server;
let browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install Debian's package (apt-get update && apt-get install -y chromium) ` +
      'or set CHROMIUM_PATH. The browser tests do not download browsers and are not skipped.',
    );
  }
  mkdirSync(OUTPUT, { recursive: true });
  const { chromium } = require('playwright-core');
  server = await startChat();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  if (server) assert.doesNotMatch(server.output(), /panicked/);
  await server?.stop();
});

/** A user: a page of its own browser context (its own sessionStorage), at `pagePath`. */
async function open(pagePath, { token } = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', msg => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', err => consoleLines.push(`pageerror: ${err.message}`));
  if (token) await page.addInitScript(t => sessionStorage.setItem('chat-token', t), token);
  const response = await page.goto(server.url + pagePath);
  assert.equal(response.status(), 200);
  const lines = () => page.$$eval('#log div', divs => divs.map(d => d.textContent));
  return {
    page,
    consoleLines,
    lines,
    /** Waits until the chat log shows `text` (exactly, one line). */
    async sees(text, ms = 5000) {
      try {
        await page.waitForFunction(t => [...document.querySelectorAll('#log div')].some(d => d.textContent === t), text, { timeout: ms });
      } catch (err) {
        throw new Error(`${pagePath} never showed ${JSON.stringify(text)}: ${err.message}\nlog: ${JSON.stringify(await lines())}\nconsole:\n${consoleLines.join('\n')}`);
      }
    },
    async online() { return page.$$eval('#online li', lis => lis.map(li => li.dataset.name)); },
    async waitOnline(names, ms = 5000) {
      await page.waitForFunction(n => JSON.stringify([...document.querySelectorAll('#online li')].map(li => li.dataset.name)) === n,
        JSON.stringify(names), { timeout: ms }).catch(async err => {
        throw new Error(`${pagePath}: online list ${JSON.stringify(await this.online())}, expected ${JSON.stringify(names)}: ${err.message}`);
      });
    },
    async logIn(name) {
      // Before logging in only the login form shows: nothing can be typed into a hidden chat.
      assert.equal(await page.isVisible('#login'), true);
      assert.equal(await page.isVisible('#say'), false, 'the message form is hidden before login');
      assert.equal(await page.isVisible('#chat'), false);
      await page.fill('#login [name=name]', name);
      await page.click('#login button');
      await page.waitForFunction(n => document.querySelector('#me').textContent === n, name, { timeout: 5000 }).catch(async err => {
        throw new Error(`${pagePath}: login as ${name} failed (${await page.textContent('#status')}): ${err.message}\nconsole:\n${consoleLines.join('\n')}`);
      });
      assert.equal(await page.isVisible('#say'), true, 'the message form shows after login');
      assert.equal(await page.isVisible('#login'), false, 'the login form hides after login');
    },
    async say(to, text) {
      await page.selectOption('#say [name=to]', to);
      await page.fill('#say [name=text]', text);
      await page.click('#say button');
    },
    async join(room) {
      await page.fill('#join [name=room]', room);
      await page.click('#join button');
      await page.waitForSelector(`#rooms li[data-room="${room}"]`, { timeout: 5000 });
    },
    async leave(room) {
      await page.click(`#rooms li[data-room="${room}"] button`);
      await page.waitForSelector(`#rooms li[data-room="${room}"]`, { state: 'detached', timeout: 5000 });
    },
    screenshot: name => page.screenshot({ path: path.join(OUTPUT, name) }),
    close: () => context.close(),
  };
}

test('two users, Socket.IO page and plain WebSocket page, in one conversation', async () => {
  const ann = await open('/');
  await ann.logIn('ann');
  assert.equal(await ann.page.evaluate(() => typeof io), 'function', 'the Socket.IO bundle loaded');
  const ben = await open('/plain.html');
  await ben.logIn('ben');
  const cat = await open('/');
  await cat.logIn('cat');

  // Online list and enter notices.
  for (const u of [ann, ben, cat]) await u.waitOnline(['ann', 'ben', 'cat']);
  await ann.sees('ben entered the chat');
  await ann.sees('cat entered the chat');
  await ben.sees('cat entered the chat');
  await ann.screenshot('chat-1-online-socketio.png');
  await ben.screenshot('chat-1-online-plain.png');

  // Group messages, both ways (ann's goes out in the compact "m" form).
  await ann.say('all', 'hello from the Socket.IO page');
  for (const u of [ann, ben, cat]) await u.sees('ann: hello from the Socket.IO page');
  await ben.say('all', 'hello from the plain page');
  for (const u of [ann, ben, cat]) await u.sees('ben: hello from the plain page');

  // A private message: the addressee sees it, the sender its confirmation, cat nothing.
  await ben.say('@ann', 'psst, only you');
  await ann.sees('(private) ben → you: psst, only you');
  await ben.sees('(private) you → ann: psst, only you');

  // A room joined from the page: only its members hear it.
  await ann.join('games');
  await ben.join('games');
  await ann.sees('ben joined #games');
  await ben.say('#games', 'gg');
  await ann.sees('[#games] ben: gg');
  await ben.sees('[#games] ben: gg');
  await ann.screenshot('chat-2-private-and-room-socketio.png');
  await ben.screenshot('chat-2-private-and-room-plain.png');
  await ann.leave('games');
  await ben.sees('ann left #games');
  assert.deepEqual(await ann.page.$$eval('#say [name=to] option', os => os.map(o => o.value)), ['all', '@ben', '@cat'],
    'after leaving, the room is no longer a destination');

  await sleep(300);
  const catLines = await cat.lines();
  assert.ok(!catLines.some(l => l.includes('psst')), `cat saw the private message: ${JSON.stringify(catLines)}`);
  assert.ok(!catLines.some(l => l.includes('gg')), `cat saw the room message: ${JSON.stringify(catLines)}`);
  assert.equal((await ann.lines()).filter(l => l === 'ann: hello from the Socket.IO page').length, 1, 'nothing twice');

  // Ben closes his page: ann sees him leave.
  await ben.close();
  await ann.sees('ben left the chat');
  await ann.waitOnline(['ann', 'cat']);
  await ann.screenshot('chat-3-after-leave-socketio.png');

  for (const u of [ann, ben, cat]) {
    assert.deepEqual(u.consoleLines.filter(l => l.startsWith('pageerror')), [], 'no script errors');
  }
  await ann.close();
  await cat.close();
});

test('a refused token: both pages show the reason and the login form', async () => {
  const expired = forgeToken({ sub: 'old', exp: Math.floor(Date.now() / 1000) - 60 }, { expiresIn: null });
  const forged = forgeToken({ sub: 'eve' }, { secret: 'someone-elses-secret' });
  for (const [pagePath, token, reason] of [
    ['/', expired, 'token expired'],
    ['/plain.html', expired, 'token expired'],
    ['/', forged, 'invalid token signature'],
    ['/plain.html', forged, 'invalid token signature'],
  ]) {
    const user = await open(pagePath, { token });
    await user.page.waitForFunction(r => document.querySelector('#status').textContent === r, `refused: ${reason}`, { timeout: 5000 })
      .catch(async err => { throw new Error(`${pagePath}: status ${JSON.stringify(await user.page.textContent('#status'))}: ${err.message}`); });
    assert.equal(await user.page.isVisible('#login'), true);
    assert.equal(await user.page.isVisible('#say'), false);
    if (reason === 'token expired') await user.screenshot(`chat-refused-${pagePath === '/' ? 'socketio' : 'plain'}.png`);
    await user.close();
  }
});
