// The limit and usage use-cases over small in-memory ports (the DynamoDB adapters are exercised
// against DynamoDB Local in test/integration/limits.test.ts).

import { describe, expect, it } from '@jest/globals';
import { createLogEventPublisher } from '../../shared/adapters/events/log.ts';
import type { Bot } from '../../shared/domain/bot.ts';
import {
  BadRequestError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
} from '../../shared/domain/errors.ts';
import type { RateWindowKind } from '../../shared/domain/limits.ts';
import type { Tenant } from '../../shared/domain/tenant.ts';
import { maskSecrets } from '../../shared/logging.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { PlatformEvent } from '../../shared/ports/events.ts';
import type { QuotaLimits, QuotaStore, TurnStore } from '../../shared/ports/limits.ts';
import type { Repositories } from '../../shared/ports/repositories.ts';
import type { DayCounters, PeriodUsage, UsageRepository } from '../../shared/ports/usage.ts';
import { admitMessage, type LimitsDeps } from '../../shared/usecases/limits.ts';
import { createTurnGuard, PLAN_CACHE_MS } from '../../shared/usecases/turn-guard.ts';
import { getUsage, recordTurn, type UsageDeps } from '../../shared/usecases/usage.ts';

function fakeClock(iso: string): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return { now: () => now, set: (next) => (now = new Date(next)) };
}

const emptyPeriod = (period: string): PeriodUsage => ({
  period,
  messages: 0,
  tokens: 0,
  held: 0,
  costNanoUsd: 0,
  heldCostNanoUsd: 0,
});

interface MemoryQuotas extends QuotaStore {
  periods: Map<string, PeriodUsage>;
  reserve(
    tenantId: string,
    period: string,
    limits: QuotaLimits,
    holdTokens: number,
    holdCostNanoUsd: number,
  ): { admitted: true; usage: PeriodUsage } | { admitted: false; exhausted: 'messages' | 'tokens' | 'cost' };
}

function memoryQuotas(): MemoryQuotas {
  const periods = new Map<string, PeriodUsage>();
  const get = (tenantId: string, period: string) => {
    const key = `${tenantId}/${period}`;
    const usage = periods.get(key) ?? emptyPeriod(period);
    periods.set(key, usage);
    return usage;
  };
  return {
    periods,
    reserve(tenantId, period, limits, holdTokens, holdCostNanoUsd) {
      const usage = get(tenantId, period);
      if (usage.messages >= limits.messages) return { admitted: false, exhausted: 'messages' };
      if (usage.held + Math.max(holdTokens, 1) > limits.tokens)
        return { admitted: false, exhausted: 'tokens' };
      if (
        limits.costNanoUsd !== undefined &&
        usage.heldCostNanoUsd + Math.max(holdCostNanoUsd, 1) > limits.costNanoUsd
      )
        return { admitted: false, exhausted: 'cost' };
      usage.messages++;
      usage.held += holdTokens;
      usage.heldCostNanoUsd += holdCostNanoUsd;
      return { admitted: true, usage: { ...usage } };
    },
    async markWarned(tenantId, period, at) {
      const usage = get(tenantId, period);
      if (usage.warnedAt) return false;
      usage.warnedAt = at;
      return true;
    },
    async unmarkWarned(tenantId, period, at) {
      const usage = get(tenantId, period);
      if (usage.warnedAt === at) delete usage.warnedAt;
    },
  };
}

function memoryUsage(
  quotas: ReturnType<typeof memoryQuotas>,
): UsageRepository & { rows: Map<string, DayCounters> } {
  const rows = new Map<string, DayCounters>();
  const zero = (): DayCounters => ({
    messages: 0,
    inputTokens: 0,
    outputTokens: 0,
    embeddingTokens: 0,
    costNanoUsd: 0,
  });
  return {
    rows,
    async add(tenantId, botId, day, counters, heldTokens = 0, heldCostNanoUsd = 0) {
      for (const key of [`${tenantId}/${day}/${botId}`, `${tenantId}/${day}/ALL`]) {
        const row = rows.get(key) ?? zero();
        for (const [name, value] of Object.entries(counters)) row[name as keyof DayCounters] += value ?? 0;
        rows.set(key, row);
      }
      const tokens =
        (counters.inputTokens ?? 0) + (counters.outputTokens ?? 0) + (counters.embeddingTokens ?? 0);
      const cost = counters.costNanoUsd ?? 0;
      if (!tokens && !heldTokens && !cost && !heldCostNanoUsd) return undefined;
      const period = day.slice(0, 7);
      const key = `${tenantId}/${period}`;
      const usage = quotas.periods.get(key) ?? emptyPeriod(period);
      usage.tokens += tokens;
      usage.held += tokens - heldTokens;
      usage.costNanoUsd += cost;
      usage.heldCostNanoUsd += cost - heldCostNanoUsd;
      quotas.periods.set(key, usage);
      return { ...usage };
    },
    async days(tenantId, { from, to, botId }) {
      const result = new Map<string, DayCounters>();
      for (const [key, row] of rows) {
        const [tenant, day = '', scope] = key.split('/');
        if (tenant === tenantId && day >= from && day <= to && scope === (botId ?? 'ALL'))
          result.set(day, row);
      }
      return result;
    },
    async period(tenantId, period) {
      return {
        ...(quotas.periods.get(`${tenantId}/${period}`) ?? emptyPeriod(period)),
      };
    },
    async deleteTenant(tenantId) {
      const mine = [...rows.keys()].filter((key) => key.startsWith(`${tenantId}/`));
      for (const key of mine) rows.delete(key);
      return mine.length;
    },
  };
}

type RateDecision =
  | { admitted: true }
  | { admitted: false; window: RateWindowKind; retryAfterSeconds: number };

/** The turn store: the rate windows answer `decision`; the quota and usage are the memory ones. */
function memoryTurns(
  decision: RateDecision,
  quotas: MemoryQuotas,
  usage: UsageRepository,
  rateCalls: unknown[],
): TurnStore {
  return {
    async admit(request) {
      rateCalls.push(request);
      if (!decision.admitted) return { ...decision, refusedBy: 'rate' };
      const { period, limits, holdTokens, holdCostNanoUsd } = request.quota;
      const reserved = quotas.reserve(request.tenantId, period, limits, holdTokens, holdCostNanoUsd);
      return reserved.admitted
        ? { admitted: true, usage: reserved.usage }
        : { admitted: false, refusedBy: 'quota', exhausted: reserved.exhausted };
    },
    async record(turn) {
      const { tenantId, botId, day, counters, heldTokens, heldCostNanoUsd } = turn;
      const after = await usage.add(tenantId, botId, day, counters, heldTokens, heldCostNanoUsd);
      return after ? { usage: after } : {};
    },
  };
}

const tenant = { id: 'tnt_1', plan: { monthlyMessages: 10, monthlyTokens: 1000 } };
const bot = { id: 'bot_1', rateLimits: { perSecond: 2, perMinute: 60, perUserPerMinute: 5 } };
const endUsers = [
  { kind: 'address', sourceIp: '192.0.2.1' },
  { kind: 'session', sessionId: 'ses_1' },
] as const;

function setup(decision: RateDecision = { admitted: true }) {
  const events: PlatformEvent[] = [];
  const quotas = memoryQuotas();
  const rateCalls: unknown[] = [];
  const usage = memoryUsage(quotas);
  const deps: LimitsDeps & UsageDeps & { usage: typeof usage } = {
    clock: fakeClock('2026-05-20T10:00:00Z'),
    turns: memoryTurns(decision, quotas, usage, rateCalls),
    quotas,
    events: { publish: async (event) => void events.push(event) },
    usage,
  };
  return { deps, events, quotas, rateCalls };
}

describe('admitMessage', () => {
  it('checks the rate limits with a hashed end-user key, then reserves a message', async () => {
    const { deps, rateCalls, quotas } = setup();
    const admission = await admitMessage(deps, { tenant, bot, endUsers });
    expect(admission).toEqual({ period: '2026-05', heldTokens: 0 });
    expect(rateCalls).toEqual([
      expect.objectContaining({
        tenantId: 'tnt_1',
        botId: 'bot_1',
        limits: bot.rateLimits,
        userKeys: [expect.stringMatching(/^[0-9a-f]{64}$/), expect.stringMatching(/^[0-9a-f]{64}$/)],
      }),
    ]);
    expect(JSON.stringify(rateCalls)).not.toContain('192.0.2.1');
    expect(quotas.periods.get('tnt_1/2026-05')?.messages).toBe(1);
  });

  it('refuses a rate-limited request with Retry-After, without spending quota', async () => {
    const { deps, quotas } = setup({ admitted: false, window: 'user-minute', retryAfterSeconds: 42 });
    const error = await admitMessage(deps, { tenant, bot, endUsers }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', headers: { 'Retry-After': '42' } });
    expect((error as Error).message).toMatch(/from you this minute; retry in 42 s/);
    expect(quotas.periods.size).toBe(0);
  });

  it('refuses past the monthly messages, naming the renewal day', async () => {
    const { deps } = setup();
    for (let i = 0; i < 10; i++) await admitMessage(deps, { tenant, bot, endUsers });
    const error = await admitMessage(deps, { tenant, bot, endUsers }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error).toMatchObject({
      status: 429,
      code: 'quota_exceeded',
      details: { period: '2026-05', renews: '2026-06-01' },
    });
    expect((error as Error).message).toBe(
      'The monthly messages quota is used up; it renews on 2026-06-01 (UTC)',
    );
  });

  it('refuses everything when a plan allows nothing', async () => {
    const { deps } = setup();
    const none = { id: 'tnt_0', plan: { monthlyMessages: 0, monthlyTokens: 1000 } };
    await expect(admitMessage(deps, { tenant: none, bot, endUsers })).rejects.toThrow(/messages quota/);
    const noTokens = { id: 'tnt_0', plan: { monthlyMessages: 10, monthlyTokens: 0 } };
    await expect(admitMessage(deps, { tenant: noTokens, bot, endUsers })).rejects.toThrow(/tokens quota/);
  });

  it('warns once per period when messages reach 80 %, and again next month', async () => {
    const { deps, events } = setup();
    for (let i = 0; i < 10; i++) await admitMessage(deps, { tenant, bot, endUsers });
    expect(events).toEqual([
      {
        type: 'quota.warning',
        tenantId: 'tnt_1',
        period: '2026-05',
        messagesUsed: 8,
        messagesLimit: 10,
        tokensUsed: 0,
        tokensLimit: 1000,
      },
    ]);
    (deps.clock as ReturnType<typeof fakeClock>).set('2026-06-01T00:00:00Z');
    for (let i = 0; i < 10; i++) await admitMessage(deps, { tenant, bot, endUsers });
    expect(events.map((e) => e.period)).toEqual(['2026-05', '2026-06']);
  });

  it('takes the warning mark back when publishing fails, so a later message warns', async () => {
    const { deps, events } = setup();
    let fail = true;
    deps.events = {
      publish: async (event) => {
        if (fail) throw new Error('topic unavailable');
        events.push(event);
      },
    };
    for (let i = 0; i < 8; i++) await admitMessage(deps, { tenant, bot, endUsers });
    expect(events).toHaveLength(0);
    fail = false;
    await admitMessage(deps, { tenant, bot, endUsers });
    expect(events).toEqual([expect.objectContaining({ messagesUsed: 9 })]);
  });
});

describe('recordTurn', () => {
  it('records the message, tokens and cost per bot and tenant, and warns when tokens reach 80 %', async () => {
    const { deps, events } = setup();
    const scope = { tenantId: 'tnt_1', botId: 'bot_1', plan: tenant.plan };
    const first = await recordTurn(deps, scope, {
      inputTokens: 500,
      outputTokens: 100,
      model: { provider: 'bedrock', id: 'us.amazon.nova-micro-v1:0' },
    });
    expect(first).toEqual({ costNanoUsd: 500 * 35 + 100 * 140, priced: true });
    expect(events).toHaveLength(0);
    await recordTurn(deps, scope, {
      inputTokens: 150,
      outputTokens: 50,
      model: { provider: 'local', id: 'extractive' },
    });
    expect(events).toEqual([
      expect.objectContaining({ tokensUsed: 800, tokensLimit: 1000, messagesUsed: 0 }),
    ]);
    const usage = deps.usage as ReturnType<typeof memoryUsage>;
    expect(usage.rows.get('tnt_1/2026-05-20/bot_1')).toEqual({
      messages: 2,
      inputTokens: 650,
      outputTokens: 150,
      embeddingTokens: 0,
      costNanoUsd: 31_500,
    });
  });

  it('records an unknown model at cost 0 and says it was not priced', async () => {
    const { deps } = setup();
    const result = await recordTurn(
      deps,
      { tenantId: 'tnt_1', botId: 'bot_1', plan: tenant.plan },
      { inputTokens: 10, outputTokens: 10, model: { provider: 'openai', id: 'someones-finetune' } },
    );
    expect(result).toEqual({ costNanoUsd: 0, priced: false });
  });
});

describe('getUsage', () => {
  const tenants = new Map<string, Tenant>([
    [
      'tnt_1',
      {
        id: 'tnt_1',
        name: 'One',
        plan: { ...tenant.plan, maxUploadBytes: 1 << 20, maxDocuments: 5 },
        createdAt: '',
        updatedAt: '',
      },
    ],
  ]);
  const bots = new Map([['tnt_1/bot_1', { id: 'bot_1', tenantId: 'tnt_1' } as Bot]]);
  const repos = {
    tenants: { get: async (id: string) => tenants.get(id) },
    bots: { get: async (tenantId: string, botId: string) => bots.get(`${tenantId}/${botId}`) },
  } as unknown as Repositories;

  it('lists every day of the range with zeros where nothing was used, totals and the current quota', async () => {
    const { deps } = setup();
    const scope = { tenantId: 'tnt_1', botId: 'bot_1', plan: tenant.plan };
    const model = { provider: 'openai', id: 'gpt-4o-mini' };
    await admitMessage(deps, { tenant, bot, endUsers });
    await recordTurn(deps, scope, { inputTokens: 1000, outputTokens: 200, model });
    await deps.usage.add('tnt_1', 'bot_2', '2026-05-18', { embeddingTokens: 40 });
    const report = await getUsage({ ...deps, repos }, 'tnt_1', { from: '2026-05-17', to: '2026-05-20' });
    const empty = { messages: 0, inputTokens: 0, outputTokens: 0, embeddingTokens: 0, costUsd: 0 };
    const cost = (1000 * 150 + 200 * 600) / 1e9;
    expect(report).toEqual({
      days: [
        { date: '2026-05-17', ...empty },
        { date: '2026-05-18', ...empty, embeddingTokens: 40 },
        { date: '2026-05-19', ...empty },
        {
          date: '2026-05-20',
          messages: 1,
          inputTokens: 1000,
          outputTokens: 200,
          embeddingTokens: 0,
          costUsd: cost,
        },
      ],
      totals: { messages: 1, inputTokens: 1000, outputTokens: 200, embeddingTokens: 40, costUsd: cost },
      quota: {
        period: '2026-05',
        messagesUsed: 1,
        messagesLimit: 10,
        tokensUsed: 1240,
        tokensLimit: 1000,
        costUsd: cost,
        costLimitUsd: null,
      },
    });
    const one = await getUsage({ ...deps, repos }, 'tnt_1', {
      from: '2026-05-18',
      to: '2026-05-18',
      botId: 'bot_1',
    });
    expect(one.days).toEqual([{ date: '2026-05-18', ...empty }]);
  });

  it('does not find another tenant’s bot', async () => {
    const { deps } = setup();
    tenants.set('tnt_2', { ...(tenants.get('tnt_1') as Tenant), id: 'tnt_2' });
    await expect(
      getUsage({ ...deps, repos }, 'tnt_2', { from: '2026-05-01', to: '2026-05-02', botId: 'bot_1' }),
    ).rejects.toThrow(NotFoundError);
  });

  it('refuses bad ranges with field errors', async () => {
    const { deps } = setup();
    const issues = async (query: Record<string, string>) => {
      const error = await getUsage({ ...deps, repos }, 'tnt_1', query as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BadRequestError);
      return (error as BadRequestError).details;
    };
    expect(await issues({ from: '2026-05-02', to: '2026-05-01' })).toEqual([
      { path: 'query.to', message: 'must not be before from' },
    ]);
    expect(await issues({ from: '2025-01-01', to: '2026-01-02' })).toEqual([
      { path: 'query.to', message: 'the range may cover at most 366 days' },
    ]);
    expect(await issues({ from: '2025-02-29', to: '2025-03-01' })).toEqual([
      { path: 'query.from', message: expect.any(String) },
    ]);
    expect(await issues({ from: 'yesterday', to: '2026-13-01' })).toEqual([
      { path: 'query.from', message: expect.any(String) },
      { path: 'query.to', message: expect.any(String) },
    ]);
    expect(await issues({ to: '2026-01-01' })).toEqual([{ path: 'query.from', message: expect.any(String) }]);
    expect(await issues({ from: '2026-01-01', to: '2026-01-01', extra: 'x' })).toEqual([
      { path: 'query', message: expect.stringContaining('extra') },
    ]);
    // 366 days is allowed (a leap year).
    const year = await getUsage({ ...deps, repos }, 'tnt_1', { from: '2024-01-01', to: '2024-12-31' });
    expect(year.days).toHaveLength(366);
  });
});

describe('turn guard (for the chat pipeline)', () => {
  it('admits with the tenant’s plan (read once per 30 s), hashes the identity, records with the bot’s provider', async () => {
    const { deps, rateCalls, quotas } = setup();
    const plan = { ...tenant.plan, maxUploadBytes: 1 << 20, maxDocuments: 5 };
    let reads = 0;
    const guard = createTurnGuard({
      ...deps,
      tenants: {
        get: async (id) => {
          reads++;
          return id === 'tnt_1' ? { id, name: 'One', plan, createdAt: '', updatedAt: '' } : undefined;
        },
      },
    });
    const chatBot = {
      id: 'bot_1',
      tenantId: 'tnt_1',
      rateLimits: bot.rateLimits,
      model: { provider: 'bedrock' as const, id: 'amazon.nova-lite-v1:0' },
    };
    const { heldTokens } = await guard.admit(chatBot, endUsers, 500);
    expect(heldTokens).toBe(500);
    expect(quotas.periods.get('tnt_1/2026-05')).toMatchObject({ messages: 1, tokens: 0, held: 500 });
    await guard.record(chatBot, {
      inputTokens: 100,
      outputTokens: 10,
      modelId: 'us.amazon.nova-lite-v1:0',
      heldTokens,
    });
    expect(reads).toBe(1);
    expect(JSON.stringify(rateCalls)).not.toContain('192.0.2.1');
    // The hold is settled: what was used stays held, the rest goes back.
    expect(quotas.periods.get('tnt_1/2026-05')).toMatchObject({ messages: 1, tokens: 110, held: 110 });
    const usage = deps.usage as ReturnType<typeof memoryUsage>;
    expect(usage.rows.get('tnt_1/2026-05-20/bot_1')).toMatchObject({
      messages: 1,
      costNanoUsd: 100 * 60 + 10 * 240,
    });
    (deps.clock as ReturnType<typeof fakeClock>).set(
      new Date(Date.parse('2026-05-20T10:00:00Z') + PLAN_CACHE_MS).toISOString(),
    );
    await guard.admit(chatBot, endUsers, 0);
    expect(reads).toBe(2);
    await expect(guard.admit({ ...chatBot, tenantId: 'tnt_gone' }, endUsers, 0)).rejects.toThrow(
      NotFoundError,
    );
  });
});

describe('log event publisher', () => {
  it('writes one WARN line whose counts survive secret masking, and counts it for the alarm', async () => {
    const lines: [string, Record<string, unknown>][] = [];
    const counted: unknown[] = [];
    const publisher = createLogEventPublisher(
      { warn: ((message: string, attrs: Record<string, unknown>) => lines.push([message, attrs])) as never },
      (values, about) => counted.push([values, about]),
    );
    await publisher.publish({
      type: 'quota.warning',
      tenantId: 'tnt_1',
      period: '2026-05',
      messagesUsed: 8,
      messagesLimit: 10,
      tokensUsed: 123,
      tokensLimit: 1000,
    });
    expect(lines).toHaveLength(1);
    const [message, attrs] = lines[0] ?? ['', {}];
    expect(message).toBe('platform event');
    expect(JSON.parse(JSON.stringify(attrs, maskSecrets))).toEqual({
      eventType: 'quota.warning',
      tenantId: 'tnt_1',
      period: '2026-05',
      messages: { used: 8, limit: 10 },
      tokens: { used: 123, limit: 1000 },
    });
    expect(counted).toEqual([[{ QuotaWarnings: 1 }, { tenantId: 'tnt_1', period: '2026-05' }]]);
  });
});
