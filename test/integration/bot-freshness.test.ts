// A turn reads its bot fresh (no per-container cache): an owner who disables a bot, or makes a
// public bot private, stops it on the very next turn, not 30 seconds later.

import { beforeAll, describe, expect, it } from '@jest/globals';
import { api, platform } from '../support/platform.ts';

const ORIGIN = 'https://shop.example.com';
let key: string;
let botId: string;

beforeAll(async () => {
  const tenant = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name: 'Fresh Co' },
  });
  key = tenant.json.apiKey;
  const bot = await api('/admin/bots', {
    method: 'POST',
    key,
    body: {
      name: 'Front desk',
      visibility: 'public',
      allowedOrigins: [ORIGIN],
      rateLimits: { perMinute: 1000, perSecond: 100, perUserPerMinute: 100 },
    },
  });
  botId = bot.json.bot.id;
}, 60_000);

const anonymousTurn = () =>
  api(`/chat/${botId}`, { method: 'POST', headers: { origin: ORIGIN }, body: { message: 'Hello?' } });
const tenantTurn = () => api(`/chat/${botId}`, { method: 'POST', key, body: { message: 'Hello?' } });
const patchBot = async (body: Record<string, unknown>) =>
  expect((await api(`/admin/bots/${botId}`, { method: 'PATCH', key, body })).status).toBe(200);

describe('the very next turn after the owner changes the bot', () => {
  it('is refused once the bot is disabled, and answered once it is enabled again', async () => {
    expect((await tenantTurn()).status).toBe(200);
    await patchBot({ enabled: false });
    const refused = await tenantTurn();
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('bot_disabled');
    await patchBot({ enabled: true });
    expect((await tenantTurn()).status).toBe(200);
  });

  it('refuses anonymous callers once a public bot is made private', async () => {
    expect((await anonymousTurn()).status).toBe(200);
    await patchBot({ visibility: 'private' });
    const refused = await anonymousTurn();
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('unauthorized');
  });
});
