import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  daysBetween,
  periodExpiresAt,
  usageDaySk,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { WarningThresholds } from '../../ports/limits.ts';
import type { DayCounters, UsageRepository } from '../../ports/usage.ts';
import { deletePartition, getKeys } from './batch.ts';
import { belowWarning, toPeriodUsage } from './limits.ts';

// usage table, tenant partition (pk TENANT#<tenantId>):
//   sk DAY#<YYYY-MM-DD>#BOT#<botId>   one bot's day     messages, inputTokens, outputTokens,
//   sk DAY#<YYYY-MM-DD>#ALL           the tenant's day  embeddingTokens, costNanoUsd
//   sk PERIOD#<YYYY-MM>               the month         messages (admissions), tokens, held, cost, costHeld, warnedAt, expiresAt
// Counters only ever grow (ADD), so concurrent writers never lose each other's counts. Reports
// read the exact day keys of their range (BatchGetItem), so their cost does not grow with the
// number of bots.

const COUNTERS = ['messages', 'inputTokens', 'outputTokens', 'embeddingTokens', 'costNanoUsd'] as const;

function toDayCounters(item: Record<string, unknown>): DayCounters {
  return Object.fromEntries(COUNTERS.map((name) => [name, Number(item[name] ?? 0)])) as DayCounters;
}

type Counters = Parameters<UsageRepository['add']>[3];

/** What a record adds to the period: the tokens and cost used, and what admission held for them. */
export interface PeriodSettlement {
  readonly tokens: number;
  readonly cost: number;
  readonly heldTokens: number;
  readonly heldCost: number;
}

/**
 * The period's update adding the tokens and cost, settling what admission held for them
 * (limits.ts); with `warnAt`, required to stay below the warning (`belowWarning`).
 */
export function periodSettlement(
  table: string,
  tenantId: string,
  period: string,
  used: PeriodSettlement,
  warnAt?: WarningThresholds,
) {
  const warning = warnAt && belowWarning(warnAt, { messages: 0, tokens: used.tokens, cost: used.cost });
  return {
    TableName: table,
    Key: { pk: usageTenantPk(tenantId), sk: usagePeriodSk(period) },
    // `held` and `costHeld` count what was used and drop what was held for it.
    UpdateExpression:
      'ADD #tokens :tokens, #held :settled, #cost :cost, #costHeld :settledCost ' +
      'SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
    ExpressionAttributeNames: {
      '#tokens': 'tokens',
      '#held': 'held',
      '#cost': 'cost',
      '#costHeld': 'costHeld',
      '#expiresAt': 'expiresAt',
      ...warning?.names,
    } as Record<string, string>,
    ExpressionAttributeValues: {
      ':tokens': used.tokens,
      ':settled': used.tokens - used.heldTokens,
      ':cost': used.cost,
      ':settledCost': used.cost - used.heldCost,
      ':expiresAt': periodExpiresAt(period),
      ...warning?.values,
    } as Record<string, unknown>,
    ...(warning && { ConditionExpression: warning.expression }),
  };
}

/** What a settlement adds to the period it was checked against. */
export const settled = (used: PeriodSettlement) => ({
  tokens: used.tokens,
  held: used.tokens - used.heldTokens,
  cost: used.cost,
  costHeld: used.cost - used.heldCost,
});

/** Whether a record touches the period at all. */
export const touchesPeriod = (used: PeriodSettlement) =>
  used.tokens > 0 || used.heldTokens > 0 || used.cost > 0 || used.heldCost > 0;

/** The tokens and cost among the counters, with the holds they settle. */
export function settlementOf(counters: Counters, heldTokens = 0, heldCost = 0): PeriodSettlement {
  return {
    tokens: (counters.inputTokens ?? 0) + (counters.outputTokens ?? 0) + (counters.embeddingTokens ?? 0),
    cost: counters.costNanoUsd ?? 0,
    heldTokens,
    heldCost,
  };
}

/** The update adding the non-zero counters to one day item (none when all are zero). */
function dayAddition(table: string, tenantId: string, sk: string, counters: Counters) {
  const entries = COUNTERS.flatMap((name) => {
    const value = counters[name];
    return typeof value === 'number' && value !== 0 ? [[name, value] as const] : [];
  });
  if (entries.length === 0) return undefined;
  return {
    TableName: table,
    Key: { pk: usageTenantPk(tenantId), sk },
    UpdateExpression: `ADD ${entries.map(([name]) => `#${name} :${name}`).join(', ')}`,
    ExpressionAttributeNames: Object.fromEntries(entries.map(([name]) => [`#${name}`, name])),
    ExpressionAttributeValues: Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value])),
  };
}

/** The bot's and the tenant's day updates of the counters. */
export const dayAdditions = (
  table: string,
  tenantId: string,
  botId: string,
  day: string,
  counters: Counters,
) =>
  [usageDaySk(day, botId), usageDaySk(day)].flatMap((sk) => dayAddition(table, tenantId, sk, counters) ?? []);

export function createDynamoUsageRepository(db: DynamoDBDocumentClient, table: string): UsageRepository {
  return {
    async add(tenantId, botId, day, counters, heldTokens = 0, heldCost = 0) {
      const period = day.slice(0, 7);
      const used = settlementOf(counters, heldTokens, heldCost);
      const [periodResult] = await Promise.all([
        touchesPeriod(used)
          ? db.send(
              new UpdateCommand({
                ...periodSettlement(table, tenantId, period, used),
                ReturnValues: 'ALL_NEW',
              }),
            )
          : undefined,
        ...dayAdditions(table, tenantId, botId, day, counters).map((update) =>
          db.send(new UpdateCommand(update)),
        ),
      ]);
      return periodResult ? toPeriodUsage(period, periodResult.Attributes) : undefined;
    },

    async days(tenantId, { from, to, botId }) {
      const days = daysBetween(from, to);
      const pk = usageTenantPk(tenantId);
      const items = await getKeys(
        db,
        table,
        days.map((day) => ({ pk, sk: usageDaySk(day, botId) })),
      );
      const result = new Map<string, DayCounters>();
      for (const item of items) result.set(String(item.sk).slice(4, 14), toDayCounters(item));
      return result;
    },

    async period(tenantId, period) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: { pk: usageTenantPk(tenantId), sk: usagePeriodSk(period) } }),
      );
      return toPeriodUsage(period, result.Item);
    },

    // The days and periods live in the tenant's partition. Its bots' rate windows (RATE#…) expire
    // by TTL within minutes and are left to it.
    deleteTenant: (tenantId) => deletePartition(db, table, usageTenantPk(tenantId)),
  };
}
