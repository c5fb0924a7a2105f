import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
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
import { logger } from '../../logging.ts';
import type {
  ApiKeyRepository,
  BotRepository,
  Page,
  PageRequest,
  Repositories,
  TenantRepository,
} from '../../ports/repositories.ts';
import { getKeys } from './batch.ts';
import { createDynamoDocumentRepository } from './documents.ts';
import { conditionally, type TableContext } from './items.ts';
import { allPages, encodeCursor, pageByPrefix, queryFrom } from './pagination.ts';

// Item layout of the `tenants` table (see docs/ARCHITECTURE.md):
//   tenant  pk TENANT#<tenantId>  sk TENANT              gsi1 TENANTS / <createdAt>#<tenantId>
//   bot     pk TENANT#<tenantId>  sk BOT#<botId>         gsi1 BOT#<botId> / BOT
//   bot     pk BOT#<botId>        sk BOT                 (the same bot by id, for public chat and webhooks)
//   key     pk KEY#<keyId>        sk KEY                 gsi1 TENANT#<tenantId>#KEYS / <createdAt>#<keyId>
// A tenant's bots live in its own partition, so reading them needs the tenant id: another tenant's
// bot id simply is not there. Callers that know only a bot id (a public bot's visitors, a
// webhook) read its copy by id: one consistent GetItem, so a bot disabled a moment ago is
// disabled on the next turn. Every write of a bot writes both in one transaction. Bots stored
// before the copy existed are found through gsi1 and copied on that read (conditioned on the
// original still being the version read). Keys live by key id so authentication is one
// consistent read.

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
    async getForAuthWithBot(keyId, botId) {
      const items = await getKeys(db, table, [key(keyId), botByIdKey(botId)], { consistent: true });
      const found = (pk: string) => items.find((item) => item.pk === pk);
      return { key: strip<ApiKeyRecord>(found(`KEY#${keyId}`)), bot: botOf(found(`BOT#${botId}`)) };
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

const botKey = (tenantId: string, botId: string) => ({ pk: tenantPk(tenantId), sk: `BOT#${botId}` });
const botByIdKey = (botId: string) => ({ pk: `BOT#${botId}`, sk: 'BOT' });
/** The bot's copy by id (botItem without the tenant's keys). */
const botByIdItem = (bot: Bot) => ({ ...botByIdKey(bot.id), ...bot });

/** A bot stored before its copy by id existed, from gsi1; copied unless it changed meanwhile. */
async function findByIndex({ db, table }: TableContext, botId: string): Promise<Bot | undefined> {
  const result = await db.send(
    new QueryCommand({
      TableName: table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p AND gsi1sk = :bot',
      ExpressionAttributeValues: { ':p': `BOT#${botId}`, ':bot': 'BOT' },
      Limit: 1,
    }),
  );
  const bot = botOf(result.Items?.[0]);
  if (!bot) return undefined;
  // Best effort: a function that may not write the table (the webhook's) reads through the index
  // until a function that may (chat, the reply worker) copies the bot.
  await conditionally(
    db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            ConditionCheck: {
              TableName: table,
              Key: botKey(bot.tenantId, bot.id),
              ConditionExpression: 'updatedAt = :read',
              ExpressionAttributeValues: { ':read': bot.updatedAt },
            },
          },
          {
            Put: {
              TableName: table,
              Item: botByIdItem(bot),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    ),
  ).catch((error: unknown) => logger.warn('bot not copied by id; read through the index', { error }));
  return bot;
}

function createBotRepository(context: TableContext): BotRepository {
  const { db, table } = context;
  const bots: BotRepository = {
    async create(bot) {
      await db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: { TableName: table, Item: botItem(bot), ConditionExpression: 'attribute_not_exists(pk)' },
            },
            {
              Put: {
                TableName: table,
                Item: botByIdItem(bot),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    },
    async get(tenantId, botId) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: botKey(tenantId, botId), ConsistentRead: true }),
      );
      return botOf(result.Item);
    },
    list: (tenantId, page) =>
      pageByPrefix(context, tenantPk(tenantId), 'BOT#', page, (item) => botOf(item) as Bot),
    update: (bot, expectedUpdatedAt) => updateBot(context, bot, expectedUpdatedAt),
    async delete(tenantId, botId) {
      return conditionally(
        db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: table,
                  Key: botKey(tenantId, botId),
                  ConditionExpression: 'attribute_exists(pk)',
                },
              },
              // The copy goes with it; a bot of another tenant with this id has none to lose.
              {
                Delete: {
                  TableName: table,
                  Key: botByIdKey(botId),
                  ConditionExpression: 'attribute_not_exists(pk) OR tenantId = :tenant',
                  ExpressionAttributeValues: { ':tenant': tenantId },
                },
              },
            ],
          }),
        ),
      );
    },
    listIds: (tenantId) => collectIds((page) => bots.list(tenantId, page)),
    async findById(botId) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: botByIdKey(botId), ConsistentRead: true }),
      );
      return result.Item ? botOf(result.Item) : findByIndex(context, botId);
    },
  };
  return bots;
}

/** Replaces the bot and its copy if it is still the version the caller read (optimistic concurrency). */
async function updateBot(
  { db, table }: TableContext,
  bot: Bot,
  expectedUpdatedAt: string,
): Promise<'updated' | 'conflict' | 'missing'> {
  try {
    await db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: table,
              Item: botItem(bot),
              ConditionExpression: 'attribute_exists(pk) AND updatedAt = :expected',
              ExpressionAttributeValues: { ':expected': expectedUpdatedAt },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          { Put: { TableName: table, Item: botByIdItem(bot) } },
        ],
      }),
    );
    return 'updated';
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const [reason] = error.CancellationReasons ?? [];
    if (reason?.Code !== 'ConditionalCheckFailed') throw error;
    return reason.Item ? 'conflict' : 'missing';
  }
}
