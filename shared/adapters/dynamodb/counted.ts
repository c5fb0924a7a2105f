import { DeleteCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { conditionally, type TableContext } from './items.ts';

// Items whose owner keeps a count of them (a tenant's documents, a bot's test questions) for a
// plan's cap: the item and the count change in one transaction, so concurrent writers cannot pass
// the cap or lose a count.

export interface Counter {
  /** The record holding the count. */
  key: Record<string, string>;
  /** The attribute holding it. */
  attribute: string;
  /** Whether the record must exist already (a tenant's), rather than be made by the first count. */
  ownerMustExist: boolean;
}

const ownerCondition = (counter: Counter) => (counter.ownerMustExist ? 'attribute_exists(pk) AND ' : '');

/** Puts a new item and counts it: 'limit' when the count is at `max` (or the owner is missing). */
export async function putCounted(
  { db, table }: TableContext,
  item: Record<string, unknown>,
  counter: Counter,
  max: number,
): Promise<'created' | 'limit'> {
  const created = await conditionally(
    db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: table,
              Key: counter.key,
              UpdateExpression: 'ADD #count :one',
              ConditionExpression: `${ownerCondition(counter)}(attribute_not_exists(#count) OR #count < :max)`,
              ExpressionAttributeNames: { '#count': counter.attribute },
              ExpressionAttributeValues: { ':one': 1, ':max': max },
            },
          },
          { Put: { TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      }),
    ),
  );
  return created ? 'created' : 'limit';
}

/**
 * Deletes an item and takes it off the count. When that cannot be done (the item is missing or
 * deleted concurrently, or the count's record is gone: the owner's deletion is under way) the
 * item is deleted alone. `removed` says whether this call removed it; `old` is the item when it
 * was deleted alone (a transaction does not return it).
 */
export async function deleteCounted(
  { db, table }: TableContext,
  key: Record<string, string>,
  counter: Counter,
): Promise<{ removed: boolean; old?: Record<string, unknown> }> {
  const counted = await conditionally(
    db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: table, Key: key, ConditionExpression: 'attribute_exists(pk)' } },
          {
            Update: {
              TableName: table,
              Key: counter.key,
              UpdateExpression: 'ADD #count :minusOne',
              ConditionExpression: `${ownerCondition(counter)}#count > :zero`,
              ExpressionAttributeNames: { '#count': counter.attribute },
              ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0 },
            },
          },
        ],
      }),
    ),
  );
  if (counted) return { removed: true };
  const { Attributes } = await db.send(
    new DeleteCommand({ TableName: table, Key: key, ReturnValues: 'ALL_OLD' }),
  );
  return { removed: Attributes !== undefined, old: Attributes };
}
