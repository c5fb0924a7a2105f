// Bots by id against the platform's DynamoDB Local: every write of a bot writes its copy by id in
// the same transaction, so public chat and webhooks read it with one consistent GetItem; a bot
// stored before the copy existed is found through gsi1 and copied on that read; another tenant
// can neither delete nor reach it.

import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { type Bot, DEFAULT_BOT_SETTINGS } from '../../shared/domain/bot.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { BotRepository } from '../../shared/ports/repositories.ts';
import { platform } from '../support/platform.ts';

let db: ReturnType<typeof createDocumentClient>;
let table: string;
let bots: BotRepository;
/** The operations each test's client sent, by name. */
let sent: string[] = [];

beforeAll(() => {
  Object.assign(process.env, platform().env);
  table = platform().env.TENANTS_TABLE ?? '';
  db = createDocumentClient();
  db.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'recordOperations' },
  );
  bots = createDynamoRepositories(db, table).bots;
});

function newBot(tenantId: string): Bot {
  const at = new Date().toISOString();
  return {
    ...DEFAULT_BOT_SETTINGS,
    name: 'By id',
    id: newId('bot'),
    tenantId,
    createdAt: at,
    updatedAt: at,
  } as Bot;
}

const copyOf = async (botId: string) =>
  (
    await db.send(
      new GetCommand({ TableName: table, Key: { pk: `BOT#${botId}`, sk: 'BOT' }, ConsistentRead: true }),
    )
  ).Item;

describe('bots by id', () => {
  it('reads a bot by id in one GetItem, as it was last written, and not after it was deleted', async () => {
    const tenantId = newId('tnt');
    const bot = newBot(tenantId);
    await bots.create(bot);
    sent = [];
    expect(await bots.findById(bot.id)).toEqual(bot);
    expect(sent).toEqual(['GetItem']);

    const disabled = { ...bot, enabled: false, updatedAt: new Date(Date.now() + 1000).toISOString() };
    expect(await bots.update(disabled, bot.updatedAt)).toBe('updated');
    expect(await bots.findById(bot.id)).toMatchObject({ enabled: false });
    // A stale version changes neither record.
    expect(await bots.update({ ...bot, name: 'Stale' }, bot.updatedAt)).toBe('conflict');
    expect(await bots.findById(bot.id)).toMatchObject({ name: 'By id', enabled: false });
    expect(await bots.update(newBot(tenantId), bot.updatedAt)).toBe('missing');

    // Another tenant cannot delete it, nor its copy.
    expect(await bots.delete(newId('tnt'), bot.id)).toBe(false);
    expect(await bots.findById(bot.id)).toMatchObject({ id: bot.id });
    expect(await bots.delete(tenantId, bot.id)).toBe(true);
    expect(await bots.findById(bot.id)).toBeUndefined();
    expect(await copyOf(bot.id)).toBeUndefined();
    expect(await bots.delete(tenantId, bot.id)).toBe(false);
  });

  it('finds a bot stored before its copy existed through gsi1 and copies it, once', async () => {
    const tenantId = newId('tnt');
    const bot = newBot(tenantId);
    // As bots were stored before: only the tenant's record, found by id through gsi1.
    await db.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: `TENANT#${tenantId}`,
          sk: `BOT#${bot.id}`,
          gsi1pk: `BOT#${bot.id}`,
          gsi1sk: 'BOT',
          ...bot,
        },
      }),
    );
    sent = [];
    expect(await bots.findById(bot.id)).toEqual(bot);
    expect(sent).toEqual(['GetItem', 'Query', 'TransactWriteItems']);
    expect(await copyOf(bot.id)).toMatchObject({ id: bot.id, tenantId, updatedAt: bot.updatedAt });
    sent = [];
    expect(await bots.findById(bot.id)).toEqual(bot);
    expect(sent).toEqual(['GetItem']);
    expect(await bots.get(tenantId, bot.id)).toEqual(bot);
    expect(await bots.delete(tenantId, bot.id)).toBe(true);
    expect(await copyOf(bot.id)).toBeUndefined();
  });
});
