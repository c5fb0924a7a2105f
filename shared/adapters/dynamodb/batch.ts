import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';

type Key = Record<string, unknown>;

/** BatchWriteItem takes at most 25 requests. */
const BATCH_WRITE_MAX = 25;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_MAX = 100;
const MAX_ATTEMPTS = 9;

/** Reads items by key, 100 per call (in parallel), retrying what DynamoDB leaves unprocessed. */
export async function getKeys(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Key[],
  options: { consistent?: boolean } = {},
): Promise<Record<string, unknown>[]> {
  const batches: Key[][] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET_MAX) batches.push(keys.slice(i, i + BATCH_GET_MAX));
  const read = async (batch: Key[]) => {
    const items: Record<string, unknown>[] = [];
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`BatchGet left ${pending.length} keys of ${table} unread`);
      if (attempt > 0) await sleep(Math.random() * Math.min(1000, 25 * 2 ** attempt));
      const result = await db.send(
        new BatchGetCommand({
          RequestItems: { [table]: { Keys: pending, ConsistentRead: options.consistent } },
        }),
      );
      items.push(...(result.Responses?.[table] ?? []));
      pending = (result.UnprocessedKeys?.[table]?.Keys as Key[] | undefined) ?? [];
    }
    return items;
  };
  return (await Promise.all(batches.map(read))).flat();
}

type WriteRequest = { DeleteRequest: { Key: Key } } | { PutRequest: { Item: Key } };

/** Writes 25 requests at a time, retrying what DynamoDB leaves unprocessed (with backoff). */
async function batchWrite(
  db: DynamoDBDocumentClient,
  table: string,
  all: readonly WriteRequest[],
  what: string,
): Promise<void> {
  for (let i = 0; i < all.length; i += BATCH_WRITE_MAX) {
    let requests = all.slice(i, i + BATCH_WRITE_MAX);
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS)
        throw new Error(`BatchWrite left ${requests.length} items of ${table} ${what}`);
      if (attempt > 0) await sleep(Math.random() * Math.min(1000, 50 * 2 ** attempt));
      const result = await db.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
      requests = (result.UnprocessedItems?.[table] ?? []) as WriteRequest[];
    }
  }
}

/** Deletes items by key, 25 at a time, retrying what DynamoDB leaves unprocessed. */
export const deleteKeys = (db: DynamoDBDocumentClient, table: string, keys: readonly Key[]) =>
  batchWrite(
    db,
    table,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
    'undeleted',
  );

/** Puts items (unconditionally), 25 at a time, retrying what DynamoDB leaves unprocessed. */
export const putItems = (db: DynamoDBDocumentClient, table: string, items: readonly Key[]) =>
  batchWrite(
    db,
    table,
    items.map((Item) => ({ PutRequest: { Item } })),
    'unwritten',
  );

/**
 * Deletes every item of partition `pk` (a table keyed pk/sk), or only those whose sort key starts
 * with `skPrefix`, a page of keys at a time; returns how many.
 */
export async function deletePartition(
  db: DynamoDBDocumentClient,
  table: string,
  pk: string,
  skPrefix?: string,
): Promise<number> {
  let deleted = 0;
  let start: Key | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: skPrefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ...(skPrefix !== undefined && { ':prefix': skPrefix }) },
        ProjectionExpression: 'pk, sk',
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    const keys = page.Items ?? [];
    await deleteKeys(db, table, keys);
    deleted += keys.length;
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}
