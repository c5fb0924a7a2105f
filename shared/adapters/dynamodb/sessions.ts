import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ChatSession, StoredMessage } from '../../domain/session.ts';
import { epochSeconds } from '../../ports/clock.ts';
import type { Page, PageRequest, SessionRepository } from '../../ports/repositories.ts';
import { deletePartition } from './batch.ts';
import { pickFields, type TableContext } from './items.ts';
import { encodeCursor, queryFrom } from './pagination.ts';

// sessions table: one partition per session, pk TENANT#<tenantId>#SESSION#<sessionId>, with the
// session record at sk META (also in gsi1 under TENANT#<tenantId>#BOT#<botId> / <createdAt>#<id>
// for the admin's list) and each message at sk MSG#<createdAt>#<messageId>. Everything carries
// `expiresAt` for DynamoDB's TTL; reads treat expired items as absent, since TTL deletes lazily.

const sessionPk = (tenantId: string, sessionId: string) => `TENANT#${tenantId}#SESSION#${sessionId}`;
const botPartition = (tenantId: string, botId: string) => `TENANT#${tenantId}#BOT#${botId}`;

const SESSION_FIELDS = [
  'id',
  'tenantId',
  'botId',
  'channel',
  'userKey',
  'createdAt',
  'lastMessageAt',
  'expiresAt',
] as const;
const MESSAGE_FIELDS = [
  'id',
  'role',
  'content',
  'createdAt',
  'inputTokens',
  'outputTokens',
  'latencyMs',
  'citations',
  'fallback',
  'answered',
] as const;

export function createDynamoSessionRepository(db: DynamoDBDocumentClient, table: string): SessionRepository {
  const context: TableContext = { db, table };
  return {
    get: (tenantId, botId, sessionId, now) => getSession(context, tenantId, botId, sessionId, now),
    create: (session) => createSession(context, session),
    history: (tenantId, sessionId, limit, now) => readHistory(context, tenantId, sessionId, limit, now),
    append: (session, messages, expiresAt, at) => appendMessages(context, session, messages, expiresAt, at),
    list: (tenantId, botId, page, now) => listSessions(context, tenantId, botId, page, now),
    delete: (tenantId, botId, sessionId) => deleteSession(context, tenantId, botId, sessionId),
    deleteAllOfBot: (tenantId, botId) => deleteSessionsOfBot(context, tenantId, botId),
  };
}

async function getSession(
  { db, table }: TableContext,
  tenantId: string,
  botId: string,
  sessionId: string,
  now: Date,
): Promise<ChatSession | undefined> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: table,
      Key: { pk: sessionPk(tenantId, sessionId), sk: 'META' },
      ConsistentRead: true,
    }),
  );
  if (!Item || Item.botId !== botId || (Item.expiresAt as number) <= epochSeconds(now)) return undefined;
  return pickFields<ChatSession>(Item, SESSION_FIELDS);
}

async function createSession({ db, table }: TableContext, session: ChatSession): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: table,
      Item: {
        pk: sessionPk(session.tenantId, session.id),
        sk: 'META',
        gsi1pk: botPartition(session.tenantId, session.botId),
        gsi1sk: `${session.createdAt}#${session.id}`,
        ...session,
      },
      // A channel user's session id is derived: it may still hold an expired session (TTL
      // deletes lazily), whose messages stay unread as expired.
      ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
      ExpressionAttributeValues: { ':now': epochSeconds(new Date(session.createdAt)) },
    }),
  );
}

/** The session's last `limit` live messages, oldest first. */
async function readHistory(
  { db, table }: TableContext,
  tenantId: string,
  sessionId: string,
  limit: number,
  now: Date,
): Promise<StoredMessage[]> {
  if (limit <= 0) return [];
  const { Items } = await db.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: {
        ':pk': sessionPk(tenantId, sessionId),
        ':msg': 'MSG#',
        ':now': epochSeconds(now),
      },
      ScanIndexForward: false,
      ConsistentRead: true,
      // Expired messages are filtered after the limit: read some extra so the count holds.
      Limit: limit * 2,
    }),
  );
  return (Items ?? [])
    .slice(0, limit)
    .reverse()
    .map((item) => pickFields<StoredMessage>(item, MESSAGE_FIELDS));
}

async function appendMessages(
  { db, table }: TableContext,
  session: ChatSession,
  messages: readonly StoredMessage[],
  expiresAt: number,
  at: string,
): Promise<void> {
  const pk = sessionPk(session.tenantId, session.id);
  await db.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Update: {
            TableName: table,
            Key: { pk, sk: 'META' },
            UpdateExpression: 'SET lastMessageAt = :at, expiresAt = :expiresAt',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':at': at, ':expiresAt': expiresAt },
          },
        },
        ...messages.map((message) => ({
          Put: {
            TableName: table,
            Item: { pk, sk: `MSG#${message.createdAt}#${message.id}`, ...message, expiresAt },
          },
        })),
      ],
    }),
  );
}

async function listSessions(
  { db, table }: TableContext,
  tenantId: string,
  botId: string,
  page: PageRequest,
  now: Date,
): Promise<Page<ChatSession>> {
  const partition = botPartition(tenantId, botId);
  const result = await queryFrom(
    db,
    {
      TableName: table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':p': partition, ':now': epochSeconds(now) },
      ScanIndexForward: false,
      Limit: page.limit,
    },
    page.cursor,
    { gsi1pk: partition },
    ['pk', 'sk', 'gsi1pk', 'gsi1sk'],
  );
  return {
    items: (result.Items ?? []).map((item) => pickFields<ChatSession>(item, SESSION_FIELDS)),
    nextCursor: encodeCursor(result.LastEvaluatedKey),
  };
}

async function deleteSession(
  context: TableContext,
  tenantId: string,
  botId: string,
  sessionId: string,
): Promise<boolean> {
  const pk = sessionPk(tenantId, sessionId);
  const { Item } = await context.db.send(
    new GetCommand({ TableName: context.table, Key: { pk, sk: 'META' }, ConsistentRead: true }),
  );
  if (!Item || Item.botId !== botId) return false;
  // Messages carry the same TTL, so a deletion cut short leaves nothing for long.
  await deletePartition(context.db, context.table, pk);
  return true;
}

async function deleteSessionsOfBot(context: TableContext, tenantId: string, botId: string): Promise<number> {
  // Walk the index page by page (it is eventually consistent: re-reading from the start
  // could return sessions just deleted).
  let deleted = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const result = await context.db.send(
      new QueryCommand({
        TableName: context.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': botPartition(tenantId, botId) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of result.Items ?? [])
      if (await deleteSession(context, tenantId, botId, item.id as string)) deleted++;
    start = result.LastEvaluatedKey;
  } while (start);
  return deleted;
}
