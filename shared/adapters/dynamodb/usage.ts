import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { UsageCounters, UsageRepository } from '../../ports/usage.ts';

// usage table: pk TENANT#<tenantId>, sk DAY#<YYYY-MM-DD>#BOT#<botId> per bot and
// DAY#<YYYY-MM-DD>#ALL for the tenant; counters only ever grow (ADD), so concurrent writers
// never lose each other's counts.

export function createDynamoUsageRepository(db: DynamoDBDocumentClient, table: string): UsageRepository {
  return {
    async add(tenantId, botId, day, counters) {
      const entries = Object.entries(counters).filter(
        ([, value]) => typeof value === 'number' && value !== 0,
      ) as [keyof UsageCounters, number][];
      if (entries.length === 0) return;
      const expression = `ADD ${entries.map(([name]) => `${name} :${name}`).join(', ')}`;
      const values = Object.fromEntries(entries.map(([name, value]) => [`:${name}`, value]));
      await Promise.all(
        [`DAY#${day}#BOT#${botId}`, `DAY#${day}#ALL`].map((sk) =>
          db.send(
            new UpdateCommand({
              TableName: table,
              Key: { pk: `TENANT#${tenantId}`, sk },
              UpdateExpression: expression,
              ExpressionAttributeValues: values,
            }),
          ),
        ),
      );
    },
  };
}
