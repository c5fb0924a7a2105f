import {
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../../domain/errors.ts';

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
