import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { CHANNEL_TYPES, type ChannelConnection } from '../../domain/channel.ts';
import type { ChannelRepository } from '../../ports/repositories.ts';

// tenants table, the tenant's partition: pk TENANT#<tenantId>, sk CHANNEL#<botId>#<type>. The
// webhook finds the tenant through the bot (by id) and then reads the connection by key.

const pk = (tenantId: string) => `TENANT#${tenantId}`;
const sk = (botId: string, type: string) => `CHANNEL#${botId}#${type}`;

function toConnection(item: Record<string, unknown> | undefined): ChannelConnection | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, ...connection } = item;
  return connection as unknown as ChannelConnection;
}

export function createDynamoChannelRepository(db: DynamoDBDocumentClient, table: string): ChannelRepository {
  /** Sets fields of an existing connection; a deleted one stays deleted. */
  async function update(tenantId: string, botId: string, type: string, fields: Record<string, unknown>) {
    const names = Object.keys(fields);
    try {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: pk(tenantId), sk: sk(botId, type) },
          UpdateExpression: `SET ${names.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: Object.fromEntries(names.map((name, i) => [`#f${i}`, name])),
          ExpressionAttributeValues: Object.fromEntries(names.map((name, i) => [`:v${i}`, fields[name]])),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  return {
    recordInbound: (tenantId, botId, type, at) => update(tenantId, botId, type, { lastInboundAt: at }),

    recordDelivery: (tenantId, botId, type, { status, lastError, at }) =>
      update(tenantId, botId, type, {
        status,
        ...(lastError !== undefined && { lastError, lastErrorAt: at }),
      }),

    async put(connection) {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: { pk: pk(connection.tenantId), sk: sk(connection.botId, connection.type), ...connection },
        }),
      );
    },

    async get(tenantId, botId, type) {
      const { Item } = await db.send(
        new GetCommand({
          TableName: table,
          Key: { pk: pk(tenantId), sk: sk(botId, type) },
          ConsistentRead: true,
        }),
      );
      return toConnection(Item);
    },

    async list(tenantId, botId) {
      const { Items } = await db.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk(tenantId), ':prefix': `CHANNEL#${botId}#` },
          ConsistentRead: true,
        }),
      );
      const connections = (Items ?? []).flatMap((item) => toConnection(item) ?? []);
      return connections.sort((a, b) => CHANNEL_TYPES.indexOf(a.type) - CHANNEL_TYPES.indexOf(b.type));
    },

    async delete(tenantId, botId, type) {
      const { Attributes } = await db.send(
        new DeleteCommand({
          TableName: table,
          Key: { pk: pk(tenantId), sk: sk(botId, type) },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return toConnection(Attributes);
    },
  };
}
