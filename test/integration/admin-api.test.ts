import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { routes } from '../../shared/resources.ts';
import { api, platform } from '../support/platform.ts';

// The admin API over HTTP against the local platform (started once by jest's global setup).

const operator = () => platform().operatorKey;
/** Every secret the tests see; the log scan at the end looks for each of them. */
const planted = new Set<string>();

async function newTenant(name: string) {
  const res = await api('/admin/tenants', { method: 'POST', key: operator(), body: { name } });
  expect(res.status).toBe(201);
  planted.add(res.json.apiKey);
  return { tenant: res.json.tenant, key: res.json.apiKey as string };
}

const FULL_BOT = {
  name: 'Support bot',
  description: 'Answers questions about the product',
  persona: 'Warm, concise, never sarcastic.',
  systemPrompt: 'You answer only from the documents.',
  greeting: 'Hello! Ask me anything.',
  fallbackMessage: 'We are having trouble, try again soon.',
  unsupportedMessage: 'Text only, please.',
  model: { provider: 'openai', id: 'gpt-4o-mini' },
  temperature: 0.7,
  maxTokens: 512,
  retrieval: { topK: 8, minScore: 0.4 },
  chunking: { size: 800, overlap: 100 },
  historyTurns: 15,
  sessionTtlSeconds: 86_400,
  rateLimits: { perMinute: 120, perSecond: 4, perUserPerMinute: 10 },
  visibility: 'public',
  allowedOrigins: ['https://shop.example.com', 'http://localhost:8080'],
  branding: {
    title: 'Ask us',
    color: '#ff6600',
    position: 'bottom-left',
    logoUrl: 'https://cdn.example.com/logo.png',
  },
  enabled: false,
};

describe('tenant → key → bot lifecycle', () => {
  it('creates a tenant with its plan and a first key shown once', async () => {
    const res = await api('/admin/tenants', {
      method: 'POST',
      key: operator(),
      body: { name: 'Acme', plan: { monthlyMessages: 500 } },
    });
    expect(res.status).toBe(201);
    planted.add(res.json.apiKey);
    expect(res.json.apiKey).toMatch(/^pk_[0-9A-Za-z]{16}_[0-9A-Za-z]{43}$/);
    expect(res.json.tenant).toMatchObject({
      name: 'Acme',
      plan: {
        monthlyMessages: 500,
        monthlyTokens: 5_000_000,
        maxUploadBytes: 16 * 1024 * 1024,
        maxDocuments: 500,
      },
    });
    const tenantId = res.json.tenant.id;

    const got = await api(`/admin/tenants/${tenantId}`, { key: operator() });
    expect(got.json.tenant).toEqual(res.json.tenant);
    expect(got.text).not.toContain(res.json.apiKey);

    const patched = await api(`/admin/tenants/${tenantId}`, {
      method: 'PATCH',
      key: operator(),
      body: { plan: { maxDocuments: 20 } },
    });
    expect(patched.json.tenant.plan).toMatchObject({ monthlyMessages: 500, maxDocuments: 20 });

    const listed = await api('/admin/tenants?limit=100', { key: operator() });
    expect(listed.json.items.map((t: { id: string }) => t.id)).toContain(tenantId);
  });

  it('round-trips every bot field, patches in part, paginates and deletes', async () => {
    const { key } = await newTenant('Bots Inc');
    const created = await api('/admin/bots', { method: 'POST', key, body: FULL_BOT });
    expect(created.status).toBe(201);
    const bot = created.json.bot;
    expect(bot).toMatchObject(FULL_BOT);
    expect(bot.id).toMatch(/^bot_/);

    const got = await api(`/admin/bots/${bot.id}`, { key });
    expect(got.status).toBe(200);
    expect(got.json.bot).toEqual(bot);

    const patched = await api(`/admin/bots/${bot.id}`, {
      method: 'PATCH',
      key,
      body: { retrieval: { topK: 3 }, branding: { color: '#000000' }, enabled: true },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.bot).toMatchObject({
      retrieval: { topK: 3, minScore: 0.4 },
      branding: { ...FULL_BOT.branding, color: '#000000' },
      enabled: true,
      persona: FULL_BOT.persona,
    });
    expect(patched.json.bot.updatedAt > bot.updatedAt).toBe(true);

    const defaults = await api('/admin/bots', { method: 'POST', key, body: { name: 'Minimal' } });
    expect(defaults.json.bot).toMatchObject({
      model: { provider: 'local' },
      retrieval: { topK: 5, minScore: 0.25 },
    });
    await api('/admin/bots', { method: 'POST', key, body: { name: 'Third' } });

    const first = await api('/admin/bots?limit=2', { key });
    expect(first.json.items).toHaveLength(2);
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const second = await api(`/admin/bots?limit=2&cursor=${first.json.nextCursor}`, { key });
    const ids = [...first.json.items, ...second.json.items].map((b: { id: string }) => b.id);
    expect(new Set(ids).size).toBe(3);

    expect((await api(`/admin/bots/${bot.id}`, { method: 'DELETE', key })).status).toBe(204);
    expect((await api(`/admin/bots/${bot.id}`, { key })).status).toBe(404);
    expect((await api(`/admin/bots/${bot.id}`, { method: 'DELETE', key })).status).toBe(404);
  });

  it('creates, lists masked and revokes keys, effective on the next request', async () => {
    const { key } = await newTenant('Keys Ltd');
    const second = await api('/admin/keys', { method: 'POST', key, body: { name: 'ci' } });
    expect(second.status).toBe(201);
    planted.add(second.json.apiKey);
    const secondKey: string = second.json.apiKey;

    const listed = await api('/admin/keys', { key: secondKey });
    expect(listed.json.items).toHaveLength(2);
    for (const item of listed.json.items) {
      expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'prefix']);
    }
    expect(listed.text).not.toContain(secondKey);
    expect(listed.text).not.toContain(key);
    const firstListed = listed.json.items.find((k: { name: string }) => k.name === 'first key');
    expect(firstListed.lastUsedAt).toEqual(expect.any(String));

    expect((await api(`/admin/keys/${second.json.key.id}`, { method: 'DELETE', key })).status).toBe(204);
    const revoked = await api('/admin/bots', { key: secondKey });
    expect(revoked.status).toBe(401);
    expect(revoked.json.error.code).toBe('unauthorized');
    expect((await api('/admin/bots', { key })).status).toBe(200);
  });

  it('deleting a tenant removes its keys and bots', async () => {
    const { tenant, key } = await newTenant('Gone Soon');
    const bot = (await api('/admin/bots', { method: 'POST', key, body: { name: 'B' } })).json.bot;
    expect((await api(`/admin/tenants/${tenant.id}`, { method: 'DELETE', key: operator() })).status).toBe(
      204,
    );
    expect((await api(`/admin/bots/${bot.id}`, { key })).status).toBe(401);
    expect((await api(`/admin/tenants/${tenant.id}`, { key: operator() })).status).toBe(404);
    // A tenant recreated later can't see anything of the old one.
    const other = await newTenant('After');
    expect((await api(`/admin/bots/${bot.id}`, { key: other.key })).status).toBe(404);
  });
});

describe('errors', () => {
  it('401 without a key, with a wrong key, and with the wrong kind of key', async () => {
    const { key } = await newTenant('Auth');
    const cases = [
      await api('/admin/bots', {}),
      await api('/admin/bots', { key: 'pk_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' }),
      await api('/admin/bots', { key: `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}` }),
      await api('/admin/bots', { key: operator() }),
      await api('/admin/tenants', { key }),
      await api('/admin/tenants', { headers: { authorization: `Basic ${operator()}` } }),
    ];
    for (const res of cases) {
      expect(res.status).toBe(401);
      expect(res.json.error).toMatchObject({ code: 'unauthorized', requestId: expect.any(String) });
    }
  });

  it('400 with field paths for invalid bodies, malformed JSON and bad cursors', async () => {
    const { key } = await newTenant('Validation');
    const invalid = await api('/admin/bots', {
      method: 'POST',
      key,
      body: { name: 'x', temperature: 'hot', retrieval: { topK: 0 }, branding: { color: 'red' } },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.code).toBe('bad_request');
    expect(invalid.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'branding.color',
      'retrieval.topK',
      'temperature',
    ]);

    const malformed = await api('/admin/bots', {
      method: 'POST',
      key,
      rawBody: '{"name": "x",',
      headers: { 'content-type': 'application/json' },
    });
    expect([malformed.status, malformed.json.error.code]).toEqual([400, 'bad_request']);

    const notJson = await api('/admin/bots', {
      method: 'POST',
      key,
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect([notJson.status, notJson.json.error.code]).toEqual([415, 'unsupported_media_type']);

    const badLimit = await api('/admin/bots?limit=1000', { key });
    expect(badLimit.json.error.details[0].path).toBe('query.limit');
    const badCursor = await api('/admin/bots?cursor=abc', { key });
    expect([badCursor.status, badCursor.json.error.details[0].path]).toEqual([400, 'cursor']);
  });

  // Audit finding: any Bedrock model id or ARN was accepted (and its usage recorded at cost 0).
  it('refuses a model the deployment does not offer, naming the ones it does', async () => {
    const { key } = await newTenant('Models');
    for (const id of [
      'anthropic.claude-instant-v1',
      'arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc',
      'amazon.titan-embed-text-v2:0',
    ]) {
      const refused = await api('/admin/bots', {
        method: 'POST',
        key,
        body: { name: 'Unoffered', model: { provider: 'bedrock', id } },
      });
      expect([refused.status, refused.json.error.code, refused.json.error.details[0].path]).toEqual([
        400,
        'bad_request',
        'model.id',
      ]);
      expect(refused.json.error.details[0].message).toContain('bedrock:anthropic.claude-3-5-haiku');
    }
    const offered = await api('/admin/bots', {
      method: 'POST',
      key,
      body: { name: 'Offered', model: { provider: 'bedrock', id: 'us.amazon.nova-lite-v1:0' } },
    });
    expect(offered.status).toBe(201);
    const patched = await api(`/admin/bots/${offered.json.bot.id}`, {
      method: 'PATCH',
      key,
      body: { model: { provider: 'openai', id: 'gpt-3.5-turbo' } },
    });
    expect([patched.status, patched.json.error.details[0].path]).toEqual([400, 'model.id']);
  });

  it('413 for oversized bodies, 404 for unknown routes and ids', async () => {
    const { key } = await newTenant('Sizes');
    const big = await api('/admin/bots', {
      method: 'POST',
      key,
      body: { name: 'x', persona: 'y'.repeat(300_000) },
    });
    expect([big.status, big.json.error.code]).toEqual([413, 'payload_too_large']);
    const huge = await api('/admin/bots', {
      method: 'POST',
      key,
      rawBody: 'z'.repeat(11 * 1024 * 1024),
      headers: { 'content-type': 'application/json' },
    });
    expect([huge.status, huge.json.error.code]).toEqual([413, 'payload_too_large']);

    for (const res of [
      await api('/nope', {}),
      await api('/admin/bots', { method: 'PUT', key }),
      await api('/admin/bots/bot_doesnotexist00000000000', { key }),
      await api('/admin/keys/AAAAAAAAAAAAAAAA', { method: 'DELETE', key }),
      await api('/admin/tenants/tnt_unknown', { key: operator() }),
    ]) {
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('not_found');
    }
  });
});

describe('tenant isolation', () => {
  it("answers 404 and reveals nothing on every tenant route with another tenant's ids", async () => {
    const a = await newTenant('Tenant A');
    const b = await newTenant('Tenant B');
    const aBot = (await api('/admin/bots', { method: 'POST', key: a.key, body: FULL_BOT })).json.bot;
    const aKey = (await api('/admin/keys', { method: 'POST', key: a.key, body: { name: 'a-second' } })).json;
    planted.add(aKey.apiKey);
    const aIds: Record<string, string> = {
      botId: aBot.id,
      keyId: aKey.key.id,
      tenantId: a.tenant.id,
      channel: 'whatsapp',
    };

    const tenantRoutes = routes.filter((r) => r.auth === 'tenant');
    expect(tenantRoutes.length).toBeGreaterThan(5);
    for (const route of tenantRoutes) {
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => aIds[name] ?? 'x');
      // A valid body for each route, so what answers is the ownership check, not validation.
      const bodies: Record<string, unknown> = {
        'PATCH /admin/bots/{botId}': { name: 'Intruder', description: 'x' },
        'POST /admin/bots': { name: 'Intruder' },
        'POST /admin/keys': { name: 'intruder' },
        'POST /admin/bots/{botId}/documents': { filename: 'x.txt', contentType: 'text/plain', size: 10 },
        'POST /admin/bots/{botId}/search': { query: 'teapot' },
        'POST /admin/bots/{botId}/test-questions': { question: 'teapot?', expectedDocumentId: 'doc_x' },
        'PUT /admin/bots/{botId}/test-questions/{questionId}': {
          question: 'teapot?',
          expectedDocumentId: 'doc_x',
        },
        'PUT /admin/bots/{botId}/channels/{channel}': {
          phoneNumberId: '1065403522',
          accessToken: 'EAAG-intruder-token',
          appSecret: 'intruder-app-secret',
          verifyToken: 'intruder-verify',
        },
      };
      const body = bodies[`${route.method} ${route.path}`];
      const res = await api(path, { method: route.method, key: b.key, body });
      const seen = res.text;
      for (const secret of [aBot.id, aKey.key.id, a.tenant.id, FULL_BOT.persona, aKey.apiKey]) {
        expect(seen).not.toContain(secret);
      }
      if (route.path.includes('{')) expect([route.path, res.status]).toEqual([route.path, 404]);
    }
    // Tenant A's things are untouched.
    expect((await api(`/admin/bots/${aBot.id}`, { key: a.key })).json.bot).toMatchObject(FULL_BOT);
    expect((await api('/admin/bots', { key: a.key, method: 'GET' })).status).toBe(200);
    expect((await api('/admin/bots', { key: aKey.apiKey })).status).toBe(200);

    // A cursor taken from A's list is refused in B's.
    await api('/admin/bots', { method: 'POST', key: a.key, body: { name: 'A2' } });
    const aPage = await api('/admin/bots?limit=1', { key: a.key });
    const stolen = await api(`/admin/bots?limit=1&cursor=${aPage.json.nextCursor}`, { key: b.key });
    expect(stolen.status).toBe(400);
    expect(stolen.text).not.toContain(aBot.id);
  });
});

describe('health and contract', () => {
  it('reports healthy with its checks', async () => {
    const res = await api('/health', {});
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: 'ok',
      checks: { dynamodb: { ok: true, latencyMs: expect.any(Number) } },
    });
  });

  it('publishes the OpenAPI document', async () => {
    const res = await api('/openapi.json', {});
    expect(res.json.openapi).toBe('3.0.3');
    expect(Object.keys(res.json.paths)).toEqual(
      expect.arrayContaining(['/admin/bots/{botId}', '/admin/tenants']),
    );
  });
});

describe('logs', () => {
  it('never contain an API key, and the operator key only in the startup banner', () => {
    expect(planted.size).toBeGreaterThan(5);
    const log = readFileSync(platform().logFile, 'utf8');
    const functionLines = log.split('\n').filter((line) => line.startsWith('{'));
    expect(functionLines.length).toBeGreaterThan(20);
    for (const key of planted) expect(log).not.toContain(key.slice(20));
    for (const line of functionLines) expect(line).not.toContain(operator());
    expect(functionLines.some((line) => line.includes('"tenantId"'))).toBe(true);
  });
});
