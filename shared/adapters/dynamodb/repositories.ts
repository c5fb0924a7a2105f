import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
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
import { encodeCursor, queryFrom } from './pagination.ts';

// Item layout of the `tenants` table (see docs/ARCHITECTURE.md):
//   tenant  pk TENANT#<tenantId>  sk TENANT              gsi1 TENANTS / <createdAt>#<tenantId>
//   bot     pk TENANT#<tenantId>  sk BOT#<botId>         gsi1 BOT#<botId> / BOT   (lookup by bot id)
//   key     pk KEY#<keyId>        sk KEY                 gsi1 TENANT#<tenantId>#KEYS / <createdAt>#<keyId>
// A tenant's bots live in its own partition, so reading them needs the tenant id: another tenant's
// bot id simply is not there. Keys live by key id so authentication is one consistent read.

const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
const TABLE_KEYS = ['pk', 'sk'] as const;
const GSI1_KEYS = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;

/** The stored record without its keys and internal counters. */
function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, documentCount: _count, ...rest } = item;
  return rest as T;
}

/** Walks every page of a list and returns the ids (for deletion cascades). */
async function collectIds(list: (page: PageRequest) => Promise<Page<{ id: string }>>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 100, cursor });
    ids.push(...page.items.map((item) => item.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

async function queryPage<T>(
  db: DynamoDBDocumentClient,
  input: QueryCommandInput,
  page: PageRequest,
  partition: Record<string, string>,
  keyNames: readonly string[],
): Promise<Page<T>> {
  const result = await queryFrom(db, { ...input, Limit: page.limit }, page.cursor, partition, keyNames);
  return {
    items: (result.Items ?? []).map((item) => strip<T>(item) as T),
    nextCursor: encodeCursor(result.LastEvaluatedKey),
  };
}

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
  /** A page of the items filed under one gsi1 partition, in gsi1sk (creation) order. */
  const listByGsi1 = <T>(partition: string, page: PageRequest) =>
    queryPage<T>(
      db,
      {
        TableName: table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': partition },
      },
      page,
      { gsi1pk: partition },
      GSI1_KEYS,
    );

  const tenants: TenantRepository = {
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
      const result = await db.send(
        new GetCommand({ TableName: table, Key: { pk: tenantPk(tenantId), sk: 'TENANT' } }),
      );
      return strip<Tenant>(result.Item);
    },
    list(page) {
      return listByGsi1<Tenant>('TENANTS', page);
    },
    async update(tenant) {
      // SET, not Put: the record also carries counters (documentCount) kept by other writers.
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: tenantPk(tenant.id), sk: 'TENANT' },
            UpdateExpression: 'SET #name = :name, #plan = :plan, updatedAt = :updatedAt',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: { '#name': 'name', '#plan': 'plan' },
            ExpressionAttributeValues: {
              ':name': tenant.name,
              ':plan': tenant.plan,
              ':updatedAt': tenant.updatedAt,
            },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
    async delete(tenantId) {
      await db.send(new DeleteCommand({ TableName: table, Key: { pk: tenantPk(tenantId), sk: 'TENANT' } }));
    },
  };

  const keys: ApiKeyRepository = {
    async create(key) {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: keyItem(key),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    },
    async getForAuth(keyId) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: { pk: `KEY#${keyId}`, sk: 'KEY' }, ConsistentRead: true }),
      );
      return strip<ApiKeyRecord>(result.Item);
    },
    list(tenantId, page) {
      return listByGsi1<ApiKeyRecord>(`${tenantPk(tenantId)}#KEYS`, page);
    },
    async revoke(tenantId, keyId) {
      try {
        await db.send(
          new DeleteCommand({
            TableName: table,
            Key: { pk: `KEY#${keyId}`, sk: 'KEY' },
            ConditionExpression: 'tenantId = :t',
            ExpressionAttributeValues: { ':t': tenantId },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
    async touch(tenantId, keyId, at, minIntervalSeconds) {
      const threshold = new Date(at.getTime() - minIntervalSeconds * 1000).toISOString();
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: `KEY#${keyId}`, sk: 'KEY' },
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
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    },
    listIds: (tenantId) => collectIds((page) => keys.list(tenantId, page)),
  };

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
        new GetCommand({
          TableName: table,
          Key: { pk: tenantPk(tenantId), sk: `BOT#${botId}` },
          ConsistentRead: true,
        }),
      );
      return botOf(result.Item);
    },
    async list(tenantId, page) {
      const partition = tenantPk(tenantId);
      const found = await queryPage<Bot>(
        db,
        {
          TableName: table,
          KeyConditionExpression: 'pk = :p AND begins_with(sk, :bot)',
          ExpressionAttributeValues: { ':p': partition, ':bot': 'BOT#' },
        },
        page,
        { pk: partition },
        TABLE_KEYS,
      );
      return { ...found, items: found.items.map(upgradeStoredBot) };
    },
    async update(bot, expectedUpdatedAt) {
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
        if (!isConditionFailure(error)) throw error;
        return error.Item ? 'conflict' : 'missing';
      }
    },
    async delete(tenantId, botId) {
      const result = await db.send(
        new DeleteCommand({
          TableName: table,
          Key: { pk: tenantPk(tenantId), sk: `BOT#${botId}` },
          ReturnValues: 'ALL_OLD',
        }),
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

  return { tenants, keys, bots, documents: createDynamoDocumentRepository(db, table) };
}
