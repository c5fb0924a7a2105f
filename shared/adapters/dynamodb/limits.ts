import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  periodExpiresAt,
  type RateWindow,
  rateWindows,
  retryAfterSeconds,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { QuotaStore, RateLimiter, Reservation } from '../../ports/limits.ts';
import type { PeriodUsage } from '../../ports/usage.ts';

// Rate-limit windows and monthly quotas in the `usage` table.
//
//   pk RATE#<tenantId>#<botId>                    sk SEC#<epochSecond>   count, expiresAt
//   pk RATE#<tenantId>#<botId>                    sk MIN#<epochMinute>   count, expiresAt
//   pk RATE#<tenantId>#<botId>#USER#<sha256>      sk MIN#<epochMinute>   count, expiresAt
//   pk TENANT#<tenantId>                          sk PERIOD#<YYYY-MM>    messages, tokens, held, cost, costHeld,
//                                                                        warnedAt, expiresAt
//
// A request is admitted by one TransactWriteItems of conditional updates, one per window (`ADD
// count 1` if `count < limit`): the user's minutes (its address, or the user id a tenant names,
// and its session) and the bot's second and minute. Either every window takes the request or none
// does, so the count can never pass a limit whatever the concurrency, and a refusal (the
// transaction cancelled with ConditionalCheckFailed) names the windows that were full, taking
// nothing to give back.
//
// The period's `held` is the tokens used plus the tokens turns in flight hold: admission adds a
// turn's bound if `held` stays within the plan, and the turn's usage settles it (`usage.add`
// adds what was used less what was held). So tokens used never pass the plan, however many turns
// run at once; a turn that crashes before settling leaves its hold until the month ends. `costHeld`
// does the same for cost (nano-dollars), checked when the plan has a `monthlyCostUsd`.
//
// The bot's windows are hot by design (every request of the bot writes them), and DynamoDB cancels
// a transaction whose item another ongoing transaction holds (TransactionConflict). Such a
// transaction took nothing, so it is tried again after a jittered pause; after CONFLICT_ATTEMPTS
// conflicts in a row the request falls back to one conditional UpdateItem per window, which never
// conflict: the user's windows one after the other, then the bot's two in parallel, giving back
// the slots already taken when a later window refuses (`ADD count -1`). The transaction carries a
// ClientRequestToken, so the SDK's retry after a lost response is not applied twice; a lost
// response to a fallback update may count a request twice: a refusal, never an admission over a
// limit.

/** Transactions tried before falling back to one update per window. */
export const CONFLICT_ATTEMPTS = 4;
/** The pause before the n-th retry of a conflicted transaction: up to 5, 10, 20 ms (full jitter). */
const conflictPauseMs = (retry: number) => Math.random() * 5 * 2 ** (retry - 1);

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** One window's conditional increment, as an UpdateItem's or a transaction item's parameters. */
const takeSlot = (table: string, window: RateWindow) => ({
  TableName: table,
  Key: { pk: window.pk, sk: window.sk },
  UpdateExpression: 'ADD #count :one SET #expiresAt = :expiresAt',
  ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
  ExpressionAttributeNames: { '#count': 'count', '#expiresAt': 'expiresAt' },
  ExpressionAttributeValues: { ':one': 1, ':limit': window.limit, ':expiresAt': window.expiresAt },
});

/** A transaction's outcome: every window taken, the windows that were full, or a conflict. */
type TakeAll = 'taken' | 'conflict' | { readonly full: readonly RateWindow[] };

/** The usage table, through one client. */
interface UsageTable {
  readonly db: DynamoDBDocumentClient;
  readonly table: string;
}

/** Every window at once, or none. */
async function takeAll({ db, table }: UsageTable, windows: readonly RateWindow[]): Promise<TakeAll> {
  try {
    await db.send(
      new TransactWriteCommand({
        TransactItems: windows.map((w) => ({ Update: takeSlot(table, w) })),
        // The SDK's own retries of this call reuse it: DynamoDB applies the transaction once.
        ClientRequestToken: randomUUID(),
      }),
    );
    return 'taken';
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const codes = error.CancellationReasons?.map((reason) => reason.Code) ?? [];
    const full = windows.filter((_, i) => codes[i] === 'ConditionalCheckFailed');
    if (full.length > 0) return { full };
    if (codes.includes('TransactionConflict')) return 'conflict';
    throw error;
  }
}

/** Takes one slot of the window; false if it is full. */
async function take({ db, table }: UsageTable, window: RateWindow): Promise<boolean> {
  try {
    await db.send(new UpdateCommand(takeSlot(table, window)));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Gives taken slots back; one that cannot be returned stays taken until its window ends. */
async function release({ db, table }: UsageTable, windows: readonly RateWindow[]): Promise<void> {
  await Promise.allSettled(
    windows.map((window) =>
      db.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: window.pk, sk: window.sk },
          UpdateExpression: 'ADD #count :minusOne',
          ConditionExpression: 'attribute_exists(#count)',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':minusOne': -1 },
        }),
      ),
    ),
  );
}

/** The fallback under contention: one update per window, the user's first (see above). */
async function takeOneByOne(
  usage: UsageTable,
  windows: readonly RateWindow[],
): Promise<readonly RateWindow[]> {
  const user = windows.filter((window) => window.kind === 'user-minute');
  const bot = windows.filter((window) => window.kind !== 'user-minute');
  for (const [n, window] of user.entries()) {
    if (await take(usage, window)) continue;
    await release(usage, user.slice(0, n));
    return [window];
  }
  const results = await Promise.allSettled(bot.map((window) => take(usage, window)));
  const taken = bot.filter((_, i) => results[i]?.status === 'fulfilled' && results[i].value);
  if (taken.length === bot.length) return [];
  await release(usage, [...user, ...taken]);
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return bot.filter((window) => !taken.includes(window));
}

/** The windows that refused the request (none: admitted). */
async function fullWindows(
  usage: UsageTable,
  windows: readonly RateWindow[],
): Promise<readonly RateWindow[]> {
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    if (attempt > 1) await setTimeout(conflictPauseMs(attempt - 1));
    const outcome = await takeAll(usage, windows);
    if (outcome === 'taken') return [];
    if (outcome !== 'conflict') return outcome.full;
  }
  return takeOneByOne(usage, windows);
}

export function createDynamoRateLimiter(db: DynamoDBDocumentClient, table: string): RateLimiter {
  return {
    async admit({ tenantId, botId, userKeys, limits, now }) {
      const windows = rateWindows({ tenantId, botId, userKeys }, limits, now);
      if (!windows.some((window) => window.kind === 'user-minute')) {
        throw new Error('no rate window for the end user');
      }
      const refused = await fullWindows({ db, table }, windows);
      if (refused.length === 0) return { admitted: true };
      // Every refusing window must clear before a retry can pass: name the one that ends last.
      const last = refused.reduce((a, b) => (b.endsAtMs > a.endsAtMs ? b : a));
      return { admitted: false, window: last.kind, retryAfterSeconds: retryAfterSeconds(last, now) };
    },
  };
}

/** The period item's counters as the port shows them. */
export function toPeriodUsage(period: string, item: Record<string, unknown> | undefined): PeriodUsage {
  const costNanoUsd = Number(item?.cost ?? 0);
  const usage: PeriodUsage = {
    period,
    messages: Number(item?.messages ?? 0),
    tokens: Number(item?.tokens ?? 0),
    held: Number(item?.held ?? item?.tokens ?? 0),
    costNanoUsd,
    heldCostNanoUsd: Number(item?.costHeld ?? costNanoUsd),
  };
  if (typeof item?.warnedAt === 'string') usage.warnedAt = item.warnedAt;
  return usage;
}

/** A number attribute of the raw item DynamoDB returns with a failed condition. */
const rawNumber = (item: unknown, name: string) =>
  Number((item as Record<string, { N?: string } | undefined> | undefined)?.[name]?.N ?? 0);

const periodKey = (tenantId: string, period: string) => ({
  pk: usageTenantPk(tenantId),
  sk: usagePeriodSk(period),
});

/** A period recorded before holds existed starts holding what it used; false if one already did. */
async function startHolding({ db, table }: UsageTable, tenantId: string, period: string): Promise<boolean> {
  try {
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: periodKey(tenantId, period),
        UpdateExpression: 'SET #held = #tokens',
        ConditionExpression: 'attribute_not_exists(#held) AND attribute_exists(#tokens)',
        ExpressionAttributeNames: { '#held': 'held', '#tokens': 'tokens' },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

type Limits = Parameters<QuotaStore['reserveMessage']>[2];

/** Which limit refused, from the item as it was when the condition failed. */
function exhaustedLimit(old: Record<string, unknown>, limits: Limits, holdCostNanoUsd: number): Reservation {
  if (rawNumber(old, 'messages') >= limits.messages) return { admitted: false, exhausted: 'messages' };
  const costHeld = old.costHeld === undefined ? rawNumber(old, 'cost') : rawNumber(old, 'costHeld');
  if (limits.costNanoUsd !== undefined && costHeld + holdCostNanoUsd > limits.costNanoUsd)
    return { admitted: false, exhausted: 'cost' };
  return { admitted: false, exhausted: 'tokens' };
}

/**
 * The most a period may already hold for a hold to fit: refused once nothing is left, or when the
 * hold cannot fit at all (negative then).
 */
const roomFor = (limit: number, hold: number) => Math.min(limit - hold, limit - 1);

async function reserveMessage(
  store: UsageTable,
  tenantId: string,
  period: string,
  limits: Limits,
  holdTokens: number,
  holdCostNanoUsd = 0,
): Promise<Reservation> {
  const room = roomFor(limits.tokens, holdTokens);
  if (room < 0) return { admitted: false, exhausted: 'tokens' };
  const costRoom =
    limits.costNanoUsd === undefined ? undefined : roomFor(limits.costNanoUsd, holdCostNanoUsd);
  if (costRoom !== undefined && costRoom < 0) return { admitted: false, exhausted: 'cost' };
  try {
    const result = await store.db.send(
      new UpdateCommand({
        TableName: store.table,
        Key: periodKey(tenantId, period),
        UpdateExpression:
          'ADD #messages :one, #held :hold, #costHeld :holdCost SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
        ConditionExpression:
          '(attribute_not_exists(#messages) OR #messages < :maxMessages) AND ' +
          '((attribute_not_exists(#held) AND attribute_not_exists(#tokens)) OR #held <= :room)' +
          (costRoom === undefined ? '' : ' AND (attribute_not_exists(#costHeld) OR #costHeld <= :costRoom)'),
        ExpressionAttributeNames: {
          '#messages': 'messages',
          '#held': 'held',
          '#tokens': 'tokens',
          '#costHeld': 'costHeld',
          '#expiresAt': 'expiresAt',
        },
        ExpressionAttributeValues: {
          ':one': 1,
          ':hold': holdTokens,
          ':holdCost': holdCostNanoUsd,
          ':maxMessages': limits.messages,
          ':room': room,
          ...(costRoom !== undefined && { ':costRoom': costRoom }),
          ':expiresAt': periodExpiresAt(period),
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { admitted: true, usage: toPeriodUsage(period, result.Attributes) };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const old = error.Item;
    if (!old) return { admitted: false };
    if (old.held === undefined && old.tokens !== undefined && (await startHolding(store, tenantId, period))) {
      return reserveMessage(store, tenantId, period, limits, holdTokens, holdCostNanoUsd);
    }
    return exhaustedLimit(old, limits, holdCostNanoUsd);
  }
}

async function markWarned({ db, table }: UsageTable, tenantId: string, period: string, at: string) {
  try {
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: periodKey(tenantId, period),
        UpdateExpression: 'SET #warnedAt = :at, #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
        ConditionExpression: 'attribute_not_exists(#warnedAt)',
        ExpressionAttributeNames: { '#warnedAt': 'warnedAt', '#expiresAt': 'expiresAt' },
        ExpressionAttributeValues: { ':at': at, ':expiresAt': periodExpiresAt(period) },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

async function unmarkWarned({ db, table }: UsageTable, tenantId: string, period: string, at: string) {
  try {
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: periodKey(tenantId, period),
        UpdateExpression: 'REMOVE #warnedAt',
        ConditionExpression: '#warnedAt = :at',
        ExpressionAttributeNames: { '#warnedAt': 'warnedAt' },
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

export function createDynamoQuotaStore(db: DynamoDBDocumentClient, table: string): QuotaStore {
  const store: UsageTable = { db, table };
  return {
    reserveMessage: (...args) => reserveMessage(store, ...args),
    markWarned: (...args) => markWarned(store, ...args),
    unmarkWarned: (...args) => unmarkWarned(store, ...args),
  };
}
