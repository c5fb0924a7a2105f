import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from '../../ports/clock.ts';
import type { ReplyLedger, ReplyScope, SendRecord, SendState } from '../../ports/reply-ledger.ts';
import { deletePartition } from './batch.ts';
import { conditionally, type TableContext } from './items.ts';

// usage table, one partition per bot: pk REPLY#<tenantId>#<botId>, with
//   sk SEND#<key>     the reply to a message (or `skipped`): state, delivered, text?   updatedAt, expiresAt
//   sk NOTICE#<key>   a polite notice sent (one per window)                          expiresAt
// <key> is the reply queue's deduplication id (a digest of bot, channel and the platform's message
// id) or, for notices, a digest of the user and the reason. Reads treat expired items as absent.
// (Earlier versions of the webhook also wrote sk SEEN#<key> items here; nothing reads them now, and
// they expire.)

const partition = (scope: ReplyScope) => `REPLY#${scope.tenantId}#${scope.botId}`;

export function createDynamoReplyLedger(db: DynamoDBDocumentClient, table: string): ReplyLedger {
  const context: TableContext = { db, table };
  return {
    getSend: (scope, key, now) => getSend(context, scope, key, now),

    createSend: (scope, key, record, expiresAt) =>
      putUnlessLive(
        context,
        { pk: partition(scope), sk: `SEND#${key}`, ...record, expiresAt },
        new Date(record.updatedAt),
      ),

    moveSend: (scope, key, from, to) => moveSend(context, scope, key, from, to),

    takeNotice: (scope, key, expiresAt, now) =>
      putUnlessLive(context, { pk: partition(scope), sk: `NOTICE#${key}`, expiresAt }, now),

    async deleteBot(scope) {
      await deletePartition(db, table, partition(scope));
    },
  };
}

async function getSend(
  { db, table }: TableContext,
  scope: ReplyScope,
  key: string,
  now: Date,
): Promise<SendRecord | undefined> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: table,
      Key: { pk: partition(scope), sk: `SEND#${key}` },
      ConsistentRead: true,
    }),
  );
  if (!Item || (Item.expiresAt as number) <= epochSeconds(now)) return undefined;
  return {
    state: Item.state,
    delivered: Item.delivered,
    updatedAt: Item.updatedAt,
    ...(typeof Item.text === 'string' && { text: Item.text }),
  } as SendRecord;
}

/** Puts an item unless one is there and still live at `now`: false when one is. */
function putUnlessLive(
  { db, table }: TableContext,
  item: Record<string, unknown>,
  now: Date,
): Promise<boolean> {
  return conditionally(
    db.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
        ExpressionAttributeValues: { ':now': epochSeconds(now) },
      }),
    ),
  );
}

/** Moves a send record on from state `from`: false when it is no longer in it. */
function moveSend(
  { db, table }: TableContext,
  scope: ReplyScope,
  key: string,
  from: SendState,
  to: SendRecord,
): Promise<boolean> {
  return conditionally(
    db.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: partition(scope), sk: `SEND#${key}` },
        // The text goes once nothing more of it will be sent.
        UpdateExpression: `SET #state = :to, delivered = :delivered, updatedAt = :at${
          to.text === undefined ? ' REMOVE #text' : ', #text = :text'
        }`,
        ConditionExpression: '#state = :from',
        ExpressionAttributeNames: { '#state': 'state', '#text': 'text' },
        ExpressionAttributeValues: {
          ':from': from,
          ':to': to.state,
          ':delivered': to.delivered,
          ':at': to.updatedAt,
          ...(to.text !== undefined && { ':text': to.text }),
        },
      }),
    ),
  );
}
