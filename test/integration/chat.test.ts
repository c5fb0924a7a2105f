// Chat over HTTP against the local platform, with the offline `local` model: an answer grounded in
// the bot's own document with its citation, sessions, CORS for public bots, errors and limits.

import { beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { makePdf } from '../fixtures/documents/pdf.ts';
import { uploadDocument, waitForDocument } from '../support/knowledge.ts';
import { api, platform } from '../support/platform.ts';
import { startEarlyInMinute } from '../support/wait.ts';

const FACTS = `# Company history

## The Zorblax teapot

The Zorblax-9 teapot was invented by Marguerite Oyelaran in 1987 in Tromsø.

## Opening hours

The museum shop opens at 10:30 every day except Mondays.
`;

const ORIGIN = 'https://shop.example.com';
const ORRERY_FACT = 'The brass orrery of the Vellmark observatory was rebuilt by Ilse Tarnowitz in 1911.';
let key: string;
let botId: string;
let otherBotId: string;
let documentId: string;

beforeAll(async () => {
  const tenant = await api('/admin/tenants', {
    method: 'POST',
    key: platform().operatorKey,
    body: { name: 'Chat Co' },
  });
  key = tenant.json.apiKey;
  const bot = await api('/admin/bots', {
    method: 'POST',
    key,
    body: {
      name: 'Museum',
      visibility: 'public',
      allowedOrigins: [ORIGIN],
      retrieval: { topK: 3, minScore: 0.2 },
      rateLimits: { perMinute: 1000, perSecond: 100, perUserPerMinute: 100 },
    },
  });
  botId = bot.json.bot.id;
  otherBotId = (await api('/admin/bots', { method: 'POST', key, body: { name: 'Other' } })).json.bot.id;
  const doc = await uploadDocument(key, botId, {
    filename: 'history.md',
    contentType: 'text/markdown',
    bytes: new TextEncoder().encode(FACTS),
  });
  documentId = doc.id;
  expect((await waitForDocument(key, botId, documentId)).status).toBe('ready');
}, 120_000);

/** Moves the functions' clock `offsetSeconds` from now (the gateway's test hook). */
async function moveClock(offsetSeconds: number) {
  const moved = await api('/_local/clock', { method: 'PUT', body: { offsetSeconds } });
  expect(moved.status).toBe(200);
}

const ask = (
  bot: string,
  message: string,
  extra: { sessionId?: string; key?: string; origin?: string } = {},
) =>
  api(`/chat/${bot}`, {
    method: 'POST',
    key: extra.key,
    headers: extra.origin ? { origin: extra.origin } : {},
    body: { message, ...(extra.sessionId && { sessionId: extra.sessionId }) },
  });

/** The DynamoDB calls the local gateway counted for a response (Server-Timing), as it describes them. */
const dynamodbCalls = (res: { headers: Record<string, string | undefined> }) =>
  /dynamodb;desc="([^"]*)"/.exec(res.headers['server-timing'] ?? '')?.[1];

describe('chat', () => {
  it('answers from the bot’s document with a citation, and says no language model is configured', async () => {
    const res = await ask(botId, 'Who invented the Zorblax-9 teapot?', { key });
    expect(res.status).toBe(200);
    expect(res.json.reply).toContain('Marguerite Oyelaran');
    expect(res.json.reply).toMatch(/no language model is configured/i);
    expect(res.json.citations[0]).toMatchObject({
      documentId,
      filename: 'history.md',
      heading: 'The Zorblax teapot',
    });
    expect(res.json).toMatchObject({ sessionId: expect.stringMatching(/^ses_/), fallback: false });
    expect(res.json.usage.inputTokens).toBeGreaterThan(0);
    // The local gateway counts the turn's DynamoDB calls by operation (bench/chat reads them): a
    // new session is written with the turn's messages and usage, in the turn's second transaction.
    expect(dynamodbCalls(res)).toMatch(/TransactWriteItems 2\)$/);
  });

  it("keeps the session across turns, and another bot of the tenant can't see the document", async () => {
    const first = await ask(botId, 'When does the museum shop open?', { key });
    const second = await ask(botId, 'Who invented the Zorblax-9 teapot?', {
      key,
      sessionId: first.json.sessionId,
    });
    expect(second.json.sessionId).toBe(first.json.sessionId);
    // A follow-up turn: the key with the bot, the session with its history, the admission, the record.
    expect(dynamodbCalls(second)).toBe('4 (BatchGetItem 1, Query 1, TransactWriteItems 2)');

    const other = await ask(otherBotId, 'Who invented the Zorblax-9 teapot?', { key });
    expect(other.status).toBe(200);
    expect(other.json.reply).not.toContain('Oyelaran');
    expect(other.json.citations).toEqual([]);
  });

  it('starts a new session for an unknown id, and clearing a session forgets it', async () => {
    const unknown = await ask(botId, 'Hello?', { key, sessionId: 'ses_doesnotexist' });
    expect(unknown.json.sessionId).not.toBe('ses_doesnotexist');
    const sessionId = unknown.json.sessionId;
    expect((await api(`/chat/${botId}/sessions/${sessionId}`, { method: 'DELETE', key })).status).toBe(204);
    expect((await api(`/chat/${botId}/sessions/${sessionId}`, { method: 'DELETE', key })).status).toBe(404);
    const after = await ask(botId, 'Hello again', { key, sessionId });
    expect(after.json.sessionId).not.toBe(sessionId);
  });

  it('forgets a session past its TTL, by the platform’s clock', async () => {
    const brief = await api('/admin/bots', {
      method: 'POST',
      key,
      body: { name: 'Brief', sessionTtlSeconds: 60 },
    });
    const briefId = brief.json.bot.id;
    const first = await ask(briefId, 'Hello?', { key });
    const sessionId = first.json.sessionId;
    expect((await ask(briefId, 'Still there?', { key, sessionId })).json.sessionId).toBe(sessionId);
    const session = () => api(`/admin/bots/${briefId}/sessions/${sessionId}`, { key });
    expect((await session()).status).toBe(200);

    await moveClock(30);
    try {
      expect((await session()).status).toBe(200);
      await moveClock(61);
      expect((await session()).status).toBe(404);
      const later = await ask(briefId, 'Hello again', { key, sessionId });
      expect(later.status).toBe(200);
      expect(later.json.sessionId).not.toBe(sessionId);
    } finally {
      await moveClock(0);
    }
  });

  it('serves public bots to allowed origins with CORS, and nothing to others', async () => {
    const config = await api(`/chat/${botId}`, { headers: { origin: ORIGIN } });
    expect(config.json).toMatchObject({
      name: 'Museum',
      greeting: expect.any(String),
      branding: expect.any(Object),
    });
    expect(config.headers['access-control-allow-origin']).toBe(ORIGIN);

    const preflight = await api(`/chat/${botId}`, { method: 'OPTIONS', headers: { origin: ORIGIN } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    const foreignPreflight = await api(`/chat/${botId}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example' },
    });
    expect(foreignPreflight.headers['access-control-allow-origin']).toBeUndefined();

    const anonymous = await ask(botId, 'Who invented the Zorblax-9 teapot?', { origin: ORIGIN });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect((await ask(botId, 'hi', { origin: 'https://evil.example' })).status).toBe(404);
    const privateBot = await ask(otherBotId, 'hi', { origin: ORIGIN });
    expect([privateBot.status, privateBot.json.error.code]).toEqual([401, 'unauthorized']);
  });

  it('answers unknown, foreign, disabled and invalid requests with their codes', async () => {
    expect((await ask('bot_unknown00000000000000', 'hi', { key })).status).toBe(404);
    const stranger = await api('/admin/tenants', {
      method: 'POST',
      key: platform().operatorKey,
      body: { name: 'Stranger' },
    });
    const foreign = await ask(botId, 'Who invented the Zorblax-9 teapot?', { key: stranger.json.apiKey });
    expect(foreign.status).toBe(404);
    expect(foreign.text).not.toContain('Oyelaran');

    const disabled = (
      await api('/admin/bots', { method: 'POST', key, body: { name: 'Off', enabled: false } })
    ).json.bot.id;
    const off = await ask(disabled, 'hi', { key });
    expect([off.status, off.json.error.code]).toEqual([403, 'bot_disabled']);

    const empty = await api(`/chat/${botId}`, { method: 'POST', key, body: { message: '' } });
    expect([empty.status, empty.json.error.details[0].path]).toEqual([400, 'message']);
  });

  it('limits each end user, answering rate_limited with Retry-After', async () => {
    const limited = (
      await api('/admin/bots', {
        method: 'POST',
        key,
        body: { name: 'Strict', rateLimits: { perMinute: 100, perSecond: 50, perUserPerMinute: 2 } },
      })
    ).json.bot.id;
    // Every message counts for its source address, and a live session's also for the session:
    // opening a new session for every message gains nothing (audit: 12 a minute at a limit of 3).
    await startEarlyInMinute();
    const first = await ask(limited, 'one', { key });
    expect(first.status).toBe(200);
    expect((await ask(limited, 'two', { key })).status).toBe(200);
    const third = await ask(limited, 'three', { key });
    expect([third.status, third.json.error?.code]).toEqual([429, 'rate_limited']);
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const continued = await ask(limited, 'four', { key, sessionId: first.json.sessionId });
    expect(continued.status).toBe(429);
    // A tenant's backend names its users: each has their own allowance on the shared address.
    const asUser = (userId: string) =>
      api(`/chat/${limited}`, { method: 'POST', key, body: { message: 'hello', userId } });
    expect((await asUser('crm-1')).status).toBe(200);
    expect((await asUser('crm-1')).status).toBe(200);
    expect((await asUser('crm-1')).status).toBe(429);
    expect((await asUser('crm-2')).status).toBe(200);
    // Anonymous visitors cannot choose who they are.
    const anonymous = await api(`/chat/${botId}`, {
      method: 'POST',
      headers: { origin: ORIGIN },
      body: { message: 'hello', userId: 'someone-else' },
    });
    expect([anonymous.status, anonymous.json.error.code, anonymous.json.error.details[0].path]).toEqual([
      400,
      'bad_request',
      'userId',
    ]);
  });

  it('shows the turns in the tenant’s usage', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const usage = await api(`/admin/usage?from=${today}&to=${today}&botId=${botId}`, { key });
    expect(usage.status).toBe(200);
    expect(usage.json.days[0].messages).toBeGreaterThanOrEqual(5);
    expect(usage.json.days[0].inputTokens).toBeGreaterThan(0);
    expect(usage.json.quota.messagesUsed).toBeGreaterThanOrEqual(5);
  });
});

describe('conversations', () => {
  it('shows the tenant admin each conversation with its messages, tokens and citations', async () => {
    const turn = await ask(botId, 'Who invented the Zorblax-9 teapot?', { key });
    const list = await api(`/admin/bots/${botId}/sessions?limit=100`, { key });
    expect(list.json.items.map((s: { id: string }) => s.id)).toContain(turn.json.sessionId);
    const one = await api(`/admin/bots/${botId}/sessions/${turn.json.sessionId}`, { key });
    expect(one.json.session).toMatchObject({ id: turn.json.sessionId, channel: 'api' });
    expect(one.json.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(one.json.messages[0].content).toBe('Who invented the Zorblax-9 teapot?');
    expect(one.json.messages[1]).toMatchObject({
      inputTokens: expect.any(Number),
      latencyMs: expect.any(Number),
      citations: [expect.objectContaining({ documentId })],
    });
    const stranger = await api('/admin/tenants', {
      method: 'POST',
      key: platform().operatorKey,
      body: { name: 'Nosy' },
    });
    const nosy = await api(`/admin/bots/${botId}/sessions/${turn.json.sessionId}`, {
      key: stranger.json.apiKey,
    });
    expect(nosy.status).toBe(404);
    expect(nosy.text).not.toContain('Zorblax');
  });

  it('deleting a bot deletes its conversations', async () => {
    const tenant = await api('/admin/tenants', {
      method: 'POST',
      key: platform().operatorKey,
      body: { name: 'Brief' },
    });
    const k = tenant.json.apiKey;
    const bot = (await api('/admin/bots', { method: 'POST', key: k, body: { name: 'Short-lived' } })).json.bot
      .id;
    const turn = await ask(bot, 'hello', { key: k });
    expect(turn.status).toBe(200);
    Object.assign(process.env, platform().env);
    const sessions = createDynamoSessionRepository(
      createDocumentClient(),
      platform().env.SESSIONS_TABLE ?? '',
    );
    expect((await sessions.list(tenant.json.tenant.id, bot, { limit: 10 }, new Date())).items).toHaveLength(
      1,
    );
    expect((await api(`/admin/bots/${bot}`, { method: 'DELETE', key: k })).status).toBe(204);
    expect((await sessions.list(tenant.json.tenant.id, bot, { limit: 10 }, new Date())).items).toEqual([]);
    expect(await sessions.history(tenant.json.tenant.id, turn.json.sessionId, 10, new Date())).toEqual([]);
  });
});

describe('streamed chat', () => {
  /** Reads a Server-Sent Events body into its events, in order. */
  function parseEvents(body: string) {
    return body
      .split('\n\n')
      .filter(Boolean)
      .map((block) => {
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        return { event, data: data ? JSON.parse(data) : undefined };
      });
  }

  it('answers with the fallback message when the bot’s provider has no key configured, keeping the question', async () => {
    const bot = await api('/admin/bots', {
      method: 'POST',
      key,
      body: {
        name: 'Unkeyed',
        model: { provider: 'openai', id: 'gpt-4o-mini' },
        fallbackMessage: 'We are offline; a person will answer soon.',
        // No documents: without this the turn would abstain before it ever needed the model.
        retrieval: { abstain: false },
      },
    });
    const unkeyed = bot.json.bot.id;
    const buffered = await ask(unkeyed, 'Are you there?', { key });
    expect(buffered.status).toBe(200);
    expect(buffered.json).toMatchObject({
      reply: 'We are offline; a person will answer soon.',
      fallback: true,
    });
    const streamed = await api(`/chat/${unkeyed}/stream`, {
      method: 'POST',
      key,
      body: { message: 'Hello?', sessionId: buffered.json.sessionId },
    });
    const events = parseEvents(streamed.text);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { fallback: true } });
    const conversation = await api(`/admin/bots/${unkeyed}/sessions/${buffered.json.sessionId}`, { key });
    expect(
      conversation.json.messages.map((m: { role: string; content: string }) => [m.role, m.content]),
    ).toEqual([
      ['user', 'Are you there?'],
      ['assistant', 'We are offline; a person will answer soon.'],
      ['user', 'Hello?'],
      ['assistant', 'We are offline; a person will answer soon.'],
    ]);
  });

  it('cites the page of a PDF that holds the fact, buffered and streamed', async () => {
    const pdf = await uploadDocument(key, botId, {
      filename: 'almanac.pdf',
      contentType: 'application/pdf',
      bytes: makePdf([
        {
          heading: 'Weather',
          paragraphs: ['The harbour fog lifts by ten in the morning most days of spring.'],
        },
        { heading: 'Instruments', paragraphs: [ORRERY_FACT] },
      ]),
    });
    expect((await waitForDocument(key, botId, pdf.id)).status).toBe('ready');
    const question = 'Who rebuilt the brass orrery of the Vellmark observatory?';
    const buffered = await ask(botId, question, { key });
    expect(buffered.json.reply).toContain('Ilse Tarnowitz');
    expect(buffered.json.citations[0]).toMatchObject({
      documentId: pdf.id,
      filename: 'almanac.pdf',
      page: 2,
    });
    const streamed = parseEvents(
      (await api(`/chat/${botId}/stream`, { key, body: { message: question } })).text,
    );
    const text = streamed
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.text)
      .join('');
    expect(text).toContain('Ilse Tarnowitz');
    expect(streamed.find((e) => e.event === 'citations')?.data.citations[0]).toMatchObject({
      documentId: pdf.id,
      page: 2,
    });
  });

  it('streams session, deltas, citations and done, with the same grounded answer', async () => {
    const res = await api(`/chat/${botId}/stream`, {
      method: 'POST',
      key,
      body: { message: 'Who invented the Zorblax-9 teapot?' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseEvents(res.text);
    expect(events[0]).toMatchObject({
      event: 'session',
      data: { sessionId: expect.stringMatching(/^ses_/) },
    });
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => e.data.text).join('')).toContain('Marguerite Oyelaran');
    const citations = events.find((e) => e.event === 'citations');
    expect(citations?.data.citations[0]).toMatchObject({ documentId, filename: 'history.md' });
    expect(events.at(-1)).toMatchObject({
      event: 'done',
      data: { fallback: false, usage: expect.any(Object) },
    });
  });

  it('answers refusals before the stream as plain JSON errors', async () => {
    const unknown = await api('/chat/bot_unknown00000000000000/stream', {
      method: 'POST',
      key,
      body: { message: 'hi' },
    });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'not_found']);
    const invalid = await api(`/chat/${botId}/stream`, { method: 'POST', key, body: { message: 42 } });
    expect([invalid.status, invalid.json.error.details[0].path]).toEqual([400, 'message']);
    const preflight = await api(`/chat/${botId}/stream`, { method: 'OPTIONS', headers: { origin: ORIGIN } });
    expect(preflight.headers['access-control-allow-origin']).toBe(ORIGIN);
  });
});
