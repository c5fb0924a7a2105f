import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  periodExpiresAt,
  type RateWindow,
  rateWindows,
  retryAfterSeconds,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { QuotaStore, RateDecision, RateLimiter, Reservation } from '../../ports/limits.ts';
import type { PeriodUsage } from '../../ports/usage.ts';

// Rate-limit windows and monthly quotas in the `usage` table.
//
//   pk RATE#<tenantId>#<botId>                    sk SEC#<epochSecond>   count, expiresAt
//   pk RATE#<tenantId>#<botId>                    sk MIN#<epochMinute>   count, expiresAt
//   pk RATE#<tenantId>#<botId>#USER#<sha256>      sk MIN#<epochMinute>   count, expiresAt
//   pk TENANT#<tenantId>                          sk PERIOD#<YYYY-MM>    messages, tokens, held, cost, costHeld,
//                                                                        warnedAt, expiresAt
//
// Each window admits with one conditional UpdateItem (`ADD count 1` if `count < limit`), so the
// count can never pass the limit whatever the concurrency. A request must fit in the user's
// minutes first (its address and its session, one after the other), then in the bot's second and
// minute (those two in parallel); when a later window refuses, the slots already taken are given
// back (`ADD count -1`).
//
// The period's `held` is the tokens used plus the tokens turns in flight hold: admission adds a
// turn's bound if `held` stays within the plan, and the turn's usage settles it (`usage.add`
// adds what was used less what was held). So tokens used never pass the plan, however many turns
// run at once; a turn that crashes before settling leaves its hold until the month ends. `costHeld`
// does the same for cost (nano-dollars), checked when the plan has a `monthlyCostUsd`.
//
// Why not one TransactWriteItems over the three counters: DynamoDB cancels a transaction whose
// item is part of another ongoing transaction (TransactionConflict), and the bot's counters are
// hot by design — every request of the bot writes them. Under exactly the load a limiter exists
// for, most transactions would conflict and need retrying, at twice the write cost. (DynamoDB
// Local serialises transactions, so a test there would not show it.) Single-item conditional
// updates never conflict. The price of giving slots back: for the few milliseconds between a
// taken slot and its return, a concurrent request may be refused although the slot would have
// been free — a spurious refusal only when a window is already refusing, never an admission over
// a limit. Checking the user's window first keeps one user's refused flood from holding the bot's
// slots at all. A lost response retried by the SDK may count a request twice: again refusal, not
// excess.

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export function createDynamoRateLimiter(db: DynamoDBDocumentClient, table: string): RateLimiter {
  /** Takes one slot of the window; false if it is full. */
  async function take(window: RateWindow): Promise<boolean> {
    try {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: window.pk, sk: window.sk },
          UpdateExpression: 'ADD #count :one SET #expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':one': 1, ':limit': window.limit, ':expiresAt': window.expiresAt },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Gives taken slots back; one that cannot be returned stays taken until its window ends. */
  async function release(windows: readonly RateWindow[]): Promise<void> {
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

  function refusal(refused: readonly RateWindow[], now: Date): RateDecision {
    // Every refusing window must clear before a retry can pass: name the one that ends last.
    const last = refused.reduce((a, b) => (b.endsAtMs > a.endsAtMs ? b : a));
    return { admitted: false, window: last.kind, retryAfterSeconds: retryAfterSeconds(last, now) };
  }

  return {
    async admit({ tenantId, botId, userKeys, limits, now }) {
      const windows = rateWindows({ tenantId, botId, userKeys }, limits, now);
      const user = windows.filter((window) => window.kind === 'user-minute');
      const bot = windows.filter((window) => window.kind !== 'user-minute');
      if (user.length === 0) throw new Error('no rate window for the end user');
      for (const [n, window] of user.entries()) {
        if (await take(window)) continue;
        await release(user.slice(0, n));
        return refusal([window], now);
      }
      const results = await Promise.allSettled(bot.map(take));
      const taken = bot.filter((_, i) => results[i]?.status === 'fulfilled' && results[i].value);
      if (taken.length === bot.length) return { admitted: true };
      await release([...user, ...taken]);
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) throw failure.reason;
      return refusal(
        bot.filter((window) => !taken.includes(window)),
        now,
      );
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

interface PeriodTable {
  readonly db: DynamoDBDocumentClient;
  readonly table: string;
}

const periodKey = (tenantId: string, period: string) => ({
  pk: usageTenantPk(tenantId),
  sk: usagePeriodSk(period),
});

/** A period recorded before holds existed starts holding what it used; false if one already did. */
async function startHolding({ db, table }: PeriodTable, tenantId: string, period: string): Promise<boolean> {
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
  store: PeriodTable,
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

async function markWarned({ db, table }: PeriodTable, tenantId: string, period: string, at: string) {
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

async function unmarkWarned({ db, table }: PeriodTable, tenantId: string, period: string, at: string) {
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
  const store: PeriodTable = { db, table };
  return {
    reserveMessage: (...args) => reserveMessage(store, ...args),
    markWarned: (...args) => markWarned(store, ...args),
    unmarkWarned: (...args) => unmarkWarned(store, ...args),
  };
}
