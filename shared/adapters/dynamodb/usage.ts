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
//   sk PERIOD#<YYYY-MM>               the month         messages (admissions), tokens, warnedAt, expiresAt
// Counters only ever grow (ADD), so concurrent writers never lose each other's counts. Reports
// read the exact day keys of their range (BatchGetItem), so their cost does not grow with the
// number of bots.

const COUNTERS = ['messages', 'inputTokens', 'outputTokens', 'embeddingTokens', 'costNanoUsd'] as const;

function toDayCounters(item: Record<string, unknown>): DayCounters {
  return Object.fromEntries(COUNTERS.map((name) => [name, Number(item[name] ?? 0)])) as DayCounters;
}

export function createDynamoUsageRepository(db: DynamoDBDocumentClient, table: string): UsageRepository {
  return {
    async add(tenantId, botId, day, counters, heldTokens = 0) {
      const entries = COUNTERS.flatMap((name) => {
        const value = counters[name];
        return typeof value === 'number' && value !== 0 ? [[name, value] as const] : [];
      });
      if (entries.length === 0 && heldTokens === 0) return undefined;
      const expression = `ADD ${entries.map(([name]) => `#${name} :${name}`).join(', ')}`;
      const names = Object.fromEntries(entries.map(([name]) => [`#${name}`, name]));
      const values = Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value]));
      const tokens =
        (counters.inputTokens ?? 0) + (counters.outputTokens ?? 0) + (counters.embeddingTokens ?? 0);
      const period = day.slice(0, 7);
      const [periodResult] = await Promise.all([
        tokens > 0 || heldTokens > 0
          ? db.send(
              new UpdateCommand({
                TableName: table,
                Key: { pk: usageTenantPk(tenantId), sk: usagePeriodSk(period) },
                // `held` counts what was used and drops what was held for it (limits.ts).
                UpdateExpression:
                  'ADD #tokens :tokens, #held :settled SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
                ExpressionAttributeNames: { '#tokens': 'tokens', '#held': 'held', '#expiresAt': 'expiresAt' },
                ExpressionAttributeValues: {
                  ':tokens': tokens,
                  ':settled': tokens - heldTokens,
                  ':expiresAt': periodExpiresAt(period),
                },
                ReturnValues: 'ALL_NEW',
              }),
            )
          : undefined,
        ...(entries.length === 0 ? [] : [usageDaySk(day, botId), usageDaySk(day)]).map((sk) =>
          db.send(
            new UpdateCommand({
              TableName: table,
              Key: { pk: usageTenantPk(tenantId), sk },
              UpdateExpression: expression,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            }),
          ),
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
