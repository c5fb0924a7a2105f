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
import type { ApiKeyRecord } from '../../domain/api-key.ts';
import { type Bot, upgradeStoredBot } from '../../domain/bot.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type {
  ApiKeyRepository,
  BotRepository,
  Page,
  PageRequest,
  Repositories,
  TenantRepository,
} from '../../ports/repositories.ts';
import { createDynamoDocumentRepository } from './documents.ts';
import { conditionally, type TableContext } from './items.ts';
import { allPages, encodeCursor, pageByPrefix, queryFrom } from './pagination.ts';

// Item layout of the `tenants` table (see docs/ARCHITECTURE.md):
//   tenant  pk TENANT#<tenantId>  sk TENANT              gsi1 TENANTS / <createdAt>#<tenantId>
//   bot     pk TENANT#<tenantId>  sk BOT#<botId>         gsi1 BOT#<botId> / BOT   (lookup by bot id)
//   key     pk KEY#<keyId>        sk KEY                 gsi1 TENANT#<tenantId>#KEYS / <createdAt>#<keyId>
// A tenant's bots live in its own partition, so reading them needs the tenant id: another tenant's
// bot id simply is not there. Keys live by key id so authentication is one consistent read.

const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
const GSI1_KEYS = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;

/** The stored record without its keys and internal counters. */
function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, documentCount: _count, ...rest } = item;
  return rest as T;
}

/** A page of the items filed under one gsi1 partition, in gsi1sk (creation) order. */
async function listByGsi1<T>(
  { db, table }: TableContext,
  partition: string,
  page: PageRequest,
): Promise<Page<T>> {
  const result = await queryFrom(
    db,
    {
      TableName: table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': partition },
      Limit: page.limit,
    },
    page.cursor,
    { gsi1pk: partition },
    GSI1_KEYS,
  );
  return {
    items: (result.Items ?? []).map((item) => strip<T>(item) as T),
    nextCursor: encodeCursor(result.LastEvaluatedKey),
  };
}

/** Every id of a paged list (for deletion cascades). */
const collectIds = async (list: (page: PageRequest) => Promise<Page<{ id: string }>>) =>
  (await allPages(list)).map((item) => item.id);

function keyItem(key: ApiKeyRecord) {
  return {
    pk: `KEY#${key.id}`,
    sk: 'KEY',
    gsi1pk: `${tenantPk(key.tenantId)}#KEYS`,
    gsi1sk: `${key.createdAt}#${key.id}`,
    ...key,
  };
}

function tenantItem(tenant: Tenant) {
  return {
    pk: tenantPk(tenant.id),
    sk: 'TENANT',
    gsi1pk: 'TENANTS',
    gsi1sk: `${tenant.createdAt}#${tenant.id}`,
    ...tenant,
  };
}

/** A stored bot with the settings added since it was saved at their defaults. */
const botOf = (item: Record<string, unknown> | undefined): Bot | undefined => {
  const bot = strip<Bot>(item);
  return bot && upgradeStoredBot(bot);
};

function botItem(bot: Bot) {
  return { pk: tenantPk(bot.tenantId), sk: `BOT#${bot.id}`, gsi1pk: `BOT#${bot.id}`, gsi1sk: 'BOT', ...bot };
}

export function createDynamoRepositories(db: DynamoDBDocumentClient, table: string): Repositories {
  const context: TableContext = { db, table };
  return {
    tenants: createTenantRepository(context),
    keys: createApiKeyRepository(context),
    bots: createBotRepository(context),
    documents: createDynamoDocumentRepository(db, table),
  };
}

function createTenantRepository(context: TableContext): TenantRepository {
  const { db, table } = context;
  const key = (tenantId: string) => ({ pk: tenantPk(tenantId), sk: 'TENANT' });
  return {
    async create(tenant, firstKey) {
      await db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: table,
                Item: tenantItem(tenant),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: table,
                Item: keyItem(firstKey),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    },
    async get(tenantId) {
      const result = await db.send(new GetCommand({ TableName: table, Key: key(tenantId) }));
      return strip<Tenant>(result.Item);
    },
    list: (page) => listByGsi1<Tenant>(context, 'TENANTS', page),
    // SET, not Put: the record also carries counters (documentCount) kept by other writers.
    update: (tenant) =>
      conditionally(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: key(tenant.id),
            UpdateExpression: 'SET #name = :name, #plan = :plan, updatedAt = :updatedAt',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: { '#name': 'name', '#plan': 'plan' },
            ExpressionAttributeValues: {
              ':name': tenant.name,
              ':plan': tenant.plan,
              ':updatedAt': tenant.updatedAt,
            },
          }),
        ),
      ),
    async delete(tenantId) {
      await db.send(new DeleteCommand({ TableName: table, Key: key(tenantId) }));
    },
  };
}

function createApiKeyRepository(context: TableContext): ApiKeyRepository {
  const { db, table } = context;
  const key = (keyId: string) => ({ pk: `KEY#${keyId}`, sk: 'KEY' });
  const keys: ApiKeyRepository = {
    async create(record) {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: keyItem(record),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    async getForAuth(keyId) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: key(keyId), ConsistentRead: true }),
      );
      return strip<ApiKeyRecord>(result.Item);
    },
    list: (tenantId, page) => listByGsi1<ApiKeyRecord>(context, `${tenantPk(tenantId)}#KEYS`, page),
    revoke: (tenantId, keyId) =>
      conditionally(
        db.send(
          new DeleteCommand({
            TableName: table,
            Key: key(keyId),
            ConditionExpression: 'tenantId = :t',
            ExpressionAttributeValues: { ':t': tenantId },
          }),
        ),
      ),
    async touch(tenantId, keyId, at, minIntervalSeconds) {
      const threshold = new Date(at.getTime() - minIntervalSeconds * 1000).toISOString();
      // A key used again within the interval is left as it is: the condition fails, quietly.
      await conditionally(
        db.send(
          new UpdateCommand({
            TableName: table,
            Key: key(keyId),
            UpdateExpression: 'SET lastUsedAt = :now',
            ConditionExpression:
              'tenantId = :t AND (attribute_type(lastUsedAt, :null) OR lastUsedAt < :threshold)',
            ExpressionAttributeValues: {
              ':now': at.toISOString(),
              ':t': tenantId,
              ':null': 'NULL',
              ':threshold': threshold,
            },
          }),
        ),
      );
    },
    listIds: (tenantId) => collectIds((page) => keys.list(tenantId, page)),
  };
  return keys;
}

function createBotRepository(context: TableContext): BotRepository {
  const { db, table } = context;
  const key = (tenantId: string, botId: string) => ({ pk: tenantPk(tenantId), sk: `BOT#${botId}` });
  const bots: BotRepository = {
    async create(bot) {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: botItem(bot),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    async get(tenantId, botId) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: key(tenantId, botId), ConsistentRead: true }),
      );
      return botOf(result.Item);
    },
    list: (tenantId, page) =>
      pageByPrefix(context, tenantPk(tenantId), 'BOT#', page, (item) => botOf(item) as Bot),
    update: (bot, expectedUpdatedAt) => updateBot(context, bot, expectedUpdatedAt),
    async delete(tenantId, botId) {
      const result = await db.send(
        new DeleteCommand({ TableName: table, Key: key(tenantId, botId), ReturnValues: 'ALL_OLD' }),
      );
      return result.Attributes !== undefined;
    },
    listIds: (tenantId) => collectIds((page) => bots.list(tenantId, page)),
    async findById(botId) {
      const result = await db.send(
        new QueryCommand({
          TableName: table,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p AND gsi1sk = :bot',
          ExpressionAttributeValues: { ':p': `BOT#${botId}`, ':bot': 'BOT' },
          Limit: 1,
        }),
      );
      return botOf(result.Items?.[0]);
    },
  };
  return bots;
}

/** Replaces the bot if it is still the version the caller read (optimistic concurrency). */
async function updateBot(
  { db, table }: TableContext,
  bot: Bot,
  expectedUpdatedAt: string,
): Promise<'updated' | 'conflict' | 'missing'> {
  try {
    await db.send(
      new PutCommand({
        TableName: table,
        Item: botItem(bot),
        ConditionExpression: 'attribute_exists(pk) AND updatedAt = :expected',
        ExpressionAttributeValues: { ':expected': expectedUpdatedAt },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return 'updated';
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return error.Item ? 'conflict' : 'missing';
  }
}
