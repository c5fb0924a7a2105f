// Connecting bots to channels over HTTP, on a platform of its own whose Telegram is a local server
// speaking the Bot API: the token checked with getMe, the webhook registered with a secret token,
// credentials sealed at rest and masked in every answer, disconnects and bot deletes removing the
// webhook and the credentials.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { LOCAL_CHANNEL_KEY_FILE } from '../../shared/wiring/channels.ts';
import { telegramRequest, telegramText } from '../support/channels.ts';
import { type ApiOptions, apiAt, documentClientAt, runtimeOf, TEST_OUTPUT_DIR } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';
import {
  DEFAULT_TELEGRAM_TOKEN,
  startTelegramServer,
  type TelegramWireServer,
} from '../support/wire/telegram-server.ts';

const PUBLIC_BASE_URL = 'https://bots.example.com';
const WHATSAPP = {
  phoneNumberId: '106540352242922',
  accessToken: `EAAG${'x'.repeat(40)}Wh4t`,
  appSecret: `${'f'.repeat(28)}a5ec`,
  verifyToken: 'verify-me-please-1234',
};

let telegram: TelegramWireServer;
let started: OwnPlatform;
const logFile = join(TEST_OUTPUT_DIR, 'platform-channels.log');

const call = (path: string, options: ApiOptions = {}) => apiAt(started.baseUrl, path, options);

async function tenantWithBot(name: string) {
  const tenant = await call('/admin/tenants', { key: started.operatorKey, body: { name } });
  const key: string = tenant.json.apiKey;
  const bot = await call('/admin/bots', { key, body: { name: `${name} bot` } });
  return { key, tenantId: tenant.json.tenant.id as string, botId: bot.json.bot.id as string };
}

/** The channel items stored for a bot, read behind the API: under its key, and under the old one. */
async function storedChannels(tenantId: string, botId: string) {
  const runtime = runtimeOf(started.dataDir);
  const db = documentClientAt(started.dataDir);
  const query = async (pk: string, prefix: string) =>
    (
      await db.send(
        new QueryCommand({
          TableName: runtime.env.TENANTS_TABLE,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];
  try {
    return [
      ...(await query(`BOT#${botId}`, 'CHANNEL#')),
      ...(await query(`TENANT#${tenantId}`, `CHANNEL#${botId}#`)),
    ];
  } finally {
    db.destroy();
  }
}

const methods = () => telegram.calls.map((c) => c.method);

beforeAll(async () => {
  telegram = await startTelegramServer();
  started = await spawnOwnPlatform({
    name: 'channels',
    logFile,
    env: { LOG_LEVEL: 'DEBUG', PUBLIC_BASE_URL, TELEGRAM_API_BASE_URL: telegram.url },
  });
}, 120_000);

afterAll(async () => {
  await started?.stop();
  await telegram?.close();
});

beforeEach(() => telegram.reset());

describe('connecting Telegram', () => {
  it('checks the token, registers the webhook with a secret token, and stores the token sealed', async () => {
    const { key, tenantId, botId } = await tenantWithBot('Telegrammed');
    const put = await call(`/admin/bots/${botId}/channels/telegram`, {
      method: 'PUT',
      key,
      body: { botToken: DEFAULT_TELEGRAM_TOKEN },
    });
    expect(put.status).toBe(200);
    const webhookUrl = `${PUBLIC_BASE_URL}/webhooks/telegram/${botId}`;
    expect(put.json.channel).toEqual({
      type: 'telegram',
      status: 'connected',
      webhookUrl,
      lastInboundAt: null,
      lastError: null,
      lastErrorAt: null,
      credentials: { botToken: `••••${DEFAULT_TELEGRAM_TOKEN.slice(-4)}` },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(methods()).toEqual(['getMe', 'setWebhook']);
    const webhook = telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN);
    expect(webhook?.url).toBe(webhookUrl);
    expect(webhook?.secretToken).toMatch(/^[A-Za-z0-9_-]{32,256}$/);

    // At rest: sealed, nothing readable; the local key file is the owner's only.
    const [item] = await storedChannels(tenantId, botId);
    const stored = JSON.stringify(item);
    expect(stored).not.toContain(DEFAULT_TELEGRAM_TOKEN.split(':')[1]);
    expect(stored).not.toContain(webhook?.secretToken);
    expect(item?.sealed).toMatch(/^v1\.local\./);
    expect(statSync(join(started.dataDir, LOCAL_CHANNEL_KEY_FILE)).mode & 0o777).toBe(0o600);

    const got = await call(`/admin/bots/${botId}/channels/telegram`, { key });
    expect(got.json).toEqual(put.json);
    expect((await call(`/admin/bots/${botId}/channels`, { key })).json.items).toEqual([put.json.channel]);
  });

  it('refuses a malformed token without calling Telegram, and a token Telegram refuses', async () => {
    const { key, botId } = await tenantWithBot('Bad tokens');
    const malformed = await call(`/admin/bots/${botId}/channels/telegram`, {
      method: 'PUT',
      key,
      body: { botToken: 'not-a-token' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.details).toEqual([
      { path: 'botToken', message: expect.stringMatching(/BotFather/) },
    ]);
    expect(methods()).toEqual([]);

    const unknown = await call(`/admin/bots/${botId}/channels/telegram`, {
      method: 'PUT',
      key,
      body: { botToken: '987654321:AAUnknownTokenUnknownToken_xyz' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.details).toEqual([{ path: 'botToken', message: expect.any(String) }]);
    expect(methods()).toEqual(['getMe']);
    expect((await call(`/admin/bots/${botId}/channels/telegram`, { key })).status).toBe(404);
  });

  it('disconnecting deletes the webhook and the credentials; deleting the bot does too', async () => {
    const { key, tenantId, botId } = await tenantWithBot('Disconnected');
    const connect = () =>
      call(`/admin/bots/${botId}/channels/telegram`, {
        method: 'PUT',
        key,
        body: { botToken: DEFAULT_TELEGRAM_TOKEN },
      });
    expect((await connect()).status).toBe(200);
    expect((await call(`/admin/bots/${botId}/channels/telegram`, { method: 'DELETE', key })).status).toBe(
      204,
    );
    expect(methods()).toEqual(['getMe', 'setWebhook', 'deleteWebhook']);
    expect(telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)).toBeUndefined();
    expect((await call(`/admin/bots/${botId}/channels/telegram`, { key })).status).toBe(404);
    expect((await call(`/admin/bots/${botId}/channels/telegram`, { method: 'DELETE', key })).status).toBe(
      404,
    );
    expect(await storedChannels(tenantId, botId)).toEqual([]);

    expect((await connect()).status).toBe(200);
    telegram.reset();
    expect((await call(`/admin/bots/${botId}`, { method: 'DELETE', key })).status).toBe(204);
    expect(methods()).toEqual(['deleteWebhook']);
    expect(await storedChannels(tenantId, botId)).toEqual([]);
  });
});

describe('connecting Meta channels', () => {
  it('keeps ids readable and masks every secret; each field is checked', async () => {
    const { key, botId } = await tenantWithBot('WhatsApped');
    const put = await call(`/admin/bots/${botId}/channels/whatsapp`, { method: 'PUT', key, body: WHATSAPP });
    expect(put.status).toBe(200);
    expect(put.json.channel.credentials).toEqual({
      phoneNumberId: WHATSAPP.phoneNumberId,
      accessToken: '••••Wh4t',
      appSecret: '••••a5ec',
      verifyToken: '••••1234',
    });
    expect(put.json.channel.webhookUrl).toBe(`${PUBLIC_BASE_URL}/webhooks/whatsapp/${botId}`);
    expect(methods()).toEqual([]);

    const bad = await call(`/admin/bots/${botId}/channels/messenger`, {
      method: 'PUT',
      key,
      body: { pageId: 'page-one', pageAccessToken: '', extra: 1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      '',
      'appSecret',
      'pageAccessToken',
      'pageId',
      'verifyToken',
    ]);
  });

  it("answers 404 for another tenant's bot and for a channel that does not exist", async () => {
    const mine = await tenantWithBot('Mine');
    const theirs = await tenantWithBot('Theirs');
    expect(
      (
        await call(`/admin/bots/${mine.botId}/channels/whatsapp`, {
          method: 'PUT',
          key: mine.key,
          body: WHATSAPP,
        })
      ).status,
    ).toBe(200);
    for (const method of ['GET', 'DELETE']) {
      expect(
        (await call(`/admin/bots/${mine.botId}/channels/whatsapp`, { method, key: theirs.key })).status,
      ).toBe(404);
    }
    const foreignPut = await call(`/admin/bots/${mine.botId}/channels/whatsapp`, {
      method: 'PUT',
      key: theirs.key,
      body: WHATSAPP,
    });
    expect(foreignPut.status).toBe(404);
    expect((await call(`/admin/bots/${mine.botId}/channels/sms`, { key: mine.key })).status).toBe(404);
    expect((await call(`/admin/bots/${mine.botId}/channels/whatsapp`, { key: mine.key })).status).toBe(200);
  });
});

describe('connections stored under the old key (in the tenant’s partition)', () => {
  /** Moves the bot's connection records back to where they were stored before they were keyed by bot. */
  async function storeUnderOldKey(tenantId: string, botId: string) {
    const runtime = runtimeOf(started.dataDir);
    const db = documentClientAt(started.dataDir);
    try {
      for (const { pk, sk, ...connection } of await storedChannels(tenantId, botId)) {
        expect(pk).toBe(`BOT#${botId}`);
        const type = String(sk).slice('CHANNEL#'.length);
        const Item = { pk: `TENANT#${tenantId}`, sk: `CHANNEL#${botId}#${type}`, ...connection };
        await db.send(new PutCommand({ TableName: runtime.env.TENANTS_TABLE, Item }));
        await db.send(new DeleteCommand({ TableName: runtime.env.TENANTS_TABLE, Key: { pk, sk } }));
      }
    } finally {
      db.destroy();
    }
  }
  const keysOf = async (tenantId: string, botId: string) =>
    (await storedChannels(tenantId, botId)).map(({ pk, sk }) => `${pk} ${sk}`);

  it('still take deliveries, and move to the bot’s key on the first reply', async () => {
    const { key, tenantId, botId } = await tenantWithBot('Stored before');
    const connected = await call(`/admin/bots/${botId}/channels/telegram`, {
      method: 'PUT',
      key,
      body: { botToken: DEFAULT_TELEGRAM_TOKEN },
    });
    expect(connected.status).toBe(200);
    const secret = telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)?.secretToken ?? '';
    await storeUnderOldKey(tenantId, botId);
    expect(await keysOf(tenantId, botId)).toEqual([`TENANT#${tenantId} CHANNEL#${botId}#telegram`]);

    const delivery = telegramRequest(
      telegramText({ updateId: 81_001, chatId: 8100, text: 'Hello?' }),
      secret,
    );
    const res = await call(`/webhooks/telegram/${botId}`, {
      method: 'POST',
      rawBody: delivery.body,
      headers: delivery.headers,
    });
    expect([res.status, res.json]).toEqual([200, { queued: 1, foreign: 0 }]);
    // A forgery still fails against the old record's secret.
    const forged = telegramRequest(JSON.parse(delivery.body), 'not-the-secret-token');
    const refused = await call(`/webhooks/telegram/${botId}`, {
      method: 'POST',
      rawBody: forged.body,
      headers: forged.headers,
    });
    expect(refused.status).toBe(401);
    await waitFor(() => telegram.sent.some((m) => m.to === '8100'), {
      timeoutMs: 60_000,
      what: 'the reply to the message',
    });
    expect(telegram.sent.filter((m) => m.to === '8100')).toHaveLength(1);
    expect(await keysOf(tenantId, botId)).toEqual([`BOT#${botId} CHANNEL#telegram`]);
    const view = await call(`/admin/bots/${botId}/channels/telegram`, { key });
    expect(view.json.channel).toMatchObject({ status: 'connected', lastInboundAt: expect.any(String) });

    expect((await call(`/admin/bots/${botId}`, { method: 'DELETE', key })).status).toBe(204);
    expect(await storedChannels(tenantId, botId)).toEqual([]);
  }, 90_000);

  it('are listed, shown only to their tenant, and go with the tenant', async () => {
    const { key, tenantId, botId } = await tenantWithBot('Listed before');
    const theirs = await tenantWithBot('Not theirs');
    const put = await call(`/admin/bots/${botId}/channels/whatsapp`, { method: 'PUT', key, body: WHATSAPP });
    expect(put.status).toBe(200);
    await storeUnderOldKey(tenantId, botId);
    expect((await call(`/admin/bots/${botId}/channels/whatsapp`, { key: theirs.key })).status).toBe(404);
    expect((await call(`/admin/bots/${botId}/channels`, { key })).json.items).toEqual([put.json.channel]);
    expect(await keysOf(tenantId, botId)).toEqual([`BOT#${botId} CHANNEL#whatsapp`]);
    // Deleting the tenant reaches a record still under the old key too.
    await storeUnderOldKey(tenantId, botId);
    const deleted = await call(`/admin/tenants/${tenantId}`, { method: 'DELETE', key: started.operatorKey });
    expect(deleted.status).toBe(204);
    expect(await storedChannels(tenantId, botId)).toEqual([]);
  });
});

describe('secrets', () => {
  it('never reach the platform log', () => {
    const log = readFileSync(logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    for (const secret of [
      DEFAULT_TELEGRAM_TOKEN,
      WHATSAPP.accessToken,
      WHATSAPP.appSecret,
      WHATSAPP.verifyToken,
    ]) {
      expect(log).not.toContain(secret);
    }
  });
});
