// The web app as the local platform serves it (the console, the hosted chat page, the widget, the
// pages' config), and who may chat from Parley's own pages: the hosted page always, for a public
// bot; the widget's frame only for a site the bot allows.

import { describe, expect, it } from '@jest/globals';
import { api, platform } from '../support/platform.ts';

async function operatorTenant(name: string) {
  const tenant = await api('/admin/tenants', { key: platform().operatorKey, body: { name } });
  return tenant.json.apiKey as string;
}

describe('pages', () => {
  it('serves the console, a bot’s chat page, the widget and the config, each with its headers', async () => {
    const console = await api('/');
    expect(console.status).toBe(200);
    expect(console.headers['content-type']).toMatch(/^text\/html/);
    expect(console.text).toContain('/assets/console.js');
    expect(console.headers['content-security-policy']).toContain("frame-ancestors 'none'");

    const hosted = await api('/b/bot_Abc123');
    expect(hosted.status).toBe(200);
    expect(hosted.text).toContain('/assets/hosted.js');
    // The widget frames this page on other sites.
    expect(hosted.headers['content-security-policy']).not.toContain('frame-ancestors');

    const widget = await api('/widget.js');
    expect(widget.headers['content-type']).toMatch(/^text\/javascript/);
    expect(widget.text).toContain('data-bot-id');
    for (const asset of [
      '/assets/console.js',
      '/assets/console.css',
      '/assets/hosted.js',
      '/assets/hosted.css',
    ]) {
      expect([asset, (await api(asset)).status]).toEqual([asset, 200]);
    }
    expect((await api('/config.json')).json).toEqual({ apiBaseUrl: '' });
  });

  it('answers 404 with the error envelope for what is neither a page nor a route', async () => {
    for (const path of ['/assets/nothing.js', '/b/', '/b/a/b', '/console']) {
      const res = await api(path);
      expect([path, res.status, res.json?.error?.code]).toEqual([path, 404, 'not_found']);
    }
  });
});

describe('chatting from Parley’s own pages', () => {
  it('allows the hosted page for a public bot, and the widget only on an allowed site', async () => {
    const key = await operatorTenant('Pages');
    const bot = await api('/admin/bots', {
      key,
      body: { name: 'Open', visibility: 'public', allowedOrigins: ['https://shop.example.com'] },
    });
    const botId: string = bot.json.bot.id;
    const own = new URL(platform().baseUrl).origin;
    const ask = (headers: Record<string, string>) =>
      api(`/chat/${botId}`, { body: { message: 'Hello' }, headers: { origin: own, ...headers } });

    const hosted = await ask({});
    expect(hosted.status).toBe(200);
    expect(hosted.headers['access-control-allow-origin']).toBe(own);
    expect((await ask({ 'x-parley-embedder': 'https://shop.example.com' })).status).toBe(200);
    expect((await ask({ 'x-parley-embedder': 'https://evil.example' })).status).toBe(404);

    const preflight = await api(`/chat/${botId}/stream`, { method: 'OPTIONS', headers: { origin: own } });
    expect(preflight.headers['access-control-allow-headers']).toContain('x-parley-embedder');

    // Another site claiming to be the pages gets nothing: its Origin is its own.
    expect((await ask({ origin: 'https://evil.example' })).status).toBe(404);
    // A private bot is not open to the pages either.
    const privateBot = await api('/admin/bots', { key, body: { name: 'Closed' } });
    const closed = await api(`/chat/${privateBot.json.bot.id}`, {
      body: { message: 'Hello' },
      headers: { origin: own },
    });
    expect(closed.status).toBe(401);
  });

  it('does not take a forwarded host from a caller that is not CloudFront (audit 12)', async () => {
    const key = await operatorTenant('Forwarded');
    const bot = await api('/admin/bots', { key, body: { name: 'Open', visibility: 'public' } });
    // Without the origin secret, a site naming itself as the forwarded host is not the pages.
    const spoofed = await api(`/chat/${bot.json.bot.id}`, {
      body: { message: 'Hello' },
      headers: {
        origin: 'https://evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
      },
    });
    expect([spoofed.status, spoofed.json?.error?.code]).toEqual([404, 'not_found']);
    expect(spoofed.headers['access-control-allow-origin']).toBeUndefined();
  });
});
