import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { CHANNEL_TYPES, type ChannelConnection } from '../../domain/channel.ts';
import type { BotRepository, ChannelRepository } from '../../ports/repositories.ts';
import { conditionally, conditionFailed, type TableContext } from './items.ts';
import { createDynamoRepositories } from './repositories.ts';

// tenants table, the bot's partition: pk BOT#<botId>, sk CHANNEL#<type>, the tenant's id inside. The
// webhook knows only the bot id of its URL: it finds the connection with one read. Every other read
// returns it only to its own tenant, and every write is conditioned on the tenant, so another
// tenant's bot id finds nothing and changes nothing.
//
// Connections stored before lived in the tenant's partition (pk TENANT#<tenantId>, sk
// CHANNEL#<botId>#<type>). They keep working and move on read: a tenant-scoped read that misses the
// new key reads the old one and moves the item in one transaction (the reply worker's read, at the
// first message; the console's). The webhook does not write: until then it reads the old item
// through the bot's tenant. Once a scan finds no CHANNEL# sort key under a TENANT# partition, the
// `legacy` parts below can go.

const botPk = (botId: string) => `BOT#${botId}`;
const key = (botId: string, type: string) => ({ pk: botPk(botId), sk: `CHANNEL#${type}` });
const legacyPk = (tenantId: string) => `TENANT#${tenantId}`;
const legacyPrefix = (botId: string) => `CHANNEL#${botId}#`;
const legacyKey = (tenantId: string, botId: string, type: string) => ({
  pk: legacyPk(tenantId),
  sk: `${legacyPrefix(botId)}${type}`,
});

function toConnection(item: Record<string, unknown> | undefined): ChannelConnection | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, ...connection } = item;
  return connection as unknown as ChannelConnection;
}

const ofTenant = (connection: ChannelConnection | undefined, tenantId: string) =>
  connection?.tenantId === tenantId ? connection : undefined;

/** The table, through one client, and the bots (a webhook finds an old-layout connection's tenant through its bot). */
interface ChannelTable extends TableContext {
  readonly bots: Pick<BotRepository, 'findById'>;
}

export function createDynamoChannelRepository(db: DynamoDBDocumentClient, table: string): ChannelRepository {
  const context: ChannelTable = { db, table, bots: createDynamoRepositories(db, table).bots };
  return {
    recordInbound: (tenantId, botId, type, at) =>
      update(context, tenantId, botId, type, { lastInboundAt: at }),
    recordDelivery: (tenantId, botId, type, { status, lastError, at }) =>
      update(context, tenantId, botId, type, {
        status,
        ...(lastError !== undefined && { lastError, lastErrorAt: at }),
      }),
    put: (connection) => putConnection(context, connection),
    get: (tenantId, botId, type) => getConnection(context, tenantId, botId, type),
    getForWebhook: (botId, type) => getForWebhook(context, botId, type),
    list: (tenantId, botId) => listConnections(context, tenantId, botId),
    delete: (tenantId, botId, type) => deleteConnection(context, tenantId, botId, type),
  };
}

async function read({ db, table }: TableContext, Key: Record<string, string>) {
  const { Item } = await db.send(new GetCommand({ TableName: table, Key, ConsistentRead: true }));
  return toConnection(Item);
}

async function query({ db, table }: TableContext, pk: string, prefix: string) {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
      ConsistentRead: true,
    }),
  );
  return (Items ?? []).flatMap((item) => toConnection(item) ?? []);
}

/** Moves a connection found under the old key to the new one; the one stored there now. */
async function moveLegacy(
  context: TableContext,
  connection: ChannelConnection,
): Promise<ChannelConnection | undefined> {
  const { db, table } = context;
  const { tenantId, botId, type } = connection;
  try {
    await db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: table,
              Item: { ...key(botId, type), ...connection },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Delete: {
              TableName: table,
              Key: legacyKey(tenantId, botId, type),
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    );
    return connection;
  } catch (error) {
    // Another read moved it first (or it was disconnected meanwhile).
    if (!conditionFailed(error)) throw error;
    return ofTenant(await read(context, key(botId, type)), tenantId);
  }
}

/** Sets fields of the tenant's existing connection; a deleted one stays deleted. */
async function update(
  { db, table }: TableContext,
  tenantId: string,
  botId: string,
  type: string,
  fields: Record<string, unknown>,
) {
  const names = Object.keys(fields);
  try {
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: key(botId, type),
        UpdateExpression: `SET ${names.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk) AND tenantId = :tenant',
        ExpressionAttributeNames: Object.fromEntries(names.map((name, i) => [`#f${i}`, name])),
        ExpressionAttributeValues: {
          ':tenant': tenantId,
          ...Object.fromEntries(names.map((name, i) => [`:v${i}`, fields[name]])),
        },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}

async function putConnection({ db, table }: TableContext, connection: ChannelConnection) {
  const replaced = await conditionally(
    db.send(
      new PutCommand({
        TableName: table,
        Item: { ...key(connection.botId, connection.type), ...connection },
        ConditionExpression: 'attribute_not_exists(pk) OR tenantId = :tenant',
        ExpressionAttributeValues: { ':tenant': connection.tenantId },
      }),
    ),
  );
  if (!replaced) throw new Error('The channel record of this bot belongs to another tenant');
}

async function getConnection(context: TableContext, tenantId: string, botId: string, type: string) {
  const connection = await read(context, key(botId, type));
  if (connection) return ofTenant(connection, tenantId);
  const legacy = await read(context, legacyKey(tenantId, botId, type));
  return legacy && moveLegacy(context, legacy);
}

async function getForWebhook(context: ChannelTable, botId: string, type: string) {
  const connection = await read(context, key(botId, type));
  if (connection) return connection;
  const bot = await context.bots.findById(botId);
  if (!bot) return undefined;
  // Not there either: unknown, or the reply worker moved it after the first read.
  return (await read(context, legacyKey(bot.tenantId, botId, type))) ?? read(context, key(botId, type));
}

async function listConnections(context: TableContext, tenantId: string, botId: string) {
  const [current, legacy] = await Promise.all([
    query(context, botPk(botId), 'CHANNEL#'),
    query(context, legacyPk(tenantId), legacyPrefix(botId)),
  ]);
  const moved = await Promise.all(legacy.map((connection) => moveLegacy(context, connection)));
  // A type in both (moved by another read between the two queries) counts once.
  const connections = [...current, ...moved].flatMap((c) => ofTenant(c, tenantId) ?? []);
  const byType = new Map(connections.map((c) => [c.type, c]));
  return [...byType.values()].sort((a, b) => CHANNEL_TYPES.indexOf(a.type) - CHANNEL_TYPES.indexOf(b.type));
}

async function deleteConnection({ db, table }: TableContext, tenantId: string, botId: string, type: string) {
  try {
    const { Attributes } = await db.send(
      new DeleteCommand({
        TableName: table,
        Key: key(botId, type),
        ConditionExpression: 'tenantId = :tenant',
        ExpressionAttributeValues: { ':tenant': tenantId },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return toConnection(Attributes);
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return undefined;
  }
}
