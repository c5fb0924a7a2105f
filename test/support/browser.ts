// Chromium for the browser tests: Debian's (`/usr/bin/chromium`, or CHROMIUM_PATH), driven by
// playwright-core (which downloads no browser of its own). Every page records its console errors
// and uncaught exceptions so a test can assert there were none; screenshots go to test-output.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { TEST_OUTPUT_DIR } from './platform.ts';

export const SCREENSHOT_DIR = join(TEST_OUTPUT_DIR, 'screenshots');

/** Without the background-networking flags Chromium keeps calling Google's hosts, which this network refuses. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: FLAGS });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and uncaught exceptions, in the page and its frames. */
  problems: string[];
}

/** A fresh page (its own context: storage, cookies) whose errors are recorded. */
export async function watchedPage(
  browser: Browser,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/**
 * Waits until the element's text contains `expected` (or matches it) and returns the text.
 * (playwright-core has no web-first assertions; this is the one the tests need.)
 */
export async function waitForText(
  locator: Locator,
  expected: string | RegExp,
  timeoutMs = 15_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = (await locator.count()) > 0 ? await locator.first().innerText() : '';
    if (typeof expected === 'string' ? text.includes(expected) : expected.test(text)) return text;
    if (Date.now() > deadline) {
      throw new Error(
        `waited ${timeoutMs} ms for ${String(expected)} in ${locator}; its text: ${JSON.stringify(text)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
