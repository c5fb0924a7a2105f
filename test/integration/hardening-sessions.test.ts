// Who may reach a session through /chat (issue 14, finding 11): anonymous callers only `web`
// sessions (their server-issued id is their bearer secret); `api` sessions need the tenant's key;
// a messaging user's session is reachable only through its channel. Unreachable sessions answer
// like unknown ids: the chat starts a new session, the delete is 404.

import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { channelSessionId } from '../../shared/domain/ids.ts';
import type { ChatSession } from '../../shared/domain/session.ts';
import { epochSeconds } from '../../shared/ports/clock.ts';
import type { SessionRepository } from '../../shared/ports/repositories.ts';
import { api, platform } from '../support/platform.ts';

const ORIGIN = 'https://shop.example.com';
let key: string;
let tenantId: string;
let botId: string;
let sessions: SessionRepository;

beforeAll(async () => {
  Object.assign(process.env, platform().env);
  sessions = createDynamoSessionRepository(createDocumentClient(), platform().env.SESSIONS_TABLE ?? '');
  const tenant = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name: 'Sessions Co' },
  });
  key = tenant.json.apiKey;
  tenantId = tenant.json.tenant.id;
  const bot = await api('/admin/bots', {
    method: 'POST',
    key,
    body: {
      name: 'Desk',
      visibility: 'public',
      allowedOrigins: [ORIGIN],
      rateLimits: { perMinute: 1000, perSecond: 100, perUserPerMinute: 100 },
    },
  });
  botId = bot.json.bot.id;
}, 60_000);

const anonymous = { headers: { origin: ORIGIN } };

/** A messaging user's session as the reply worker stores it (its id is derived, not secret). */
async function telegramSession(): Promise<ChatSession> {
  const now = new Date();
  const session: ChatSession = {
    id: channelSessionId(tenantId, botId, 'telegram', '4242'),
    tenantId,
    botId,
    channel: 'telegram',
    userKey: 'telegram:4242',
    createdAt: now.toISOString(),
    lastMessageAt: now.toISOString(),
    expiresAt: epochSeconds(now) + 3600,
  };
  await sessions.create(session);
  return session;
}

describe('session access through /chat', () => {
  it('does not let an anonymous caller delete a messaging user’s conversation', async () => {
    const session = await telegramSession();
    const anon = await api(`/chat/${botId}/sessions/${session.id}`, { method: 'DELETE', ...anonymous });
    expect([anon.status, anon.json?.error?.code]).toEqual([404, 'not_found']);
    // Not with the tenant's key either: the conversation belongs to the channel user.
    const keyed = await api(`/chat/${botId}/sessions/${session.id}`, { method: 'DELETE', key });
    expect(keyed.status).toBe(404);
    expect(await sessions.get(tenantId, botId, session.id, new Date())).toMatchObject({ id: session.id });
  });

  it('keeps a tenant’s api session from anonymous callers who know its id', async () => {
    const started = await api(`/chat/${botId}`, { key, body: { message: 'hello from the backend' } });
    expect(started.status).toBe(200);
    const apiSession: string = started.json.sessionId;

    // Continuing it anonymously starts a new session instead (nothing revealed, nothing joined).
    const continued = await api(`/chat/${botId}`, {
      ...anonymous,
      body: { message: 'let me in', sessionId: apiSession },
    });
    expect(continued.status).toBe(200);
    expect(continued.json.sessionId).not.toBe(apiSession);
    const streamed = await api(`/chat/${botId}/stream`, {
      ...anonymous,
      body: { message: 'let me in', sessionId: apiSession },
    });
    expect(streamed.status).toBe(200);
    expect(streamed.text).toMatch(/event: session\ndata: \{"sessionId":"ses_/);
    expect(streamed.text).not.toContain(apiSession);
    expect((await sessions.history(tenantId, apiSession, 20, new Date())).length).toBe(2);

    const anonDelete = await api(`/chat/${botId}/sessions/${apiSession}`, { method: 'DELETE', ...anonymous });
    expect([anonDelete.status, anonDelete.json?.error?.code]).toEqual([404, 'not_found']);
    expect(await sessions.get(tenantId, botId, apiSession, new Date())).toBeDefined();

    // The tenant's key still reaches it.
    const keyedDelete = await api(`/chat/${botId}/sessions/${apiSession}`, { method: 'DELETE', key });
    expect(keyedDelete.status).toBe(204);
  });

  it('lets an anonymous caller continue and clear its own web session', async () => {
    const first = await api(`/chat/${botId}`, { ...anonymous, body: { message: 'hi' } });
    const webSession: string = first.json.sessionId;
    const again = await api(`/chat/${botId}`, {
      ...anonymous,
      body: { message: 'and?', sessionId: webSession },
    });
    expect(again.json.sessionId).toBe(webSession);
    const cleared = await api(`/chat/${botId}/sessions/${webSession}`, { method: 'DELETE', ...anonymous });
    expect(cleared.status).toBe(204);
    const gone = await api(`/chat/${botId}/sessions/${webSession}`, { method: 'DELETE', ...anonymous });
    expect(gone.status).toBe(404);
  });
});
