import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

// Small helpers every DynamoDB repository uses on its items and conditional writes.

/** The client and table a repository works on: what its top-level operations take. */
export interface TableContext {
  db: DynamoDBDocumentClient;
  table: string;
}

/** The listed fields of a stored item (its keys and bookkeeping attributes left out). */
export function pickFields<T>(item: Record<string, unknown>, fields: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const field of fields) if (item[field] !== undefined) out[field] = item[field];
  return out as T;
}

/** A conditional write (alone, or inside a transaction) that found its condition false. */
export const conditionFailed = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed'));

/** Whether a conditional write went through: false when its condition was false, any other error thrown. */
export async function conditionally(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (conditionFailed(error)) return false;
    throw error;
  }
}
