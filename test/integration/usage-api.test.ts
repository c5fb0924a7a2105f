// The usage report: the use-case against the platform's DynamoDB Local (real adapters, a test
// clock), and GET /admin/usage over HTTP (the platform's clock: today). Usage is written the way
// the chat pipeline and the embed worker write it, through the same adapters.

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoQuotaStore } from '../../shared/adapters/dynamodb/limits.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createDynamoTurnStore } from '../../shared/adapters/dynamodb/turns.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { BadRequestError, NotFoundError } from '../../shared/domain/errors.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { PlatformEvent } from '../../shared/ports/events.ts';
import { admitMessage, type LimitsDeps } from '../../shared/usecases/limits.ts';
import {
  embeddingUsage,
  getUsage,
  recordTurn,
  type UsageDeps,
  type UsageReadDeps,
} from '../../shared/usecases/usage.ts';
import { api, platform } from '../support/platform.ts';

const DAY = 86_400_000;
const rateLimits = { perSecond: 1000, perMinute: 10_000, perUserPerMinute: 1000 };
const endUsers = [{ kind: 'address', sourceIp: '192.0.2.5' }] as const;
const zeroDay = { messages: 0, inputTokens: 0, outputTokens: 0, embeddingTokens: 0, costUsd: 0 };

let deps: LimitsDeps & UsageDeps & UsageReadDeps;
let clockMs = Date.now();

beforeAll(() => {
  Object.assign(process.env, platform().env);
  const db = createDocumentClient();
  const table = platform().env.USAGE_TABLE ?? '';
  const events: PlatformEvent[] = [];
  const clock: Clock = { now: () => new Date(clockMs) };
  deps = {
    clock,
    repos: createDynamoRepositories(db, platform().env.TENANTS_TABLE ?? ''),
    turns: createDynamoTurnStore(db, { sessions: platform().env.SESSIONS_TABLE ?? '', usage: table }),
    quotas: createDynamoQuotaStore(db, table),
    events: { publish: async (event) => void events.push(event) },
    usage: createDynamoUsageRepository(db, table),
  };
});

async function tenantWithBots(name: string, plan: Record<string, number>, bots: number) {
  const created = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name, plan },
  });
  expect(created.status).toBe(201);
  const key: string = created.json.apiKey;
  const botIds: string[] = [];
  for (let i = 0; i < bots; i++) {
    const bot = await api('/admin/bots', { method: 'POST', key, body: { name: `${name} ${i}` } });
    botIds.push(bot.json.bot.id);
  }
  const stored = created.json.tenant.plan as { monthlyMessages: number; monthlyTokens: number };
  return { key, tenantId: created.json.tenant.id as string, botIds, plan: stored };
}

/** One chat turn as the pipeline records it: admitted, then answered. */
async function turn(
  tenant: { tenantId: string; plan: { monthlyMessages: number; monthlyTokens: number } },
  botId: string,
  tokens: { inputTokens: number; outputTokens: number },
  model = { provider: 'openai', id: 'gpt-4o-mini-2024-07-18' },
) {
  await admitMessage(deps, {
    tenant: { id: tenant.tenantId, plan: tenant.plan },
    bot: { id: botId, rateLimits },
    endUsers,
  });
  await recordTurn(deps, { tenantId: tenant.tenantId, botId, plan: tenant.plan }, { ...tokens, model });
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('getUsage (use-case, DynamoDB Local)', () => {
  it('reports each day of the range per bot and per tenant, zeros included, with exact costs', async () => {
    const tenant = await tenantWithBots(
      'Usage use-case',
      { monthlyMessages: 500, monthlyTokens: 100_000 },
      2,
    );
    const [first = '', second = ''] = tenant.botIds;
    const today = Math.floor(Date.now() / DAY) * DAY + 12 * 3_600_000;
    clockMs = today - 2 * DAY;
    await turn(tenant, first, { inputTokens: 1_000, outputTokens: 100 });
    await turn(tenant, second, { inputTokens: 10, outputTokens: 5 }, { provider: 'local', id: 'extractive' });
    clockMs = today;
    await turn(tenant, first, { inputTokens: 2_000, outputTokens: 300 });
    await deps.usage.add(
      tenant.tenantId,
      second,
      isoDay(today),
      embeddingUsage({ provider: 'bedrock', id: 'amazon.titan-embed-text-v2:0' }, 50_000),
    );

    const range = { from: isoDay(today - 3 * DAY), to: isoDay(today) };
    const all = await getUsage(deps, tenant.tenantId, range);
    // gpt-4o-mini: $0.15 / $0.60 per 1M; Titan v2: $0.02 per 1M.
    const firstDay = (1_000 * 150 + 100 * 600) / 1e9;
    const lastDay = (2_000 * 150 + 300 * 600 + 50_000 * 20) / 1e9;
    expect(all.days).toEqual([
      { date: range.from, ...zeroDay },
      {
        date: isoDay(today - 2 * DAY),
        messages: 2,
        inputTokens: 1_010,
        outputTokens: 105,
        embeddingTokens: 0,
        costUsd: firstDay,
      },
      { date: isoDay(today - DAY), ...zeroDay },
      {
        date: range.to,
        messages: 1,
        inputTokens: 2_000,
        outputTokens: 300,
        embeddingTokens: 50_000,
        costUsd: lastDay,
      },
    ]);
    expect(all.totals).toEqual({
      messages: 3,
      inputTokens: 3_010,
      outputTokens: 405,
      embeddingTokens: 50_000,
      costUsd: (1_000 * 150 + 100 * 600 + 2_000 * 150 + 300 * 600 + 50_000 * 20) / 1e9,
    });
    expect(all.quota).toEqual({
      period: isoDay(today).slice(0, 7),
      // The current month only: the older turns may fall in the previous month.
      messagesUsed: isoDay(today - 2 * DAY).slice(0, 7) === isoDay(today).slice(0, 7) ? 3 : 1,
      messagesLimit: 500,
      tokensUsed: expect.any(Number),
      tokensLimit: 100_000,
      costUsd: expect.any(Number),
      costLimitUsd: null,
    });

    const one = await getUsage(deps, tenant.tenantId, { ...range, botId: second });
    expect(one.totals).toEqual({
      messages: 1,
      inputTokens: 10,
      outputTokens: 5,
      embeddingTokens: 50_000,
      costUsd: (50_000 * 20) / 1e9,
    });
  });

  it("does not find another tenant's bot, and refuses bad ranges", async () => {
    const mine = await tenantWithBots('Usage mine', {}, 1);
    const theirs = await tenantWithBots('Usage theirs', {}, 1);
    await expect(
      getUsage(deps, mine.tenantId, { from: '2026-01-01', to: '2026-01-31', botId: theirs.botIds[0] }),
    ).rejects.toThrow(NotFoundError);
    await expect(getUsage(deps, mine.tenantId, { from: '2026-02-01', to: '2026-01-31' })).rejects.toThrow(
      BadRequestError,
    );
  });
});

describe('GET /admin/usage', () => {
  it('answers the report for today, with the tenant’s quota', async () => {
    const tenant = await tenantWithBots(
      'Usage HTTP',
      { monthlyMessages: 40, monthlyTokens: 9_000, monthlyCostUsd: 2.5 },
      2,
    );
    const [first = '', second = ''] = tenant.botIds;
    clockMs = Date.now();
    await turn(tenant, first, { inputTokens: 400, outputTokens: 100 });
    await turn(tenant, second, { inputTokens: 40, outputTokens: 10 });
    const today = isoDay(clockMs);
    const yesterday = isoDay(clockMs - DAY);

    const response = await api(`/admin/usage?from=${yesterday}&to=${today}`, { key: tenant.key });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      days: [
        { date: yesterday, ...zeroDay },
        {
          date: today,
          messages: 2,
          inputTokens: 440,
          outputTokens: 110,
          embeddingTokens: 0,
          costUsd: (440 * 150 + 110 * 600) / 1e9,
        },
      ],
      totals: {
        messages: 2,
        inputTokens: 440,
        outputTokens: 110,
        embeddingTokens: 0,
        costUsd: (440 * 150 + 110 * 600) / 1e9,
      },
      quota: {
        period: today.slice(0, 7),
        messagesUsed: 2,
        messagesLimit: 40,
        tokensUsed: 550,
        tokensLimit: 9_000,
        costUsd: (440 * 150 + 110 * 600) / 1e9,
        costLimitUsd: 2.5,
      },
    });

    const perBot = await api(`/admin/usage?from=${today}&to=${today}&botId=${second}`, { key: tenant.key });
    expect(perBot.status).toBe(200);
    expect(perBot.json.totals).toMatchObject({ messages: 1, inputTokens: 40, outputTokens: 10 });
  });

  it('forgets a deleted tenant’s usage, and nobody else’s', async () => {
    const gone = await tenantWithBots('Usage deleted', {}, 1);
    const kept = await tenantWithBots('Usage kept', {}, 1);
    clockMs = Date.now();
    for (const tenant of [gone, kept])
      await turn(tenant, tenant.botIds[0] ?? '', { inputTokens: 10, outputTokens: 5 });
    const records = async (tenantId: string) => {
      const page = await createDocumentClient().send(
        new QueryCommand({
          TableName: platform().env.USAGE_TABLE,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `TENANT#${tenantId}` },
          ConsistentRead: true,
        }),
      );
      return page.Items?.length ?? 0;
    };
    // Its bot's day, its own day, and the month.
    expect(await records(gone.tenantId)).toBe(3);

    const deleted = await api(`/admin/tenants/${gone.tenantId}`, {
      method: 'DELETE',
      key: platform().operatorKey,
    });
    expect(deleted.status).toBe(204);
    expect(await records(gone.tenantId)).toBe(0);
    expect(await records(kept.tenantId)).toBe(3);
    const today = isoDay(clockMs);
    expect(
      (await api(`/admin/usage?from=${today}&to=${today}`, { key: kept.key })).json.totals.messages,
    ).toBe(1);
  });

  it('answers 400 with field paths, 404 for another tenant’s bot, 401 without a key', async () => {
    const mine = await tenantWithBots('Usage HTTP mine', {}, 1);
    const theirs = await tenantWithBots('Usage HTTP theirs', {}, 1);

    const reversed = await api('/admin/usage?from=2026-02-01&to=2026-01-01', { key: mine.key });
    expect(reversed.status).toBe(400);
    expect(reversed.json.error).toMatchObject({
      code: 'bad_request',
      details: [{ path: 'query.to', message: 'must not be before from' }],
    });
    const tooLong = await api('/admin/usage?from=2024-01-01&to=2025-01-01', { key: mine.key });
    expect(tooLong.json.error.details).toEqual([
      { path: 'query.to', message: 'the range may cover at most 366 days' },
    ]);
    const malformed = await api('/admin/usage?from=2026-02-30&to=today', { key: mine.key });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.details.map((issue: { path: string }) => issue.path)).toEqual([
      'query.from',
      'query.to',
    ]);
    const missing = await api('/admin/usage', { key: mine.key });
    expect(missing.status).toBe(400);
    expect(missing.json.error.details.map((issue: { path: string }) => issue.path)).toEqual([
      'query.from',
      'query.to',
    ]);

    const foreign = await api(`/admin/usage?from=2026-01-01&to=2026-01-02&botId=${theirs.botIds[0]}`, {
      key: mine.key,
    });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.code).toBe('not_found');

    expect((await api('/admin/usage?from=2026-01-01&to=2026-01-02')).status).toBe(401);
    expect(
      (await api('/admin/usage?from=2026-01-01&to=2026-01-02', { key: platform().operatorKey })).status,
    ).toBe(401);
  });
});
