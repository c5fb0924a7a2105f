import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  daysBetween,
  periodExpiresAt,
  usageDaySk,
  usagePeriodSk,
  usageTenantPk,
} from '../../domain/limits.ts';
import type { DayCounters, UsageRepository } from '../../ports/usage.ts';
import { deletePartition } from './batch.ts';
import { toPeriodUsage } from './limits.ts';

// usage table, tenant partition (pk TENANT#<tenantId>):
//   sk DAY#<YYYY-MM-DD>#BOT#<botId>   one bot's day     messages, inputTokens, outputTokens,
//   sk DAY#<YYYY-MM-DD>#ALL           the tenant's day  embeddingTokens, costNanoUsd
//   sk PERIOD#<YYYY-MM>               the month         messages (admissions), tokens, warnedAt, expiresAt
// Counters only ever grow (ADD), so concurrent writers never lose each other's counts. Reports
// read the exact day keys of their range (BatchGetItem), so their cost does not grow with the
// number of bots.

const COUNTERS = ['messages', 'inputTokens', 'outputTokens', 'embeddingTokens', 'costNanoUsd'] as const;
const BATCH_GET_MAX = 100;

function toDayCounters(item: Record<string, unknown>): DayCounters {
  return Object.fromEntries(COUNTERS.map((name) => [name, Number(item[name] ?? 0)])) as DayCounters;
}

export function createDynamoUsageRepository(db: DynamoDBDocumentClient, table: string): UsageRepository {
  /** Reads items by key, retrying what DynamoDB leaves unprocessed (throttling, size limits). */
  async function batchGet(keys: Record<string, string>[]): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let pending = keys;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) {
        if (attempt > 8) throw new Error(`usage read left ${pending.length} keys unprocessed`);
        await sleep(Math.random() * Math.min(1000, 25 * 2 ** attempt));
      }
      const result = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending } } }));
      items.push(...(result.Responses?.[table] ?? []));
      pending = (result.UnprocessedKeys?.[table]?.Keys as Record<string, string>[] | undefined) ?? [];
    }
    return items;
  }

  return {
    async add(tenantId, botId, day, counters) {
      const entries = COUNTERS.flatMap((name) => {
        const value = counters[name];
        return typeof value === 'number' && value !== 0 ? [[name, value] as const] : [];
      });
      if (entries.length === 0) return undefined;
      const expression = `ADD ${entries.map(([name]) => `#${name} :${name}`).join(', ')}`;
      const names = Object.fromEntries(entries.map(([name]) => [`#${name}`, name]));
      const values = Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value]));
      const tokens =
        (counters.inputTokens ?? 0) + (counters.outputTokens ?? 0) + (counters.embeddingTokens ?? 0);
      const period = day.slice(0, 7);
      const [periodResult] = await Promise.all([
        tokens > 0
          ? db.send(
              new UpdateCommand({
                TableName: table,
                Key: { pk: usageTenantPk(tenantId), sk: usagePeriodSk(period) },
                UpdateExpression:
                  'ADD #tokens :tokens SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
                ExpressionAttributeNames: { '#tokens': 'tokens', '#expiresAt': 'expiresAt' },
                ExpressionAttributeValues: { ':tokens': tokens, ':expiresAt': periodExpiresAt(period) },
                ReturnValues: 'ALL_NEW',
              }),
            )
          : undefined,
        ...[usageDaySk(day, botId), usageDaySk(day)].map((sk) =>
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
      const chunks: Record<string, string>[][] = [];
      for (let i = 0; i < days.length; i += BATCH_GET_MAX)
        chunks.push(days.slice(i, i + BATCH_GET_MAX).map((day) => ({ pk, sk: usageDaySk(day, botId) })));
      const items = (await Promise.all(chunks.map(batchGet))).flat();
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
