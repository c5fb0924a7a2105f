// The sessions repository against the platform's DynamoDB Local: history order and limit, expiry
// by the clock (DynamoDB's TTL deletes lazily, so reads must treat expired items as absent),
// isolation between bots, listing and deletion; a turn's one read of its session and history
// (`open`), and sessions stored under the old record key moved on first open.

import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { ChatSession, StoredMessage } from '../../shared/domain/session.ts';
import { epochSeconds } from '../../shared/ports/clock.ts';
import type { SessionRepository } from '../../shared/ports/repositories.ts';
import { platform } from '../support/platform.ts';

let sessions: SessionRepository;
let table: string;
beforeAll(() => {
  Object.assign(process.env, platform().env);
  table = platform().env.SESSIONS_TABLE ?? '';
  sessions = createDynamoSessionRepository(createDocumentClient(), table);
});

// Real time: DynamoDB Local runs TTL, and would delete items that expired in the past.
const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function newSession(tenantId: string, botId: string, ttl: number): ChatSession {
  return {
    id: newId('ses'),
    tenantId,
    botId,
    channel: 'web',
    userKey: 'u1',
    createdAt: t0.toISOString(),
    lastMessageAt: t0.toISOString(),
    expiresAt: epochSeconds(t0) + ttl,
  };
}

const message = (n: number, role: 'user' | 'assistant'): StoredMessage => ({
  id: newId('msg'),
  role,
  content: `message ${n}`,
  createdAt: at(n).toISOString(),
  inputTokens: role === 'assistant' ? 10 : 0,
  outputTokens: role === 'assistant' ? 5 : 0,
});

/** A new session (1 h) with `turns` turns, a question and its answer each, one every 2 s from t0. */
async function sessionWithTurns(tenantId: string, botId: string, turns: number): Promise<ChatSession> {
  const session = newSession(tenantId, botId, 3600);
  await sessions.create(session);
  for (let n = 0; n < turns * 2; n += 2) {
    await sessions.append(
      session,
      [message(n, 'user'), message(n + 1, 'assistant')],
      epochSeconds(at(n)) + 3600,
      at(n).toISOString(),
    );
  }
  return session;
}

describe('sessions', () => {
  it('keeps messages in order, returns the last N, and moves expiry with each message', async () => {
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const session = await sessionWithTurns(tenantId, botId, 3);
    const history = await sessions.history(tenantId, session.id, 4, at(10));
    expect(history.map((m) => m.content)).toEqual(['message 2', 'message 3', 'message 4', 'message 5']);
    expect(history[1]).toMatchObject({ role: 'assistant', inputTokens: 10, outputTokens: 5 });

    expect(await sessions.get(tenantId, botId, session.id, at(3600 + 3))).toMatchObject({ id: session.id });
    expect(await sessions.get(tenantId, botId, session.id, at(3600 + 5))).toBeUndefined();
    // Messages expire one by one: at t+3601 s the first turn's are gone, the later ones remain.
    expect((await sessions.history(tenantId, session.id, 10, at(3601))).map((m) => m.content)).toEqual([
      'message 2',
      'message 3',
      'message 4',
      'message 5',
    ]);
  });

  it("is not found under another bot, and lists and deletes a bot's sessions only", async () => {
    const tenantId = newId('tnt');
    const botA = newId('bot');
    const botB = newId('bot');
    const a1 = newSession(tenantId, botA, 3600);
    const a2 = newSession(tenantId, botA, 3600);
    const b1 = newSession(tenantId, botB, 3600);
    for (const s of [a1, a2, b1]) {
      await sessions.create(s);
      await sessions.append(s, [message(1, 'user')], s.expiresAt, at(1).toISOString());
    }
    expect(await sessions.get(tenantId, botB, a1.id, t0)).toBeUndefined();
    expect(await sessions.delete(tenantId, botB, a1.id)).toBe(false);

    const listed = await sessions.list(tenantId, botA, { limit: 10 }, t0);
    expect(listed.items.map((s) => s.id).sort()).toEqual([a1.id, a2.id].sort());

    expect(await sessions.delete(tenantId, botA, a1.id)).toBe(true);
    expect(await sessions.get(tenantId, botA, a1.id, t0)).toBeUndefined();
    expect(await sessions.history(tenantId, a1.id, 10, t0)).toEqual([]);

    expect(await sessions.deleteAllOfBot(tenantId, botA)).toBe(1);
    expect((await sessions.list(tenantId, botA, { limit: 10 }, t0)).items).toEqual([]);
    expect(await sessions.get(tenantId, botB, b1.id, t0)).toMatchObject({ id: b1.id });
  });

  it('opens a session with its last messages in one read, and nothing for another bot or an expired one', async () => {
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const session = await sessionWithTurns(tenantId, botId, 4);
    const opened = await sessions.open(tenantId, botId, session.id, 4, at(10));
    expect(opened.session).toMatchObject({ id: session.id, lastMessageAt: at(6).toISOString() });
    expect(opened.history.map((m) => m.content)).toEqual([
      'message 4',
      'message 5',
      'message 6',
      'message 7',
    ]);
    expect(await sessions.open(tenantId, botId, session.id, 0, at(10))).toMatchObject({ history: [] });
    expect(opened.session).toEqual(await sessions.get(tenantId, botId, session.id, at(10)));
    // The first turn's messages expired first; the session outlives them.
    const later = await sessions.open(tenantId, botId, session.id, 10, at(3601));
    expect(later.history.map((m) => m.content)).toEqual([
      'message 2',
      'message 3',
      'message 4',
      'message 5',
      'message 6',
      'message 7',
    ]);
    expect(await sessions.open(tenantId, newId('bot'), session.id, 4, at(10))).toEqual({ history: [] });
    expect(await sessions.open(tenantId, botId, session.id, 4, at(3600 + 7))).toEqual({ history: [] });
    expect(await sessions.open(tenantId, botId, newId('ses'), 4, at(10))).toEqual({ history: [] });
  });

  it('moves a session stored under the old record key when it is opened, once', async () => {
    const tenantId = newId('tnt');
    const botId = newId('bot');
    const session = newSession(tenantId, botId, 3600);
    const pk = `TENANT#${tenantId}#SESSION#${session.id}`;
    const db = createDocumentClient();
    // As sessions were stored before: the record at sk META, before its messages.
    await db.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk,
          sk: 'META',
          gsi1pk: `TENANT#${tenantId}#BOT#${botId}`,
          gsi1sk: `${session.createdAt}#${session.id}`,
          ...session,
        },
      }),
    );
    for (const n of [0, 1]) {
      const m = message(n, n === 0 ? 'user' : 'assistant');
      await db.send(
        new PutCommand({
          TableName: table,
          Item: { pk, sk: `MSG#${m.createdAt}#${m.id}`, ...m, expiresAt: session.expiresAt },
        }),
      );
    }
    expect(await sessions.get(tenantId, botId, session.id, t0)).toMatchObject({ id: session.id });
    const [first, second] = await Promise.all([
      sessions.open(tenantId, botId, session.id, 4, at(2)),
      sessions.open(tenantId, botId, session.id, 4, at(2)),
    ]);
    for (const opened of [first, second]) {
      expect(opened.session).toMatchObject({ id: session.id });
      expect(opened.history.map((m) => m.content)).toEqual(['message 0', 'message 1']);
    }
    const { Items = [] } = await db.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      }),
    );
    expect(Items.map((item) => (String(item.sk).startsWith('MSG#') ? 'MSG#' : item.sk))).toEqual([
      'MSG#',
      'MSG#',
      'SESSION',
    ]);
    // Listed once, continued and deleted as any other.
    expect((await sessions.list(tenantId, botId, { limit: 10 }, t0)).items.map((s) => s.id)).toEqual([
      session.id,
    ]);
    await sessions.append(session, [message(2, 'user')], session.expiresAt, at(2).toISOString());
    expect((await sessions.open(tenantId, botId, session.id, 4, at(3))).history).toHaveLength(3);
    expect(await sessions.delete(tenantId, botId, session.id)).toBe(true);
    expect(await sessions.open(tenantId, botId, session.id, 4, at(3))).toEqual({ history: [] });
  });
});
