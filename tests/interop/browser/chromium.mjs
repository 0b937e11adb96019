// Shared by the browser tests: launching Debian's Chromium through playwright-core (never a
// downloaded browser), collecting a page's console for failure messages, and writing
// screenshots to tests/interop/browser/output/ (gitignored).
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../node/package.json', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const OUTPUT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'output');

/** Headless Chromium; fails (never skips) with how to install it when it is missing. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install Debian's package (apt-get update && apt-get install -y chromium) ` +
      'or set CHROMIUM_PATH. The browser interop tests do not download browsers and are not skipped.',
    );
  }
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Collects the page's console lines and uncaught errors, to print when a test fails. */
export function consoleOf(page) {
  const lines = [];
  page.on('console', msg => lines.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', err => lines.push(`pageerror: ${err.message}`));
  return lines;
}

/** Writes a screenshot of the page to OUTPUT_DIR/<name>.png and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
