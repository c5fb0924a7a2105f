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
import { conditionally, pickFields, type TableContext } from './items.ts';
import { encodeCursor, queryFrom } from './pagination.ts';

// sessions table: one partition per session, pk TENANT#<tenantId>#SESSION#<sessionId>, with the
// session record at sk SESSION (also in gsi1 under TENANT#<tenantId>#BOT#<botId> / <createdAt>#<id>
// for the admin's list) and each message at sk MSG#<createdAt>#<messageId>. The record sorts after
// every message, so one Query read backwards returns the record and the latest messages: a turn's
// one read of its conversation. Everything carries `expiresAt` for DynamoDB's TTL; reads treat
// expired items as absent, since TTL deletes lazily.
//
// Sessions stored before kept their record at sk META (which sorts before the messages): one found
// there is moved to SESSION when a turn opens it (once; later turns read it in their one Query).

const sessionPk = (tenantId: string, sessionId: string) => `TENANT#${tenantId}#SESSION#${sessionId}`;
const botPartition = (tenantId: string, botId: string) => `TENANT#${tenantId}#BOT#${botId}`;
const SESSION_SK = 'SESSION';
const LEGACY_SESSION_SK = 'META';
const MESSAGE_PREFIX = 'MSG#';

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
    open: (tenantId, botId, sessionId, limit, now) =>
      openSession(context, tenantId, botId, sessionId, limit, now),
    create: (session) => createSession(context, session),
    history: (tenantId, sessionId, limit, now) => readHistory(context, tenantId, sessionId, limit, now),
    append: (session, messages, expiresAt, at) => appendMessages(context, session, messages, expiresAt, at),
    list: (tenantId, botId, page, now) => listSessions(context, tenantId, botId, page, now),
    delete: (tenantId, botId, sessionId) => deleteSession(context, tenantId, botId, sessionId),
    deleteAllOfBot: (tenantId, botId) => deleteSessionsOfBot(context, tenantId, botId),
  };
}

/** A live session of the bot from its stored record; undefined otherwise. */
function liveSession(item: Record<string, unknown> | undefined, botId: string, now: Date) {
  if (!item || item.botId !== botId || (item.expiresAt as number) <= epochSeconds(now)) return undefined;
  return pickFields<ChatSession>(item, SESSION_FIELDS);
}

const getRecord = async ({ db, table }: TableContext, pk: string, sk: string) =>
  (await db.send(new GetCommand({ TableName: table, Key: { pk, sk }, ConsistentRead: true }))).Item;

async function getSession(
  context: TableContext,
  tenantId: string,
  botId: string,
  sessionId: string,
  now: Date,
): Promise<ChatSession | undefined> {
  const pk = sessionPk(tenantId, sessionId);
  const item =
    (await getRecord(context, pk, SESSION_SK)) ?? (await getRecord(context, pk, LEGACY_SESSION_SK));
  return liveSession(item, botId, now);
}

/**
 * The session and its last `limit` live messages (oldest first) in one Query: the record, then
 * the messages newest first. A record still at the old key is moved (see above).
 */
async function openSession(
  context: TableContext,
  tenantId: string,
  botId: string,
  sessionId: string,
  limit: number,
  now: Date,
): Promise<{ session?: ChatSession; history: StoredMessage[] }> {
  const pk = sessionPk(tenantId, sessionId);
  const { Items = [] } = await context.db.send(
    new QueryCommand({
      TableName: context.table,
      KeyConditionExpression: 'pk = :pk AND sk <= :session',
      ExpressionAttributeValues: { ':pk': pk, ':session': SESSION_SK },
      ScanIndexForward: false,
      ConsistentRead: true,
      // Expired messages are skipped after the limit: read some extra so the count holds.
      Limit: 1 + Math.max(0, limit) * 2,
    }),
  );
  const record = Items[0]?.sk === SESSION_SK ? Items[0] : await movedRecord(context, pk);
  const session = liveSession(record, botId, now);
  if (!session) return { history: [] };
  const history = Items.filter(
    (item) => String(item.sk).startsWith(MESSAGE_PREFIX) && (item.expiresAt as number) > epochSeconds(now),
  )
    .slice(0, Math.max(0, limit))
    .reverse()
    .map((item) => pickFields<StoredMessage>(item, MESSAGE_FIELDS));
  return { session, history };
}

/** A record stored at the old key, moved to the new one; undefined when there is none. */
async function movedRecord(context: TableContext, pk: string) {
  const legacy = await getRecord(context, pk, LEGACY_SESSION_SK);
  // None there: unknown, or another open moved it after this one's Query.
  if (!legacy) return getRecord(context, pk, SESSION_SK);
  const moved = await conditionally(
    context.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: context.table,
              Item: { ...legacy, sk: SESSION_SK },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Delete: {
              TableName: context.table,
              Key: { pk, sk: LEGACY_SESSION_SK },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    ),
  );
  // Another turn moved it first: the record is at the new key now.
  return moved ? legacy : getRecord(context, pk, SESSION_SK);
}

/** The Put of a new session's record; an expired one with the same id (a channel user's) is replaced. */
function sessionPut(table: string, session: ChatSession) {
  return {
    TableName: table,
    Item: {
      pk: sessionPk(session.tenantId, session.id),
      sk: SESSION_SK,
      gsi1pk: botPartition(session.tenantId, session.botId),
      gsi1sk: `${session.createdAt}#${session.id}`,
      ...session,
    },
    // A channel user's session id is derived: it may still hold an expired session (TTL
    // deletes lazily), whose messages stay unread as expired.
    ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
    ExpressionAttributeValues: { ':now': epochSeconds(new Date(session.createdAt)) },
  };
}

async function createSession({ db, table }: TableContext, session: ChatSession): Promise<void> {
  await db.send(new PutCommand(sessionPut(table, session)));
}

/** What a turn writes to its conversation, in one transaction: the session record, then its messages. */
export interface ConversationWrite {
  readonly session: ChatSession;
  /** The session starts with these messages (its record is created), or goes on (its record must exist). */
  readonly isNew: boolean;
  readonly messages: readonly StoredMessage[];
  readonly expiresAt: number;
  readonly at: string;
}

/** The transaction items of a conversation write; the record's comes first. */
export function conversationItems(table: string, write: ConversationWrite) {
  const { session, expiresAt, at } = write;
  const pk = sessionPk(session.tenantId, session.id);
  const record = write.isNew
    ? { Put: sessionPut(table, { ...session, lastMessageAt: at, expiresAt }) }
    : {
        Update: {
          TableName: table,
          Key: { pk, sk: SESSION_SK },
          UpdateExpression: 'SET lastMessageAt = :at, expiresAt = :expiresAt',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':at': at, ':expiresAt': expiresAt },
        },
      };
  return [
    record,
    ...write.messages.map((message) => ({
      Put: {
        TableName: table,
        Item: { pk, sk: `${MESSAGE_PREFIX}${message.createdAt}#${message.id}`, ...message, expiresAt },
      },
    })),
  ];
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
        ':msg': MESSAGE_PREFIX,
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
  await db.send(
    new TransactWriteCommand({
      TransactItems: conversationItems(table, { session, isNew: false, messages, expiresAt, at }),
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
  const item =
    (await getRecord(context, pk, SESSION_SK)) ?? (await getRecord(context, pk, LEGACY_SESSION_SK));
  if (!item || item.botId !== botId) return false;
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
