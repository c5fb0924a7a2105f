// The admin console in Chromium against the local platform, as a person uses it: sign in, create a
// bot, fix a setting the API refuses, upload a PDF through the file picker and watch it become
// ready, chat in the playground and see a cited answer stream in, change the greeting and see it
// in the widget on a site; every screen saved as a screenshot; and a plain message for each API
// error a person can meet (401, 404, 413, 429, 500), never a blank screen.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { CHANNEL_CATALOG } from '../../shared/channels/registry.ts';
import { makePdf } from '../fixtures/documents/pdf.ts';
import { launchBrowser, screenshot, waitForText, watchedPage } from '../support/browser.ts';
import { api, platform } from '../support/platform.ts';

const FACT = 'The reading room of the Quillmere library lends brass telescopes on Thursdays.';

let browser: Browser;
let key: string;
let files: string;
let site: Server;
let siteOrigin: string;
let page: Page;
let problems: string[];

const consoleUrl = () => `${platform().baseUrl}/`;

async function signIn(target: Page, apiKey: string) {
  await target.goto(consoleUrl());
  await target.getByLabel('API key').fill(apiKey);
  await target.getByRole('button', { name: 'Sign in' }).click();
}

beforeAll(async () => {
  browser = await launchBrowser();
  // A small upload limit, so the test can meet the 413 with a small file.
  const tenant = await api('/admin/tenants', {
    key: platform().operatorKey,
    body: { name: 'Quillmere', plan: { maxUploadBytes: 200_000 } },
  });
  key = tenant.json.apiKey;
  files = mkdtempSync(join(tmpdir(), 'parley-console-'));
  writeFileSync(
    join(files, 'handbook.pdf'),
    makePdf([
      { heading: 'Opening hours', paragraphs: ['The library opens at nine.'] },
      { heading: 'Lending', paragraphs: [FACT] },
    ]),
  );
  writeFileSync(join(files, 'too-big.txt'), 'x'.repeat(300_000));
  site = createServer((req, res) => {
    const bot = new URL(req.url ?? '/', 'http://site').searchParams.get('bot') ?? '';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><title>Site</title><h1>Library</h1><script src="${platform().baseUrl}/widget.js" data-bot-id="${bot}"></script>`,
    );
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  ({ page, problems } = await watchedPage(browser));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
  rmSync(files, { recursive: true, force: true });
});

/** Console errors other than the browser's own line for a failed request the test provoked. */
const unexpected = (list: string[]) => list.filter((p) => !p.includes('Failed to load resource'));

describe('console', () => {
  let botId = '';

  it('refuses a wrong key with a message, then signs in with the tenant key', async () => {
    await signIn(page, 'pk_0000000000000000_0000000000000000000000000000000000000000000');
    await waitForText(page.getByRole('alert'), 'That key was not accepted');
    await screenshot(page, 'console-sign-in-refused');
    await signIn(page, key);
    expect(await waitForText(page.locator('h1'), 'Bots')).toBe('Bots');
    expect(page.url()).not.toContain(key);
  });

  it('creates a bot and shows the API’s refusal next to the field, then saves valid settings', async () => {
    await page.getByLabel('Name').fill('Librarian');
    await page.getByRole('button', { name: 'Create bot' }).click();
    expect(await waitForText(page.locator('h1'), 'Librarian')).toBe('Librarian');
    botId = /#\/bots\/([^/]+)/.exec(page.url())?.[1] ?? '';
    expect(botId).toMatch(/^bot_/);

    await page.getByLabel('Temperature').fill('5');
    await page.getByRole('button', { name: 'Save' }).click();
    await waitForText(page.locator('.pc-field-invalid .pc-field-error'), /<=\s*2/);
    await screenshot(page, 'console-settings-invalid');

    await page.getByLabel('Temperature').fill('0.2');
    await page.getByLabel('Greeting').fill('Welcome to the Quillmere library!');
    await page.getByLabel('Visibility').selectOption('public');
    await page.getByLabel('Allowed origins').fill(siteOrigin);
    await page.getByRole('button', { name: 'Save' }).click();
    await waitForText(page.locator('body'), 'Saved.');
    await screenshot(page, 'console-settings');
  });

  it('uploads a PDF through the file picker and shows it ready; a file over the plan’s limit is refused', async () => {
    await page.getByRole('link', { name: 'Documents' }).click();
    await page.getByLabel('Choose files').setInputFiles(join(files, 'handbook.pdf'));
    await page.locator('[data-status="ready"]').first().waitFor({ timeout: 60_000 });
    await page.getByLabel('Choose files').setInputFiles(join(files, 'too-big.txt'));
    await waitForText(page.locator('body'), 'this plan accepts documents up to 200000 bytes');
    await screenshot(page, 'console-documents');
  });

  it('chats in the playground: a cited answer streams in', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    await waitForText(page.locator('.parley-greeting'), 'Welcome to the Quillmere library!');
    await page.getByLabel('Your message').fill('What does the reading room lend on Thursdays?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.locator('[data-role="assistant"]').last();
    await waitForText(answer, 'telescopes', 30_000);
    await waitForText(answer.locator('.parley-citations'), 'handbook.pdf');
    await answer.locator('summary').first().click();
    await waitForText(answer.locator('blockquote'), 'telescopes');
    await screenshot(page, 'console-playground');
  });

  it('shows every other screen: search, channels, conversations, usage', async () => {
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search query').fill('telescopes');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitForText(page.locator('main'), 'handbook.pdf');
    await screenshot(page, 'console-search');
    await page.getByRole('link', { name: 'Channels' }).click();
    // The console's list is the server's registry, written into the bundle when it is built.
    for (const entry of CHANNEL_CATALOG) {
      const card = page.getByRole('region', { name: entry.title });
      await card.waitFor();
      for (const field of entry.fields) expect(await card.getByLabel(field.label).count()).toBe(1);
    }
    await screenshot(page, 'console-channels');
    await page.getByRole('link', { name: 'Conversations' }).click();
    await waitForText(page.locator('main'), 'Open conversation');
    await screenshot(page, 'console-conversations');
    await page.getByRole('link', { name: 'Usage' }).click();
    expect(await waitForText(page.locator('h1'), 'Usage')).toBe('Usage');
    await page.locator('svg').first().waitFor();
    await screenshot(page, 'console-usage');
  });

  it('adds a test question (a bad page refused at its field), runs an evaluation and shows its figures', async () => {
    await page.goto(`${consoleUrl()}#/bots/${botId}/tests`);
    expect(await waitForText(page.locator('h2').first(), 'Test questions')).toBe('Test questions');
    await waitForText(page.locator('main'), 'No evaluation has run yet.');
    await page.getByLabel('Question', { exact: true }).fill('What does the reading room lend on Thursdays?');
    await page.getByLabel('Expected document').selectOption({ label: 'handbook.pdf' });
    await page.getByLabel('Expected page (optional)').fill('0');
    await page.getByRole('button', { name: 'Add question' }).click();
    await waitForText(page.locator('.pc-field-invalid .pc-field-error'), />=\s*1/);
    await page.getByLabel('Expected page (optional)').fill('2');
    await page.getByRole('button', { name: 'Add question' }).click();
    const list = page.getByRole('list', { name: 'Test questions' });
    await waitForText(list, 'Expects handbook.pdf, page 2');

    await page.getByRole('button', { name: 'Run evaluation' }).click();
    const run = page.getByRole('region', { name: 'Evaluation run' });
    await page.locator('.pc-run[data-status="done"]').waitFor({ timeout: 30_000 });
    expect(await waitForText(run.locator('[data-figure="recall"]'), '%')).toBe('100%');
    expect(await run.locator('[data-figure="mrr"]').innerText()).toBe('1.000');
    const row = run.getByRole('table', { name: 'Results per question' }).locator('tbody tr').first();
    await waitForText(row, 'reading room');
    expect(await row.getByRole('img', { name: 'Retrieved: yes' }).count()).toBe(1);
    expect(await row.getByRole('img', { name: 'Cited: yes' }).count()).toBe(1);
    await waitForText(row, 'handbook.pdf, p. 2');
    const history = page.getByRole('table', { name: 'Evaluation runs' });
    await waitForText(history, '100%');
    await screenshot(page, 'console-evaluations');
  });

  it('changes the greeting and the widget on the site shows it', async () => {
    await page.goto(`${consoleUrl()}#/bots/${botId}/settings`);
    await page.getByLabel('Greeting').fill('Hello, reader. Ask me anything.');
    await page.getByRole('button', { name: 'Save' }).click();
    await waitForText(page.locator('body'), 'Saved.');

    const visitor = await watchedPage(browser);
    await visitor.page.goto(`${siteOrigin}/?bot=${botId}`);
    await visitor.page.getByRole('button', { name: 'Open chat' }).click();
    await waitForText(
      visitor.page.frameLocator('iframe[title="Chat"]').locator('.parley-greeting'),
      'Hello, reader. Ask me anything.',
    );
    await screenshot(visitor.page, 'widget-greeting');
    expect(unexpected(visitor.problems)).toEqual([]);
    await visitor.page.context().close();
  });

  it('explains a bot that no longer exists, the rate limit and a server failure', async () => {
    await page.goto(`${consoleUrl()}#/bots/bot_gone000000000000000000/settings`);
    expect(await waitForText(page.locator('h1'), 'This bot no longer exists')).toBe(
      'This bot no longer exists',
    );

    await api(`/admin/bots/${botId}`, {
      method: 'PATCH',
      key,
      body: { rateLimits: { perMinute: 60, perSecond: 2, perUserPerMinute: 1 } },
    });
    await page.goto(`${consoleUrl()}#/bots/${botId}/playground`);
    // The chat function may hold the old limits for up to 30 s (its bot cache); ask until refused.
    const deadline = Date.now() + 45_000;
    let refused = false;
    while (!refused && Date.now() < deadline) {
      await page.getByLabel('Your message').fill('Again?');
      await page.getByRole('button', { name: 'Send' }).click();
      await page
        .locator('[data-role="assistant"]')
        .last()
        .locator('.parley-text, .parley-error')
        .first()
        .waitFor();
      refused = (await page.locator('.parley-error').count()) > 0;
    }
    await waitForText(page.locator('.parley-error').last(), 'Too many messages right now');
    await screenshot(page, 'console-rate-limited');

    // A server failure: API Gateway's answer when a function crashes, for the next bots list.
    await page.route('**/admin/bots?*', (route) =>
      route.fulfill({
        status: 502,
        contentType: 'application/json',
        body: JSON.stringify({
          error: { code: 'internal', message: 'Internal server error', requestId: 'r-1' },
        }),
      }),
    );
    await page.goto(`${consoleUrl()}#/bots`);
    await waitForText(page.locator('main'), 'Something went wrong on our side');
    await screenshot(page, 'console-server-error');
    await page.unroute('**/admin/bots?*');
    expect(unexpected(problems)).toEqual([]);
  });

  it('works on a phone-sized screen', async () => {
    const phone = await watchedPage(browser, { viewport: { width: 375, height: 740 } });
    await signIn(phone.page, key);
    expect(await waitForText(phone.page.locator('h1'), 'Bots')).toBe('Bots');
    await phone.page.getByRole('button', { name: 'Menu' }).click();
    await phone.page.getByRole('link', { name: 'Usage' }).click();
    expect(await waitForText(phone.page.locator('h1'), 'Usage')).toBe('Usage');
    await screenshot(phone.page, 'console-phone');
    expect(unexpected(phone.problems)).toEqual([]);
    await phone.page.context().close();
  });

  it('gives the operator the tenants screen', async () => {
    const operator = await watchedPage(browser);
    await signIn(operator.page, platform().operatorKey);
    expect(await waitForText(operator.page.locator('h1'), 'Tenants')).toBe('Tenants');
    await waitForText(operator.page.locator('main'), 'Quillmere');
    await screenshot(operator.page, 'console-tenants');
    expect(unexpected(operator.problems)).toEqual([]);
    await operator.page.context().close();
  });
});
