import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  periodExpiresAt,
  type RateWindow,
  retryAfterSeconds,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { QuotaLimits, QuotaStore, WarningThresholds } from '../../ports/limits.ts';
import type { PeriodUsage } from '../../ports/usage.ts';

// Rate-limit windows and monthly quotas in the `usage` table, and the pieces of a turn's
// admission (turns.ts) that work on them.
//
//   pk RATE#<tenantId>#<botId>                    sk SEC#<epochSecond>   count, expiresAt
//   pk RATE#<tenantId>#<botId>                    sk MIN#<epochMinute>   count, expiresAt
//   pk RATE#<tenantId>#<botId>#USER#<sha256>      sk MIN#<epochMinute>   count, expiresAt
//   pk TENANT#<tenantId>                          sk PERIOD#<YYYY-MM>    messages, tokens, held, cost, costHeld,
//                                                                        warnedAt, expiresAt
//
// A request is admitted by one TransactWriteItems of conditional updates: one per window (`ADD
// count 1` if `count < limit`) — the user's minutes (its address, or the user id a tenant names,
// and its session) and the bot's second and minute — and the period's reservation. Either every
// item takes the request or none does, so no count can pass its limit whatever the concurrency,
// and a refusal (the transaction cancelled with ConditionalCheckFailed) names the items that
// refused, taking nothing to give back.
//
// The period's `held` is the tokens used plus the tokens turns in flight hold: admission adds a
// turn's bound if `held` stays within the plan, and the turn's record settles it (adding what was
// used less what was held). So tokens used never pass the plan, however many turns run at once; a
// turn that crashes before settling leaves its hold until the month ends. `costHeld` does the same
// for cost (nano-dollars), checked when the plan has a `monthlyCostUsd`.
//
// A transaction returns no item, so the 80 % warning cannot be read from the write that crosses
// it: until the period is warned, its update also requires that the write leaves every count
// below its warning threshold. The one write that would cross fails that clause, learns the
// period from the item DynamoDB returns with the failure, and is sent again without it: one more
// call, once a month (`pendingWarning`).
//
// The bot's windows and the tenant's period are hot by design, and DynamoDB cancels a
// transaction whose item another ongoing transaction holds (TransactionConflict). Such a
// transaction took nothing, so it is tried again after a jittered pause; after CONFLICT_ATTEMPTS
// conflicts in a row the request falls back to one conditional UpdateItem per item, which never
// conflict: the user's windows one after the other, then the bot's two in parallel, giving back
// the slots already taken when a later window refuses (`ADD count -1`), then the reservation.
// Transactions carry a ClientRequestToken, so the SDK's retry after a lost response is not
// applied twice; a lost response to a fallback update may count a request twice: a refusal,
// never an admission over a limit.

/** Transactions tried before falling back to one update per window. */
export const CONFLICT_ATTEMPTS = 4;
/** The pause before the n-th retry of a conflicted transaction: up to 5, 10, 20 ms (full jitter). */
export const conflictPauseMs = (retry: number) => Math.random() * 5 * 2 ** (retry - 1);

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** One window's conditional increment, as an UpdateItem's or a transaction item's parameters. */
export const takeSlot = (table: string, window: RateWindow) => ({
  TableName: table,
  Key: { pk: window.pk, sk: window.sk },
  UpdateExpression: 'ADD #count :one SET #expiresAt = :expiresAt',
  ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
  ExpressionAttributeNames: { '#count': 'count', '#expiresAt': 'expiresAt' },
  ExpressionAttributeValues: { ':one': 1, ':limit': window.limit, ':expiresAt': window.expiresAt },
});

/** The usage table, through one client. */
export interface UsageTable {
  readonly db: DynamoDBDocumentClient;
  readonly table: string;
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

/** The fallback under contention: one update per window, the user's first (see above); the windows that refused. */
export async function takeOneByOne(
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

/** What a refusal says: the window that ends last (every refusing window must clear before a retry can pass). */
export function rateRefusal(refused: readonly RateWindow[], now: Date) {
  const last = refused.reduce((a, b) => (b.endsAtMs > a.endsAtMs ? b : a));
  return {
    admitted: false,
    refusedBy: 'rate',
    window: last.kind,
    retryAfterSeconds: retryAfterSeconds(last, now),
  } as const;
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

/**
 * The raw item DynamoDB returns with a failed condition, as plain values (the period's counters
 * are numbers, `warnedAt` a string).
 */
export function plainItem(raw: unknown): Record<string, unknown> | undefined {
  if (!raw) return undefined;
  return Object.fromEntries(
    Object.entries(raw as Record<string, { N?: string; S?: string }>).map(([name, value]) => [
      name,
      value.N !== undefined ? Number(value.N) : value.S,
    ]),
  );
}

/** The period after adding to it (what a write did to the item it was checked against). */
export function addedTo(
  usage: PeriodUsage,
  add: { messages?: number; tokens?: number; held?: number; cost?: number; costHeld?: number },
): PeriodUsage {
  return {
    ...usage,
    messages: usage.messages + (add.messages ?? 0),
    tokens: usage.tokens + (add.tokens ?? 0),
    held: usage.held + (add.held ?? 0),
    costNanoUsd: usage.costNanoUsd + (add.cost ?? 0),
    heldCostNanoUsd: usage.heldCostNanoUsd + (add.costHeld ?? 0),
  };
}

const periodKey = (tenantId: string, period: string) => ({
  pk: usageTenantPk(tenantId),
  sk: usagePeriodSk(period),
});

/**
 * The condition that the period is warned already, or that adding `adds` leaves every count below
 * its warning threshold (see above). A write that would reach a threshold on its own has only the
 * first half.
 */
export function belowWarning(
  warnAt: WarningThresholds,
  adds: { messages: number; tokens: number; cost: number },
): { expression: string; names: Record<string, string>; values: Record<string, number> } {
  const bounds: [name: string, below: number][] = [
    ['messages', warnAt.messages - adds.messages],
    ['tokens', warnAt.tokens - adds.tokens],
    ...(warnAt.costNanoUsd === undefined
      ? []
      : [['cost', warnAt.costNanoUsd - adds.cost] as [string, number]]),
  ];
  const names = {
    '#warnedAt': 'warnedAt',
    ...Object.fromEntries(bounds.map(([name]) => [`#${name}`, name])),
  };
  if (bounds.some(([, below]) => below <= 0))
    return { expression: 'attribute_exists(#warnedAt)', names, values: {} };
  const each = bounds.map(([name]) => `(attribute_not_exists(#${name}) OR #${name} < :below_${name})`);
  return {
    expression: `(attribute_exists(#warnedAt) OR (${each.join(' AND ')}))`,
    names,
    values: Object.fromEntries(bounds.map(([name, below]) => [`:below_${name}`, below])),
  };
}

/** A period recorded before holds existed starts holding what it used; false if one already did. */
export async function startHolding(
  { db, table }: UsageTable,
  tenantId: string,
  period: string,
): Promise<boolean> {
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

/**
 * The most a period may already hold for a hold to fit: refused once nothing is left, or when the
 * hold cannot fit at all (negative then).
 */
const roomFor = (limit: number, hold: number) => Math.min(limit - hold, limit - 1);

/** One turn's reservation in the period: a message, and its tokens and cost held. */
export interface ReservationRequest {
  readonly tenantId: string;
  readonly period: string;
  readonly limits: QuotaLimits;
  readonly holdTokens: number;
  readonly holdCostNanoUsd: number;
}

/**
 * Why the period refused a reservation, from the item as it was: a limit, a period recorded before
 * holds existed (`unsettled`: `startHolding`, then again), or none of them (the warning clause).
 */
export function refusalOf(
  old: Record<string, unknown>,
  request: ReservationRequest,
): 'messages' | 'tokens' | 'cost' | 'unsettled' | undefined {
  const { limits, holdTokens, holdCostNanoUsd } = request;
  const number = (name: string) => Number(old[name] ?? 0);
  if (number('messages') >= limits.messages) return 'messages';
  if (old.held === undefined && old.tokens !== undefined) return 'unsettled';
  if (number('held') > roomFor(limits.tokens, holdTokens)) return 'tokens';
  const costHeld = old.costHeld === undefined ? number('cost') : number('costHeld');
  if (limits.costNanoUsd !== undefined && costHeld > roomFor(limits.costNanoUsd, holdCostNanoUsd))
    return 'cost';
  return undefined;
}

/**
 * The period's conditional update reserving the turn (and, with `warnAt`, requiring it stays below
 * the warning); the limit that refuses it outright when the hold cannot fit at all.
 */
export function reservationUpdate(table: string, request: ReservationRequest, warnAt?: WarningThresholds) {
  const { tenantId, period, limits, holdTokens, holdCostNanoUsd } = request;
  const room = roomFor(limits.tokens, holdTokens);
  if (room < 0) return { exhausted: 'tokens' } as const;
  const costRoom =
    limits.costNanoUsd === undefined ? undefined : roomFor(limits.costNanoUsd, holdCostNanoUsd);
  if (costRoom !== undefined && costRoom < 0) return { exhausted: 'cost' } as const;
  const warning = warnAt && belowWarning(warnAt, { messages: 1, tokens: 0, cost: 0 });
  return {
    update: {
      TableName: table,
      Key: periodKey(tenantId, period),
      UpdateExpression:
        'ADD #messages :one, #held :hold, #costHeld :holdCost SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
      ConditionExpression:
        '(attribute_not_exists(#messages) OR #messages < :maxMessages) AND ' +
        '((attribute_not_exists(#held) AND attribute_not_exists(#tokens)) OR #held <= :room)' +
        (costRoom === undefined ? '' : ' AND (attribute_not_exists(#costHeld) OR #costHeld <= :costRoom)') +
        (warning ? ` AND ${warning.expression}` : ''),
      ExpressionAttributeNames: {
        '#messages': 'messages',
        '#held': 'held',
        '#tokens': 'tokens',
        '#costHeld': 'costHeld',
        '#expiresAt': 'expiresAt',
        ...warning?.names,
      } as Record<string, string>,
      ExpressionAttributeValues: {
        ':one': 1,
        ':hold': holdTokens,
        ':holdCost': holdCostNanoUsd,
        ':maxMessages': limits.messages,
        ':room': room,
        ...(costRoom !== undefined && { ':costRoom': costRoom }),
        ':expiresAt': periodExpiresAt(period),
        ...warning?.values,
      } as Record<string, unknown>,
    },
  } as const;
}

/** What a reservation adds to the period it was checked against. */
export const reserved = (request: ReservationRequest) => ({
  messages: 1,
  held: request.holdTokens,
  costHeld: request.holdCostNanoUsd,
});

/**
 * The reservation alone (the fallback under contention), one UpdateItem returning the period
 * after it.
 */
export async function reserveMessage(
  store: UsageTable,
  request: ReservationRequest,
): Promise<
  { admitted: true; usage: PeriodUsage } | { admitted: false; exhausted?: 'messages' | 'tokens' | 'cost' }
> {
  const built = reservationUpdate(store.table, request);
  if ('exhausted' in built) return { admitted: false, exhausted: built.exhausted };
  try {
    const result = await store.db.send(
      new UpdateCommand({
        ...built.update,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { admitted: true, usage: toPeriodUsage(request.period, result.Attributes) };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const old = plainItem(error.Item);
    if (!old) return { admitted: false };
    const refusal = refusalOf(old, request);
    if (refusal === 'unsettled' && (await startHolding(store, request.tenantId, request.period)))
      return reserveMessage(store, request);
    return {
      admitted: false,
      exhausted: refusal === 'unsettled' || refusal === undefined ? 'tokens' : refusal,
    };
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
    markWarned: (...args) => markWarned(store, ...args),
    unmarkWarned: (...args) => unmarkWarned(store, ...args),
  };
}
