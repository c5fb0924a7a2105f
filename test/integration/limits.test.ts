// Rate limits and monthly quotas against the platform's own DynamoDB Local, through the real
// adapters and the real SDK client, under concurrency: 50 requests race for each limit, and never
// more than the limit get in. Time comes from a test clock; it stays ahead of the real clock so
// DynamoDB Local's TTL never removes a counter mid-test.

import { AsyncLocalStorage } from 'node:async_hooks';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { CONFLICT_ATTEMPTS, createDynamoQuotaStore } from '../../shared/adapters/dynamodb/limits.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { createDynamoTurnStore } from '../../shared/adapters/dynamodb/turns.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { QuotaExceededError, RateLimitedError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import { type EndUser, endUserKey, type RateLimits, webEndUsers } from '../../shared/domain/limits.ts';
import type { ChatSession, StoredMessage } from '../../shared/domain/session.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { PlatformEvent } from '../../shared/ports/events.ts';
import { admitMessage, type LimitsDeps } from '../../shared/usecases/limits.ts';
import { recordTurn, turnCostBound, type UsageDeps } from '../../shared/usecases/usage.ts';
import { platform } from '../support/platform.ts';

const MINUTE = 60_000;
let db: ReturnType<typeof createDocumentClient>;
let table: string;
let sessionsTable: string;

beforeAll(() => {
  // The functions' environment (table names, emulator endpoints, credentials) for the adapters here.
  Object.assign(process.env, platform().env);
  db = createDocumentClient();
  table = platform().env.USAGE_TABLE ?? '';
  sessionsTable = platform().env.SESSIONS_TABLE ?? '';
});

const turnStore = (client: ReturnType<typeof createDocumentClient>) =>
  createDynamoTurnStore(client, { sessions: sessionsTable, usage: table });

class TestClock implements Clock {
  constructor(private ms: number) {}
  now = () => new Date(this.ms);
  set(ms: number) {
    this.ms = ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

/**
 * The start of a minute a little ahead of the real clock, plus `offsetMs`. Call it once per test:
 * two calls may straddle a real minute.
 */
const futureMinute = (offsetMs = 0) => (Math.floor(Date.now() / MINUTE) + 5) * MINUTE + offsetMs;

function setup(start: number) {
  const events: PlatformEvent[] = [];
  const deps: LimitsDeps & UsageDeps & { usage: ReturnType<typeof createDynamoUsageRepository> } = {
    clock: new TestClock(start),
    turns: turnStore(db),
    quotas: createDynamoQuotaStore(db, table),
    events: { publish: async (event) => void events.push(event) },
    usage: createDynamoUsageRepository(db, table),
  };
  return { deps, clock: deps.clock as TestClock, events };
}

const generous: RateLimits = { perSecond: 10_000, perMinute: 100_000, perUserPerMinute: 10_000 };
const bigPlan = { monthlyMessages: 1_000_000, monthlyTokens: 1_000_000_000 };
/** A web visitor: their address and their session. */
const user = (n: number | string, ip = '198.51.100.7'): readonly EndUser[] =>
  webEndUsers({ sourceIp: ip, sessionId: `ses_${n}` });

/** Runs the admissions at once; returns the admitted count and every refusal. */
async function race(
  deps: LimitsDeps,
  requests: {
    tenant: { id: string; plan: typeof bigPlan };
    bot: { id: string; rateLimits: RateLimits };
    endUsers: readonly EndUser[];
  }[],
) {
  const outcomes = await Promise.allSettled(requests.map((request) => admitMessage(deps, request)));
  const refused = outcomes.flatMap((outcome) =>
    outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
  );
  return { admitted: outcomes.length - refused.length, refused, outcomes };
}

/** Each request of a conflict test, in its own async context: its transactions so far. */
const requestContext = new AsyncLocalStorage<{ transactions: number }>();

/**
 * A client whose TransactWriteItems calls are cancelled with TransactionConflict the first
 * `conflicts` times in each request (run in `requestContext`), as DynamoDB does when another
 * transaction holds an item; `attempts` counts the transactions sent.
 */
function conflictingClient(conflicts: number) {
  const client = createDocumentClient();
  let sent = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { TransactItems?: unknown[] };
      const request = requestContext.getStore();
      if (!input.TransactItems || !request) return next(args);
      sent++;
      if (++request.transactions > conflicts) return next(args);
      throw new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: input.TransactItems.map(() => ({ Code: 'TransactionConflict' })),
      });
    },
    { step: 'initialize', name: 'injectTransactionConflicts' },
  );
  return { client, attempts: () => sent };
}

async function counter(pk: string, sk: string): Promise<number> {
  const item = await db.send(new GetCommand({ TableName: table, Key: { pk, sk }, ConsistentRead: true }));
  return Number(item.Item?.count ?? 0);
}

describe('rate limits (DynamoDB, fixed windows)', () => {
  it('admits exactly perMinute of 50 concurrent requests from 5 containers; the rest get rate_limited with Retry-After', async () => {
    const start = futureMinute(15_000);
    const { deps } = setup(start);
    // Five "containers": each with its own SDK client and adapters, sharing only the table.
    const containers = Array.from({ length: 5 }, () => ({
      ...deps,
      turns: turnStore(createDocumentClient()),
      quotas: createDynamoQuotaStore(createDocumentClient(), table),
    }));
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perMinute: 20 } };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        admitMessage(containers[i % 5] as LimitsDeps, { tenant, bot, endUsers: user(i) }),
      ),
    );
    const result = {
      admitted: outcomes.filter((outcome) => outcome.status === 'fulfilled').length,
      refused: outcomes.flatMap((outcome) =>
        outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
      ),
    };
    expect(result.admitted).toBe(20);
    expect(result.refused).toHaveLength(30);
    for (const error of result.refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      // 45 s left in the minute.
      expect((error as RateLimitedError).headers).toEqual({ 'Retry-After': '45' });
    }
    const minute = Math.floor(start / MINUTE);
    expect(await counter(`RATE#${tenant.id}#${bot.id}`, `MIN#${minute}`)).toBe(20);
  });

  it('admits exactly perSecond per second; slots the minute window gave are given back', async () => {
    const start = futureMinute(5_000);
    const { deps, clock } = setup(start);
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perSecond: 5 } };
    const requests = (from: number) =>
      Array.from({ length: 50 }, (_, i) => ({ tenant, bot, endUsers: user(from + i) }));

    const first = await race(deps, requests(0));
    expect(first.admitted).toBe(5);
    for (const error of first.refused)
      expect((error as RateLimitedError).headers).toEqual({ 'Retry-After': '1' });

    clock.advance(999); // still the same second
    expect((await race(deps, requests(100))).admitted).toBe(0);
    clock.advance(1); // the next second
    expect((await race(deps, requests(200))).admitted).toBe(5);

    // The bot's minute counted only the admitted requests: refused ones returned their slot.
    const minute = Math.floor(start / MINUTE);
    expect(await counter(`RATE#${tenant.id}#${bot.id}`, `MIN#${minute}`)).toBe(10);
  });

  // Audit finding: the window was keyed by session plus address, so with perUserPerMinute=3 one
  // address sent 12 messages a minute by opening new sessions (here: 6 from two sessions).
  it('counts a visitor under their address and their session: new sessions do not add allowance', async () => {
    const start = futureMinute(30_000);
    const { deps } = setup(start);
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perUserPerMinute: 3 } };
    const alice = user('alice', '203.0.113.1');
    const bob = user('bob', '203.0.113.1');
    const result = await race(deps, [
      ...Array.from({ length: 25 }, () => ({ tenant, bot, endUsers: alice })),
      ...Array.from({ length: 25 }, () => ({ tenant, bot, endUsers: bob })),
    ]);
    expect(result.admitted).toBe(3);
    for (const error of result.refused)
      expect((error as RateLimitedError).headers).toEqual({ 'Retry-After': '30' });
    // Another address has its own allowance.
    expect((await race(deps, [{ tenant, bot, endUsers: user('carol', '203.0.113.9') }])).admitted).toBe(1);
    // The same user on another bot is counted there.
    const other = { ...bot, id: newId('bot') };
    expect((await race(deps, [{ tenant, bot: other, endUsers: alice }])).admitted).toBe(1);
    // Only hashes are stored; refused requests gave their session slots back.
    const minute = Math.floor(start / MINUTE);
    const count = (endUser: EndUser) =>
      counter(`RATE#${tenant.id}#${bot.id}#USER#${endUserKey(endUser)}`, `MIN#${minute}`);
    expect(await count(alice[0] as EndUser)).toBe(3);
    expect((await count(alice[1] as EndUser)) + (await count(bob[1] as EndUser))).toBe(3);
  });

  it('keeps counting a session that moves to another address, and a tenant’s users by their id', async () => {
    const start = futureMinute(30_000);
    const { deps } = setup(start);
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perUserPerMinute: 3 } };
    const one = async (endUsers: readonly EndUser[]) =>
      (await race(deps, [{ tenant, bot, endUsers }])).admitted;
    for (let i = 0; i < 3; i++) expect(await one(user('roamer', '203.0.113.1'))).toBe(1);
    expect(await one(user('roamer', '203.0.113.2'))).toBe(0);
    expect(await one(user('fresh', '203.0.113.2'))).toBe(1);
    // A tenant's backend on the full address names its users: each has its own allowance.
    const backend = (userId: string) => webEndUsers({ sourceIp: '203.0.113.1', userId });
    for (let i = 0; i < 3; i++) expect(await one(backend('crm-1'))).toBe(1);
    expect(await one(backend('crm-1'))).toBe(0);
    expect(await one(backend('crm-2'))).toBe(1);
  });

  it('holds every window at once under a mixed race, leaving no slot taken by a refused request', async () => {
    const start = futureMinute(1_000);
    const { deps } = setup(start);
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const limits = { perSecond: 10_000, perMinute: 12, perUserPerMinute: 4 };
    const bot = { id: newId('bot'), rateLimits: limits };
    const users = Array.from({ length: 5 }, (_, i) => user(`u${i}`, `198.51.100.${10 + i}`));
    const result = await race(
      deps,
      Array.from({ length: 50 }, (_, i) => ({ tenant, bot, endUsers: users[i % 5] as readonly EndUser[] })),
    );
    expect(result.admitted).toBe(12);
    const minute = Math.floor(start / MINUTE);
    expect(await counter(`RATE#${tenant.id}#${bot.id}`, `MIN#${minute}`)).toBe(12);
    const perUser = await Promise.all(
      users.map((u) =>
        counter(`RATE#${tenant.id}#${bot.id}#USER#${endUserKey(u[1] as EndUser)}`, `MIN#${minute}`),
      ),
    );
    for (const count of perUser) expect(count).toBeLessThanOrEqual(4);
    expect(perUser.reduce((a, b) => a + b, 0)).toBe(12);
  });

  // DynamoDB cancels a transaction over an item another transaction holds (TransactionConflict);
  // DynamoDB Local serialises them, so the conflicts are injected into a real client here.
  it.each([
    ['retried with jitter', 2],
    ['falls back to one update per window after every attempt conflicts', CONFLICT_ATTEMPTS],
  ])('admission under TransactionConflict: %s, never more than a limit', async (_, conflictsPerRequest) => {
    const start = futureMinute(2_000);
    const { deps } = setup(start);
    const { client, attempts } = conflictingClient(conflictsPerRequest);
    const conflicted = { ...deps, turns: turnStore(client) };
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perMinute: 12, perUserPerMinute: 4 } };
    const users = Array.from({ length: 5 }, (_, i) => user(`c${i}`, `198.51.100.${40 + i}`));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        requestContext.run({ transactions: 0 }, () =>
          admitMessage(conflicted, { tenant, bot, endUsers: users[i % 5] as readonly EndUser[] }),
        ),
      ),
    );
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(refused).toHaveLength(50 - 12);
    for (const error of refused) expect(error).toBeInstanceOf(RateLimitedError);
    const minute = Math.floor(start / MINUTE);
    expect(await counter(`RATE#${tenant.id}#${bot.id}`, `MIN#${minute}`)).toBe(12);
    const perUser = await Promise.all(
      users.map((u) =>
        counter(`RATE#${tenant.id}#${bot.id}#USER#${endUserKey(u[0] as EndUser)}`, `MIN#${minute}`),
      ),
    );
    for (const count of perUser) expect(count).toBeLessThanOrEqual(4);
    // Each request's transaction conflicted that many times, then one more (taken or refused) if any is left.
    const expected = conflictsPerRequest < CONFLICT_ATTEMPTS ? conflictsPerRequest + 1 : CONFLICT_ATTEMPTS;
    expect(attempts()).toBe(50 * expected);
  });

  it('rolls the minute over with the clock and says how long to wait until then', async () => {
    const start = futureMinute(20_000);
    const { deps, clock } = setup(start);
    const tenant = { id: newId('tnt'), plan: bigPlan };
    const bot = { id: newId('bot'), rateLimits: { ...generous, perMinute: 3 } };
    const one = async (n: number) => (await race(deps, [{ tenant, bot, endUsers: user(n) }])).refused[0];
    for (let i = 0; i < 3; i++) expect(await one(i)).toBeUndefined();
    expect((await one(3)) as RateLimitedError).toMatchObject({ headers: { 'Retry-After': '40' } });
    clock.advance(39_500);
    expect((await one(4)) as RateLimitedError).toMatchObject({ headers: { 'Retry-After': '1' } });
    clock.advance(500);
    expect(await one(5)).toBeUndefined();
  });
});

describe('monthly quotas', () => {
  it('admits exactly monthlyMessages of 50 concurrent requests and warns exactly once', async () => {
    const start = futureMinute();
    const { deps, events } = setup(start);
    const tenant = { id: newId('tnt'), plan: { monthlyMessages: 30, monthlyTokens: 1_000_000 } };
    const bot = { id: newId('bot'), rateLimits: generous };
    const result = await race(
      deps,
      Array.from({ length: 50 }, (_, i) => ({ tenant, bot, endUsers: user(i) })),
    );
    expect(result.admitted).toBe(30);
    for (const error of result.refused) {
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect((error as QuotaExceededError).message).toMatch(
        /^The monthly messages quota is used up; it renews on \d{4}-\d{2}-01 \(UTC\)$/,
      );
    }
    const period = new Date(start).toISOString().slice(0, 7);
    expect(events).toEqual([
      {
        type: 'quota.warning',
        tenantId: tenant.id,
        period,
        messagesUsed: expect.any(Number),
        messagesLimit: 30,
        tokensUsed: 0,
        tokensLimit: 1_000_000,
      },
    ]);
    expect((events[0] as PlatformEvent).messagesUsed).toBeGreaterThanOrEqual(24);
    const item = await db.send(
      new GetCommand({
        TableName: table,
        Key: { pk: `TENANT#${tenant.id}`, sk: `PERIOD#${period}` },
        ConsistentRead: true,
      }),
    );
    expect(item.Item).toMatchObject({
      messages: 30,
      warnedAt: expect.any(String),
      expiresAt: expect.any(Number),
    });
  });

  it('starts afresh with the next calendar month', async () => {
    const { deps, clock, events } = setup(futureMinute());
    const tenant = { id: newId('tnt'), plan: { monthlyMessages: 5, monthlyTokens: 1_000_000 } };
    const bot = { id: newId('bot'), rateLimits: generous };
    const requests = Array.from({ length: 10 }, (_, i) => ({ tenant, bot, endUsers: user(i) }));
    expect((await race(deps, requests)).admitted).toBe(5);
    const now = clock.now();
    clock.set(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    expect((await race(deps, requests)).admitted).toBe(5);
    expect(events.map((event) => event.period)).toEqual([
      now.toISOString().slice(0, 7),
      clock.now().toISOString().slice(0, 7),
    ]);
  });

  it('counts answered tokens: warns once at 80 % under concurrent turns, then refuses new messages', async () => {
    const start = futureMinute();
    const { deps, events } = setup(start);
    const plan = { monthlyMessages: 1000, monthlyTokens: 10_000 };
    const tenant = { id: newId('tnt'), plan };
    const bot = { id: newId('bot'), rateLimits: generous };
    const model = { provider: 'bedrock', id: 'us.anthropic.claude-3-5-haiku-20241022-v1:0' };
    await Promise.all(
      Array.from({ length: 50 }, () =>
        recordTurn(
          deps,
          { tenantId: tenant.id, botId: bot.id, plan },
          { inputTokens: 150, outputTokens: 50, model },
        ),
      ),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'quota.warning', tokensLimit: 10_000 });
    expect((events[0] as PlatformEvent).tokensUsed).toBeGreaterThanOrEqual(8_000);
    const error = await admitMessage(deps, { tenant, bot, endUsers: user(1) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect((error as Error).message).toMatch(/monthly tokens quota/);

    // The day's counters: 50 messages, their tokens, and their exact cost ($0.80 / $4 per 1M).
    const day = new Date(start).toISOString().slice(0, 10);
    const item = await db.send(
      new GetCommand({
        TableName: table,
        Key: { pk: `TENANT#${tenant.id}`, sk: `DAY#${day}#BOT#${bot.id}` },
        ConsistentRead: true,
      }),
    );
    expect(item.Item).toMatchObject({
      messages: 50,
      inputTokens: 7_500,
      outputTokens: 2_500,
      costNanoUsd: 7_500 * 800 + 2_500 * 4_000,
    });
  });

  // Audit finding: a 300-token plan under 30 parallel chats admitted 13 turns and used 1,742
  // tokens: admission looked at tokens used, and every turn in flight had used none yet.
  it('holds each turn’s bound at admission, so 30 concurrent turns never pass the plan’s tokens', async () => {
    const start = futureMinute();
    const { deps } = setup(start);
    const plan = { monthlyMessages: 1000, monthlyTokens: 3_000 };
    const tenant = { id: newId('tnt'), plan };
    const bot = { id: newId('bot'), rateLimits: generous };
    const model = { provider: 'openai', id: 'gpt-4o-mini-2024-07-18' };
    /** A turn that may use 400 tokens and uses 300 (250 in, 50 out). */
    const turn = async (n: number) => {
      const admission = await admitMessage(deps, { tenant, bot, endUsers: user(n), holdTokens: 400 });
      await recordTurn(
        deps,
        { tenantId: tenant.id, botId: bot.id, plan },
        { inputTokens: 250, outputTokens: 50, model, heldTokens: admission.heldTokens },
      );
    };
    const admitted = (outcomes: PromiseSettledResult<void>[]) =>
      outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    // 7 holds fit in 3,000 at once; a few more when turns settle while others are admitted.
    const first = await Promise.allSettled(Array.from({ length: 30 }, (_, n) => turn(n)));
    expect(admitted(first)).toBeGreaterThanOrEqual(7);
    expect(admitted(first)).toBeLessThanOrEqual(9);
    for (const outcome of first)
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(QuotaExceededError);
    // Settled, the unused part of each hold came back: turns fit until a hold no longer does.
    const second = await Promise.allSettled(Array.from({ length: 30 }, (_, n) => turn(100 + n)));
    expect(admitted(first) + admitted(second)).toBe(9);
    const period = await deps.usage.period(tenant.id, new Date(start).toISOString().slice(0, 7));
    expect(period).toMatchObject({ tokens: 2_700, held: 2_700 });
    expect(period.tokens).toBeLessThanOrEqual(plan.monthlyTokens);
  });

  it('caps the month’s cost with a plan’s monthlyCostUsd, however many turns run at once', async () => {
    const start = futureMinute();
    const { deps, events } = setup(start);
    // $0.003: 3,000,000 nano-dollars. gpt-4o-mini costs 150 / 600 nano-dollars per input / output token.
    const plan = { monthlyMessages: 1000, monthlyTokens: 1_000_000, monthlyCostUsd: 0.003 };
    const tenant = { id: newId('tnt'), plan };
    const bot = { id: newId('bot'), rateLimits: generous };
    const model = { provider: 'openai', id: 'gpt-4o-mini-2024-07-18' };
    const holdCostNanoUsd = turnCostBound(model, 400);
    expect(holdCostNanoUsd).toBe(400 * 600);
    /** A turn that may use 400 tokens and uses 300 (250 in, 50 out): 67,500 nano-dollars. */
    const turn = async (n: number) => {
      const admission = await admitMessage(deps, {
        tenant,
        bot,
        endUsers: user(n),
        holdTokens: 400,
        holdCostNanoUsd,
      });
      await recordTurn(
        deps,
        { tenantId: tenant.id, botId: bot.id, plan },
        {
          inputTokens: 250,
          outputTokens: 50,
          model,
          heldTokens: admission.heldTokens,
          heldCostNanoUsd: holdCostNanoUsd,
        },
      );
    };
    // Waves of 30 until one admits nothing: the cap is reached.
    let admitted = 0;
    for (let wave = 0, got = 1; got > 0 && wave < 10; wave++) {
      const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, n) => turn(wave * 100 + n)));
      got = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
      admitted += got;
      for (const outcome of outcomes)
        if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(QuotaExceededError);
    }
    const period = await deps.usage.period(tenant.id, new Date(start).toISOString().slice(0, 7));
    // 44 turns of 67,500 fit in 3,000,000 (2,970,000), holds allowing: at least 40 got in.
    expect(admitted).toBeGreaterThanOrEqual(40);
    expect(period.costNanoUsd).toBe(admitted * 67_500);
    expect(period.costNanoUsd).toBeLessThanOrEqual(3_000_000);
    expect(period.heldCostNanoUsd).toBe(period.costNanoUsd);
    await expect(turn(9_999)).rejects.toThrow(/monthly spending quota is used up/);
    expect(events).toEqual([
      expect.objectContaining({ type: 'quota.warning', costLimitUsd: 0.003, costUsd: expect.any(Number) }),
    ]);
  });

  it('refuses every turn under a monthlyCostUsd of 0, and has no cost cap without one', async () => {
    const { deps } = setup(futureMinute());
    const bot = { id: newId('bot'), rateLimits: generous };
    const capped = {
      id: newId('tnt'),
      plan: { monthlyMessages: 10, monthlyTokens: 1_000, monthlyCostUsd: 0 },
    };
    await expect(admitMessage(deps, { tenant: capped, bot, endUsers: user(1) })).rejects.toThrow(
      /spending quota/,
    );
    const open = {
      id: newId('tnt'),
      plan: { monthlyMessages: 10, monthlyTokens: 1_000, monthlyCostUsd: null },
    };
    await expect(
      admitMessage(deps, { tenant: open, bot, endUsers: user(1), holdCostNanoUsd: 10 ** 15 }),
    ).resolves.toMatchObject({ heldTokens: 0 });
    const period = deps.clock.now().toISOString().slice(0, 7);
    await expect(deps.usage.period(open.id, period)).resolves.toMatchObject({ messages: 1 });
  });

  it('starts holding on a period recorded before holds existed', async () => {
    const start = futureMinute();
    const { deps } = setup(start);
    const tenant = { id: newId('tnt'), plan: { monthlyMessages: 1000, monthlyTokens: 3_000 } };
    const bot = { id: newId('bot'), rateLimits: generous };
    const period = new Date(start).toISOString().slice(0, 7);
    await db.send(
      new PutCommand({
        TableName: table,
        Item: { pk: `TENANT#${tenant.id}`, sk: `PERIOD#${period}`, messages: 5, tokens: 2_900 },
      }),
    );
    const refused = admitMessage(deps, { tenant, bot, endUsers: user(1), holdTokens: 200 });
    await expect(refused).rejects.toThrow(/tokens quota/);
    await expect(deps.usage.period(tenant.id, period)).resolves.toMatchObject({ tokens: 2_900, held: 2_900 });
    await expect(
      admitMessage(deps, { tenant, bot, endUsers: user(2), holdTokens: 100 }),
    ).resolves.toMatchObject({ heldTokens: 100 });
    await expect(deps.usage.period(tenant.id, period)).resolves.toMatchObject({ messages: 6, held: 3_000 });
  });

  it('counts embedding tokens the embed worker records toward the month’s tokens', async () => {
    const start = futureMinute();
    const { deps } = setup(start);
    const tenant = { id: newId('tnt'), plan: { monthlyMessages: 100, monthlyTokens: 1_000 } };
    const bot = { id: newId('bot'), rateLimits: generous };
    const day = new Date(start).toISOString().slice(0, 10);
    await expect(admitMessage(deps, { tenant, bot, endUsers: user(1) })).resolves.toMatchObject({
      heldTokens: 0,
    });
    await expect(deps.usage.period(tenant.id, day.slice(0, 7))).resolves.toMatchObject({
      messages: 1,
      tokens: 0,
    });
    await deps.usage.add(tenant.id, bot.id, day, { embeddingTokens: 1_000 });
    await expect(admitMessage(deps, { tenant, bot, endUsers: user(1) })).rejects.toThrow(/tokens quota/);
  });
});

describe("a turn's record (one transaction: its messages, its days and its period)", () => {
  const day = (start: number) => new Date(start).toISOString().slice(0, 10);
  /** A client counting the TransactWriteItems it sends, optionally through `conflictingClient`. */
  function countingClient(client = createDocumentClient()) {
    let transactions = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { TransactItems?: unknown }).TransactItems) transactions++;
        return next(args);
      },
      { step: 'initialize', name: 'countTransactions' },
    );
    return { client, transactions: () => transactions };
  }
  const sessions = () => createDynamoSessionRepository(db, sessionsTable);
  function conversation(
    tenantId: string,
    botId: string,
    start: number,
    isNew: boolean,
    n: number,
    sessionId = `ses_record_${tenantId}`,
  ) {
    const at = new Date(start + n * 1000).toISOString();
    const session: ChatSession = {
      id: sessionId,
      tenantId,
      botId,
      channel: 'api',
      userKey: 'k',
      createdAt: new Date(start).toISOString(),
      lastMessageAt: new Date(start).toISOString(),
      expiresAt: Math.floor(start / 1000) + 3600,
    };
    const messages: StoredMessage[] = (['user', 'assistant'] as const).map((role, i) => ({
      id: newId('msg'),
      role,
      content: `turn ${n} ${role}`,
      createdAt: new Date(start + n * 1000 + i).toISOString(),
      inputTokens: 0,
      outputTokens: 0,
    }));
    return { session, isNew, messages, expiresAt: Math.floor(start / 1000) + 3600 + n, at };
  }
  const counters = { messages: 1, inputTokens: 100, outputTokens: 20, costNanoUsd: 5_000 };
  const warnAt = { messages: 1_000_000, tokens: 1_000_000_000 };

  it('writes the new session, its messages, the days and the period in one call, then continues it', async () => {
    const start = futureMinute();
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const { client, transactions } = countingClient();
    const turns = turnStore(client);
    const base = { tenantId, botId, day: day(start), counters, heldTokens: 500, heldCostNanoUsd: 0, warnAt };
    await turns.record({ ...base, conversation: conversation(tenantId, botId, start, true, 1) });
    expect(transactions()).toBe(1);
    await turns.record({ ...base, conversation: conversation(tenantId, botId, start, false, 2) });
    expect(transactions()).toBe(2);
    const opened = await sessions().open(tenantId, botId, `ses_record_${tenantId}`, 10, new Date(start));
    expect(opened.history.map((m) => m.content)).toEqual([
      'turn 1 user',
      'turn 1 assistant',
      'turn 2 user',
      'turn 2 assistant',
    ]);
    const usage = createDynamoUsageRepository(db, table);
    const days = await usage.days(tenantId, { from: day(start), to: day(start), botId });
    expect(days.get(day(start))).toMatchObject({
      messages: 2,
      inputTokens: 200,
      outputTokens: 40,
      costNanoUsd: 10_000,
    });
    // 240 tokens used; each record settled its 500 held (-380 each on a period that held nothing).
    expect(await usage.period(tenantId, day(start).slice(0, 7))).toMatchObject({ tokens: 240, held: -760 });
  });

  it('still records the usage when the session was deleted during the turn, and joins one created meanwhile', async () => {
    const start = futureMinute();
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const turns = turnStore(db);
    const base = { tenantId, botId, day: day(start), counters, heldTokens: 0, heldCostNanoUsd: 0, warnAt };
    // Continuing a session nobody has (deleted meanwhile): the messages have nowhere to go.
    await turns.record({ ...base, conversation: conversation(tenantId, botId, start, false, 1) });
    expect(await sessions().get(tenantId, botId, `ses_record_${tenantId}`, new Date(start))).toBeUndefined();
    // Two first turns of one channel user's session at once: both land in it.
    await Promise.all([
      turns.record({ ...base, conversation: conversation(tenantId, botId, start, true, 2) }),
      turns.record({ ...base, conversation: conversation(tenantId, botId, start, true, 3) }),
    ]);
    const opened = await sessions().open(tenantId, botId, `ses_record_${tenantId}`, 10, new Date(start));
    expect(opened.history.map((m) => m.content).sort()).toEqual(
      ['turn 2 user', 'turn 2 assistant', 'turn 3 user', 'turn 3 assistant'].sort(),
    );
    const days = await createDynamoUsageRepository(db, table).days(tenantId, {
      from: day(start),
      to: day(start),
    });
    expect(days.get(day(start))).toMatchObject({ messages: 3, inputTokens: 300 });
  });

  it('falls back to separate writes after every attempt conflicts, and counts every turn once', async () => {
    const start = futureMinute();
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const { client } = conflictingClient(CONFLICT_ATTEMPTS);
    const turns = turnStore(client);
    const base = { tenantId, botId, day: day(start), counters, heldTokens: 0, heldCostNanoUsd: 0, warnAt };
    await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        requestContext.run({ transactions: 0 }, () =>
          turns.record({
            ...base,
            conversation: conversation(tenantId, botId, start, true, n, `ses_${n}_${tenantId}`),
          }),
        ),
      ),
    );
    const usage = createDynamoUsageRepository(db, table);
    const days = await usage.days(tenantId, { from: day(start), to: day(start), botId });
    expect(days.get(day(start))).toMatchObject({ messages: 10, inputTokens: 1_000, costNanoUsd: 50_000 });
    expect(await usage.period(tenantId, day(start).slice(0, 7))).toMatchObject({ tokens: 1_200 });
    for (let n = 0; n < 10; n++) {
      const opened = await sessions().open(tenantId, botId, `ses_${n}_${tenantId}`, 10, new Date(start));
      expect(opened.history).toHaveLength(2);
    }
  });
});
