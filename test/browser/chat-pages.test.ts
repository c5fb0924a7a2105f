// The hosted chat page and the embeddable widget, in Chromium against the local platform: a
// grounded answer streamed with its citation, the widget on a page of another origin whose CSS
// and globals are hostile, the conversation kept across page loads, and a plain sentence for each
// failure (a private bot, a site the bot does not allow, the rate limit, a disabled bot, offline).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshot, waitForText, watchedPage } from '../support/browser.ts';
import { uploadDocument, waitForDocument } from '../support/knowledge.ts';
import { api, platform } from '../support/platform.ts';
import { startEarlyInMinute, waitFor } from '../support/wait.ts';

const FACT = 'The Zorblax museum shop opens at 10:30 and sells teapots shaped like lighthouses.';

let browser: Browser;
let key: string;
let botId: string;
let hostPage: Server;
let hostOrigin: string;

/** The host page: another origin, hostile CSS, and globals a careless site might break. */
const HOSTILE_PAGE = (widgetSrc: string, bot: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile host</title>
<style>
  * { font-family: "Comic Sans MS", cursive !important; box-sizing: content-box !important; }
  body { background: #fde68a; }
  iframe { display: none !important; width: 1px !important; }
  button { background: red !important; transform: rotate(8deg) !important; font-size: 40px !important; }
  div, section { opacity: 0.2 !important; }
  parley-widget { display: none !important; }
  [role="dialog"] { visibility: hidden !important; }
</style>
<script>
  window.fetch = () => { throw new Error('host page broke fetch'); };
  JSON.parse = () => { throw new Error('host page broke JSON'); };
  Array.prototype.map = function () { throw new Error('host page broke map'); };
  window.h = 'not preact'; window.preact = 42; window.Promise.prototype.hostile = true;
</script></head>
<body><h1>A shop</h1><button id="host-button">Buy</button>
<script src="${widgetSrc}" data-bot-id="${bot}"></script>
</body></html>`;

beforeAll(async () => {
  browser = await launchBrowser();
  const tenant = await api('/admin/tenants', { key: platform().operatorKey, body: { name: 'Web' } });
  key = tenant.json.apiKey;
  hostPage = createServer((req, res) => {
    const bot = new URL(req.url ?? '/', 'http://host').searchParams.get('bot') ?? botId;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(HOSTILE_PAGE(`${platform().baseUrl}/widget.js`, bot));
  });
  await new Promise<void>((resolve) => hostPage.listen(0, '127.0.0.1', resolve));
  hostOrigin = `http://127.0.0.1:${(hostPage.address() as AddressInfo).port}`;
  const bot = await api('/admin/bots', {
    key,
    body: {
      name: 'Museum guide',
      greeting: 'Hello! Ask me about the museum.',
      visibility: 'public',
      allowedOrigins: [hostOrigin],
      branding: { title: 'Museum help', color: '#0f766e', position: 'bottom-left' },
      retrieval: { topK: 3, minScore: 0.1 },
    },
  });
  botId = bot.json.bot.id;
  const document = await uploadDocument(key, botId, {
    filename: 'shop.md',
    contentType: 'text/markdown',
    bytes: new TextEncoder().encode(`# Shop\n\n${FACT}\n`),
  });
  expect((await waitForDocument(key, botId, document.id)).status).toBe('ready');
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => hostPage?.close(resolve));
});

describe('hosted chat page', () => {
  it('shows the bot’s branding and greeting, and streams a cited answer', async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${platform().baseUrl}/b/${botId}`);
    expect(await waitForText(page.locator('h1'), 'Museum help')).toBe('Museum help');
    await page.getByText('Hello! Ask me about the museum.').waitFor({ state: 'visible' });
    await page.getByLabel('Your message').fill('When does the shop open?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.locator('[data-role="assistant"]').last();
    await waitForText(answer, '10:30', 30_000);
    await answer
      .getByText(/shop\.md/)
      .first()
      .click();
    await waitForText(answer.locator('blockquote').first(), 'teapots');
    await screenshot(page, 'hosted-page');
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('explains a private or unknown bot instead of showing a blank page', async () => {
    const privateBot = await api('/admin/bots', { key, body: { name: 'Internal' } });
    const { page } = await watchedPage(browser);
    await page.goto(`${platform().baseUrl}/b/${privateBot.json.bot.id}`);
    expect(await waitForText(page.getByRole('alert'), 'This bot is not open to the public.')).toBe(
      'This bot is not open to the public.',
    );
    await page.goto(`${platform().baseUrl}/b/bot_doesnotexist0000000000`);
    expect(await waitForText(page.getByRole('alert'), 'This chat is not available here.')).toBe(
      'This chat is not available here.',
    );
    await screenshot(page, 'hosted-page-unknown-bot');
    await page.context().close();
  });
});

describe('widget', () => {
  it('opens on a hostile page, chats, keeps its session across loads, and leaves the page alone', async () => {
    const { page, problems } = await watchedPage(browser, { viewport: { width: 390, height: 800 } });
    await page.goto(`${hostOrigin}/`);
    const launcher = page.getByRole('button', { name: 'Open chat' });
    await launcher.waitFor({ state: 'visible' });
    // Evaluated as text in the page: this file is type-checked without the DOM's types.
    const hostButtonColor = () =>
      page.evaluate<string>("getComputedStyle(document.querySelector('#host-button')).backgroundColor");
    const before = await hostButtonColor();
    await launcher.click();
    const frame = page.frameLocator('iframe[title="Chat"]');
    expect(await waitForText(frame.locator('h1'), 'Museum help')).toBe('Museum help');
    await frame.getByLabel('Your message').fill('When does the shop open?');
    await frame.getByRole('button', { name: 'Send' }).click();
    await waitForText(frame.locator('[data-role="assistant"]').last(), '10:30', 30_000);
    await screenshot(page, 'widget-open-on-hostile-page');

    const session = () =>
      page
        .frames()
        .find((f) => f.url().includes('/b/'))
        ?.evaluate<string | null>(`localStorage.getItem('parley:session:${botId}')`);
    const first = await session();
    expect(first).toMatch(/^ses_/);
    // The host's own button is as the host styled it, and the page's globals are its own.
    expect(await hostButtonColor()).toBe(before);
    expect(
      await page.evaluate('[typeof window.h, Object.keys(window).filter((k) => /parley/i.test(k))]'),
    ).toEqual(['string', []]);

    await page.reload();
    await page.getByRole('button', { name: 'Open chat' }).click();
    expect(await waitForText(page.frameLocator('iframe[title="Chat"]').locator('h1'), 'Museum help')).toBe(
      'Museum help',
    );
    expect(await session()).toBe(first);
    // The host page's own errors (its broken globals) are its business; the widget adds none.
    expect(problems.filter((p) => !p.includes('host page broke'))).toEqual([]);
    await page.context().close();
  });

  it('on a site the bot does not allow, says so', async () => {
    const other = await api('/admin/bots', {
      key,
      body: { name: 'Elsewhere', visibility: 'public', allowedOrigins: ['https://shop.example.com'] },
    });
    const { page } = await watchedPage(browser);
    await page.goto(`${hostOrigin}/?bot=${other.json.bot.id}`);
    await page.getByRole('button', { name: 'Open chat' }).click();
    expect(
      await waitForText(
        page.frameLocator('iframe[title="Chat"]').getByRole('alert'),
        'This chat is not available here.',
      ),
    ).toBe('This chat is not available here.');
    await page.context().close();
  });

  it('tells the visitor about the rate limit, a disabled bot and being offline', async () => {
    const strict = await api('/admin/bots', {
      key,
      body: {
        name: 'Strict',
        visibility: 'public',
        allowedOrigins: [hostOrigin],
        rateLimits: { perMinute: 60, perSecond: 2, perUserPerMinute: 1 },
      },
    });
    const strictId: string = strict.json.bot.id;
    const { page } = await watchedPage(browser);
    await page.goto(`${hostOrigin}/?bot=${strictId}`);
    await page.getByRole('button', { name: 'Open chat' }).click();
    const frame = page.frameLocator('iframe[title="Chat"]');
    const ask = async (text: string) => {
      await frame.getByLabel('Your message').fill(text);
      await frame.getByRole('button', { name: 'Send' }).click();
    };
    // Every message counts for the visitor's address (and, once it has one, their session): the
    // limit of one a minute holds the second.
    await startEarlyInMinute();
    const answers = await frame.locator('[data-role="assistant"] .parley-text').count();
    await ask('First question');
    await waitFor(
      async () => (await frame.locator('[data-role="assistant"] .parley-text').count()) > answers,
    );
    await ask('Second question');
    await waitForText(frame.getByRole('alert').last(), 'Too many messages right now');

    // A bot created disabled.
    const disabled = await api('/admin/bots', {
      key,
      body: { name: 'Off', visibility: 'public', allowedOrigins: [hostOrigin], enabled: false },
    });
    await page.goto(`${hostOrigin}/?bot=${disabled.json.bot.id}`);
    await page.getByRole('button', { name: 'Open chat' }).click();
    expect(
      await waitForText(
        page.frameLocator('iframe[title="Chat"]').getByRole('alert'),
        'This bot is switched off at the moment.',
      ),
    ).toBe('This bot is switched off at the moment.');

    await page.goto(`${platform().baseUrl}/b/${botId}`);
    expect(await waitForText(page.locator('h1'), 'Museum help')).toBe('Museum help');
    await page.context().setOffline(true);
    await page.getByLabel('Your message').fill('Anyone there?');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitForText(page.getByRole('alert').last(), 'offline');
    await screenshot(page, 'hosted-page-offline');
    await page.context().setOffline(false);
    await page.context().close();
  });
});

describe('keyboard and server failures', () => {
  it('opens and closes the widget from the keyboard', async () => {
    const { page } = await watchedPage(browser);
    await page.goto(`${hostOrigin}/`);
    await page.getByRole('button', { name: 'Open chat' }).waitFor();
    // Tab from the page's own button to the launcher, open it with Enter, close it with Escape.
    await page.locator('#host-button').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Close chat' }).waitFor();
    await waitForText(page.frameLocator('iframe[title="Chat"]').locator('h1'), 'Museum help');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Open chat' }).waitFor();
    await page.context().close();
  });

  it('says so plainly when the server fails', async () => {
    const { page } = await watchedPage(browser);
    // API Gateway's answer when a function crashes, for the next chat request.
    await page.route('**/chat/*/stream', (route) =>
      route.fulfill({
        status: 502,
        contentType: 'application/json',
        body: JSON.stringify({
          error: { code: 'internal', message: 'Internal server error', requestId: 'r-1' },
        }),
      }),
    );
    await page.goto(`${hostOrigin}/`);
    await page.getByRole('button', { name: 'Open chat' }).click();
    const frame = page.frameLocator('iframe[title="Chat"]');
    await frame.getByLabel('Your message').fill('Hello?');
    await frame.getByRole('button', { name: 'Send' }).click();
    await waitForText(frame.getByRole('alert').last(), 'Something went wrong on our side');
    await screenshot(page, 'widget-server-error');
    await page.context().close();
  });
});
