import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  daysBetween,
  periodExpiresAt,
  usageDaySk,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { DayCounters, UsageRepository } from '../../ports/usage.ts';
import { deletePartition, getKeys } from './batch.ts';
import { toPeriodUsage } from './limits.ts';

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

/** Adds the tokens and cost to the period, settling what admission held for them (limits.ts). */
function addToPeriod(
  db: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  period: string,
  used: { tokens: number; cost: number; heldTokens: number; heldCost: number },
) {
  return db.send(
    new UpdateCommand({
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
      },
      ExpressionAttributeValues: {
        ':tokens': used.tokens,
        ':settled': used.tokens - used.heldTokens,
        ':cost': used.cost,
        ':settledCost': used.cost - used.heldCost,
        ':expiresAt': periodExpiresAt(period),
      },
      ReturnValues: 'ALL_NEW',
    }),
  );
}

/** Adds the non-zero counters to one day item. */
function addToDay(
  db: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  sk: string,
  counters: Counters,
) {
  const entries = COUNTERS.flatMap((name) => {
    const value = counters[name];
    return typeof value === 'number' && value !== 0 ? [[name, value] as const] : [];
  });
  if (entries.length === 0) return undefined;
  return db.send(
    new UpdateCommand({
      TableName: table,
      Key: { pk: usageTenantPk(tenantId), sk },
      UpdateExpression: `ADD ${entries.map(([name]) => `#${name} :${name}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(entries.map(([name]) => [`#${name}`, name])),
      ExpressionAttributeValues: Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value])),
    }),
  );
}

export function createDynamoUsageRepository(db: DynamoDBDocumentClient, table: string): UsageRepository {
  return {
    async add(tenantId, botId, day, counters, heldTokens = 0, heldCost = 0) {
      const tokens =
        (counters.inputTokens ?? 0) + (counters.outputTokens ?? 0) + (counters.embeddingTokens ?? 0);
      const cost = counters.costNanoUsd ?? 0;
      const period = day.slice(0, 7);
      const touchesPeriod = tokens > 0 || heldTokens > 0 || cost > 0 || heldCost > 0;
      const [periodResult] = await Promise.all([
        touchesPeriod
          ? addToPeriod(db, table, tenantId, period, { tokens, cost, heldTokens, heldCost })
          : undefined,
        addToDay(db, table, tenantId, usageDaySk(day, botId), counters),
        addToDay(db, table, tenantId, usageDaySk(day), counters),
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
