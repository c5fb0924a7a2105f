import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from '../../ports/clock.ts';
import type { ReplyLedger, ReplyScope, SendRecord } from '../../ports/reply-ledger.ts';
import { deletePartition, getKeys, putItems } from './batch.ts';

// usage table, one partition per bot: pk REPLY#<tenantId>#<botId>, with
//   sk SEEN#<key>     a message the webhook took in             expiresAt
//   sk SEND#<key>     the reply to it: state, delivered, text?   updatedAt, expiresAt
//   sk NOTICE#<key>   a polite notice sent (one per window)      expiresAt
// <key> is the reply queue's deduplication id (a digest of bot, channel and the platform's message
// id) or, for notices, a digest of the user and the reason. Reads treat expired items as absent.

const partition = (scope: ReplyScope) => `REPLY#${scope.tenantId}#${scope.botId}`;

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** A conditional write: false when the condition failed. */
async function writeIf(db: DynamoDBDocumentClient, command: PutCommand | UpdateCommand): Promise<boolean> {
  try {
    await (command instanceof PutCommand ? db.send(command) : db.send(command));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export function createDynamoReplyLedger(db: DynamoDBDocumentClient, table: string): ReplyLedger {
  return {
    async seen(scope, keys, now) {
      if (keys.length === 0) return new Set();
      const pk = partition(scope);
      const items = await getKeys(
        db,
        table,
        keys.map((key) => ({ pk, sk: `SEEN#${key}` })),
        { consistent: true },
      );
      const live = items.filter((item) => (item.expiresAt as number) > epochSeconds(now));
      return new Set(live.map((item) => String(item.sk).slice('SEEN#'.length)));
    },

    async remember(scope, keys, expiresAt) {
      const pk = partition(scope);
      await putItems(
        db,
        table,
        keys.map((key) => ({ pk, sk: `SEEN#${key}`, expiresAt })),
      );
    },

    async getSend(scope, key, now) {
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
    },

    beginSend(scope, key, record, expiresAt) {
      return writeIf(
        db,
        new PutCommand({
          TableName: table,
          Item: { pk: partition(scope), sk: `SEND#${key}`, ...record, expiresAt },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
          ExpressionAttributeValues: { ':now': epochSeconds(new Date(record.updatedAt)) },
        }),
      );
    },

    moveSend(scope, key, from, to) {
      return writeIf(
        db,
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
      );
    },

    takeNotice(scope, key, expiresAt, now) {
      return writeIf(
        db,
        new PutCommand({
          TableName: table,
          Item: { pk: partition(scope), sk: `NOTICE#${key}`, expiresAt },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
          ExpressionAttributeValues: { ':now': epochSeconds(now) },
        }),
      );
    },

    async deleteBot(scope) {
      await deletePartition(db, table, partition(scope));
    },
  };
}
