import {
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../../domain/errors.ts';
import type { Page, PageRequest } from '../../ports/repositories.ts';
import type { TableContext } from './items.ts';

type Key = Record<string, NativeAttributeValue>;

// A cursor is the query's LastEvaluatedKey, base64url-encoded. On the way back in it is checked
// against the query it claims to continue: a cursor from another tenant's list (another partition)
// or a hand-made one is a 400, never a way into someone else's data.

export function encodeCursor(key: Key | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

export function decodeCursor(
  cursor: string | undefined,
  expected: Key,
  keyNames: readonly string[],
): Key | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid =
    typeof key === 'object' &&
    key !== null &&
    !Array.isArray(key) &&
    Object.keys(key).length === keyNames.length &&
    keyNames.every((name) => typeof (key as Key)[name] === 'string') &&
    Object.entries(expected).every(([name, value]) => (key as Key)[name] === value);
  if (!valid) throw invalidCursor();
  return key as Key;
}

export const invalidCursor = () =>
  new BadRequestError('Invalid cursor', [{ path: 'cursor', message: 'is not a cursor from this list' }]);

/**
 * Runs one page of a query, continuing from `cursor` (checked against `expected`). A well-formed
 * cursor from another list (another bot's documents, an edited sort key) makes DynamoDB refuse
 * to start there: that is the client's mistake, a 400 like any invalid cursor.
 */
export async function queryFrom(
  db: DynamoDBDocumentClient,
  input: QueryCommandInput,
  cursor: string | undefined,
  expected: Key,
  keyNames: readonly string[],
): Promise<QueryCommandOutput> {
  const start = decodeCursor(cursor, expected, keyNames);
  try {
    return await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
  } catch (error) {
    if (start !== undefined && (error as { name?: unknown }).name === 'ValidationException')
      throw invalidCursor();
    throw error;
  }
}

/** How a prefix query reads beyond its partition and prefix. */
export interface PrefixQueryOptions {
  consistent?: boolean;
  newestFirst?: boolean;
  /** A filter on the page read, with the values it names. */
  filter?: { expression: string; values: Record<string, NativeAttributeValue> };
}

/** One page of the items of partition `pk` (a table keyed pk/sk) whose sort key starts with `prefix`. */
export async function pageByPrefix<T>(
  { db, table }: TableContext,
  pk: string,
  prefix: string,
  page: PageRequest,
  toItem: (item: Record<string, unknown>) => T,
  options: PrefixQueryOptions = {},
): Promise<Page<T>> {
  const result = await queryFrom(
    db,
    {
      TableName: table,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
      FilterExpression: options.filter?.expression,
      ExpressionAttributeValues: { ':p': pk, ':prefix': prefix, ...options.filter?.values },
      ScanIndexForward: options.newestFirst ? false : undefined,
      ConsistentRead: options.consistent,
      Limit: page.limit,
    },
    page.cursor,
    { pk },
    ['pk', 'sk'],
  );
  const last = result.LastEvaluatedKey;
  return {
    items: (result.Items ?? []).map(toItem),
    nextCursor: encodeCursor(last && { pk: last.pk, sk: last.sk }),
  };
}

/** Every item of a paged list, read page by page. */
export async function allPages<T>(list: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 100, cursor });
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}
