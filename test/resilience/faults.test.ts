// Fault injection through the local platform: a platform of its own whose chat model (OpenAI's
// wire format), vector index (OpenSearch's wire format, through the real client) and Telegram are
// small servers this test controls, so it can make each of them fail. It injects:
// - the model answering 500s, hanging, and staying down;
// - the vector index unavailable (503 on every call) while documents are indexed and users chat;
// - the platform killed (SIGKILL) with documents being indexed and channel messages queued and
//   mid-turn, then started again on the same data.
// Each ends with everything accounted for: every chat turn answered (with the answer or the bot's
// fallback message) and stored; every document ready or failed with a reason; every channel
// message answered exactly once, or left unconfirmed and counted (never twice). The table printed
// at the end lists the faults injected and what was accounted for.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { replyDeduplicationId } from '../../shared/channels/inbound.ts';
import { telegramRequest, telegramText } from '../support/channels.ts';
import { postForm } from '../support/knowledge.ts';
import { type ApiOptions, apiAt, documentClientAt, runtimeOf, TEST_OUTPUT_DIR } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';
import { type OpenAIChatWireServer, startOpenAIChatServer } from '../support/wire/openai-chat-server.ts';
import { OpenSearchWireStub } from '../support/wire/opensearch-server.ts';
import {
  DEFAULT_TELEGRAM_TOKEN,
  startTelegramServer,
  type TelegramWireServer,
} from '../support/wire/telegram-server.ts';

/** Queues hand a message back this long after a consumer died with it (AWS: 120–360 s). */
const VISIBILITY_SECONDS = 8;
const FALLBACK = 'The assistant is resting; please try again soon.';

let model: OpenAIChatWireServer;
let telegram: TelegramWireServer;
const index = new OpenSearchWireStub();
let platform: OwnPlatform;
const platforms: OwnPlatform[] = [];
let key: string;
let tenantId: string;
let botId: string;
let telegramSecret: string;

/** What was injected, and what each scenario accounted for: printed at the end. */
const injected: [fault: string, times: number][] = [];
const accounted: [what: string, outcome: string][] = [];

const logOf = (n: number) => join(TEST_OUTPUT_DIR, `platform-faults-${n}.log`);
const call = (path: string, options: ApiOptions = {}) => apiAt(platform.baseUrl, path, options);
const answerTo = (question: string) => `Answer to: ${question}`;

async function startPlatform(reuse?: OwnPlatform): Promise<OwnPlatform> {
  const started = await spawnOwnPlatform({
    name: 'faults',
    logFile: logOf(platforms.length + 1),
    reuse,
    env: {
      LOG_LEVEL: 'INFO',
      OPENAI_BASE_URL: model.baseURL,
      OPENAI_API_KEY: model.apiKey,
      TELEGRAM_API_BASE_URL: telegram.url,
      OPENSEARCH_ENDPOINT: index.url,
      PUBLIC_BASE_URL: 'https://bots.example.com',
      PARLEY_TEST_HOOKS: '1',
      PARLEY_TEST_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
    },
  });
  platforms.push(started);
  return started;
}

beforeAll(async () => {
  [model, telegram] = await Promise.all([startOpenAIChatServer(), startTelegramServer(), index.start()]);
  model.answerFor = answerTo;
  platform = await startPlatform();
  const tenant = await call('/admin/tenants', { key: platform.operatorKey, body: { name: 'Faults' } });
  key = tenant.json.apiKey;
  tenantId = tenant.json.tenant.id;
  const bot = await call('/admin/bots', {
    key,
    body: {
      name: 'Steadfast',
      model: { provider: 'openai', id: 'gpt-4o-mini' },
      fallbackMessage: FALLBACK,
      rateLimits: { perMinute: 10_000, perSecond: 1_000, perUserPerMinute: 1_000 },
      // The faults are the model's and the index's: every question goes to the model, relevant
      // documents or not (abstention has tests of its own).
      retrieval: { abstain: false },
    },
  });
  botId = bot.json.bot.id;
  const connected = await call(`/admin/bots/${botId}/channels/telegram`, {
    method: 'PUT',
    key,
    body: { botToken: DEFAULT_TELEGRAM_TOKEN },
  });
  expect(connected.status).toBe(200);
  telegramSecret = telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)?.secretToken ?? '';
}, 120_000);

afterAll(async () => {
  // The last platform owns the data dir the earlier ones shared.
  for (const started of platforms.slice(0, -1)) {
    if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
  }
  await platforms.at(-1)?.stop();
  await Promise.all([model?.close(), telegram?.close(), index.stop()]);
  const width = Math.max(...[...injected, ...accounted].map(([name]) => name.length));
  console.log(
    [
      'faults injected',
      ...injected.map(([fault, times]) => `  ${fault.padEnd(width)}  ${times}`),
      'accounted for',
      ...accounted.map(([what, outcome]) => `  ${what.padEnd(width)}  ${outcome}`),
      injected.length > 0 && accounted.length > 0 ? 'nothing lost' : 'INCOMPLETE: a scenario did not finish',
    ].join('\n'),
  );
});

/** A buffered chat turn; every answer must be 200 (the answer, or the fallback message). */
async function turn(message: string, sessionId?: string) {
  const res = await call(`/chat/${botId}`, { key, body: { message, ...(sessionId && { sessionId }) } });
  expect([message, res.status, res.json?.error]).toEqual([message, 200, undefined]);
  return res.json as {
    sessionId: string;
    reply: string;
    fallback: boolean;
    citations: { filename: string }[];
  };
}

/** A streamed turn, read to its end: the text of its deltas and its `done` event. */
async function streamedTurn(message: string) {
  const response = await fetch(`${platform.baseUrl}/chat/${botId}/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
  expect(response.status).toBe(200);
  const events = (await response.text())
    .split('\n\n')
    .filter((block) => block.includes('data:'))
    .map((block) => ({
      event: /event: (\w+)/.exec(block)?.[1],
      data: JSON.parse(/data: (.*)/.exec(block)?.[1] ?? 'null'),
    }));
  const text = events
    .filter((e) => e.event === 'delta')
    .map((e) => e.data.text)
    .join('');
  return {
    text,
    done: events.find((e) => e.event === 'done')?.data,
    errors: events.filter((e) => e.event === 'error'),
  };
}

/** The stored messages of a session, as the tenant's admin sees them. */
async function storedMessages(sessionId: string): Promise<{ role: string; content: string }[]> {
  const res = await call(`/admin/bots/${botId}/sessions/${sessionId}`, { key });
  expect(res.status).toBe(200);
  return res.json.messages;
}

/** Uploads a small Markdown document and returns its id once the upload is in storage. */
async function upload(filename: string, body: string): Promise<string> {
  const bytes = new TextEncoder().encode(body);
  const requested = await call(`/admin/bots/${botId}/documents`, {
    key,
    body: { filename, contentType: 'text/markdown', size: bytes.byteLength },
  });
  expect(requested.status).toBe(201);
  expect(
    await postForm(requested.json.upload, { filename, contentType: 'text/markdown', bytes }),
  ).toBeLessThan(300);
  return requested.json.document.id;
}

const documentOf = async (id: string) =>
  (await call(`/admin/bots/${botId}/documents/${id}`, { key })).json.document as {
    status: string;
    error?: string;
    chunksTotal: number;
    chunksIndexed: number;
  };

/** Waits until every document has ended (ready, or failed with a reason) and tallies them. */
async function documentsEnded(ids: readonly string[], timeoutMs: number) {
  await waitFor(
    async () => (await Promise.all(ids.map(documentOf))).every((d) => /ready|failed/.test(d.status)),
    {
      timeoutMs,
      what: 'every document to end ready or failed',
    },
  );
  const documents = await Promise.all(ids.map(documentOf));
  for (const document of documents) {
    if (document.status === 'ready') expect(document.chunksIndexed).toBe(document.chunksTotal);
    else expect(document.error).toMatch(/\w+ \w+ \w+/);
  }
  return documents;
}

let updateId = 70_000;
/** Posts a Telegram text message from `chatId`; returns its update id (the platform's message id). */
async function telegramMessage(chatId: number, text: string): Promise<number> {
  const id = ++updateId;
  const delivery = telegramRequest(telegramText({ updateId: id, chatId, text }), telegramSecret);
  const res = await call(`/webhooks/telegram/${botId}`, {
    method: 'POST',
    rawBody: delivery.body,
    headers: delivery.headers,
  });
  expect(res.json).toEqual({ queued: 1, foreign: 0 });
  return id;
}

/** The reply ledger's state for a Telegram message: sent, unconfirmed, sending, retry… */
async function sendState(messageId: number): Promise<string | undefined> {
  const db = documentClientAt(platform.dataDir);
  try {
    const { Item } = await db.send(
      new GetCommand({
        TableName: runtimeOf(platform.dataDir).env.USAGE_TABLE,
        Key: {
          pk: `REPLY#${tenantId}#${botId}`,
          sk: `SEND#${replyDeduplicationId(botId, { channel: 'telegram', messageId: String(messageId) })}`,
        },
        ConsistentRead: true,
      }),
    );
    return Item?.state as string | undefined;
  } finally {
    db.destroy();
  }
}

/**
 * Every message was answered exactly once (its reply reached Telegram once and the ledger says
 * sent) or is unconfirmed (reached Telegram at most once, counted): never twice, never silently lost.
 */
async function channelMessagesAccountedFor(
  messages: readonly { id: number; text: string }[],
  timeoutMs: number,
) {
  await waitFor(
    async () => {
      const states = await Promise.all(messages.map((m) => sendState(m.id)));
      return states.every((state) => state === 'sent' || state === 'unconfirmed');
    },
    { timeoutMs, what: 'every channel message sent or unconfirmed' },
  );
  let answered = 0;
  let unconfirmed = 0;
  for (const message of messages) {
    const state = await sendState(message.id);
    const delivered = telegram.sent.filter((m) => m.text === answerTo(message.text)).length;
    expect([message.text, delivered]).toEqual([message.text, state === 'sent' ? 1 : expect.any(Number)]);
    expect(delivered).toBeLessThanOrEqual(1);
    if (state === 'sent') answered++;
    else unconfirmed++;
  }
  return { answered, unconfirmed };
}

describe('the chat model', () => {
  it('failing, hanging, then down: every turn is answered and stored, with the fallback while it is down', async () => {
    const before = model.requests.length;
    // Four 500s and one hang spread over concurrent turns: the adapter's retries absorb them.
    model.failNext(4, { kind: 'server_error', status: 500 });
    model.failNext(1, { kind: 'hang' });
    const flaky = await Promise.all(Array.from({ length: 6 }, (_, n) => turn(`Flaky question ${n}?`)));
    for (const [n, result] of flaky.entries()) {
      expect(result).toMatchObject({ reply: answerTo(`Flaky question ${n}?`), fallback: false });
    }
    injected.push(['model: 500', 4], ['model: hang (no answer)', 1]);
    expect(model.requests.length - before).toBe(6 + 5);

    // Down for good: the fallback message, buffered and streamed, and the question still stored.
    model.failNext(1_000, { kind: 'server_error', status: 503 });
    const downFrom = model.requests.length;
    const down = await Promise.all([turn('Anyone there?'), turn('Hello?')]);
    const streamed = await streamedTurn('Still nobody?');
    model.clearFailures();
    injected.push(['model: down (503 to every call)', model.requests.length - downFrom]);
    for (const result of down) expect(result).toMatchObject({ reply: FALLBACK, fallback: true });
    expect(streamed).toMatchObject({ text: FALLBACK, done: { fallback: true }, errors: [] });

    const sessions = [...flaky, ...down].map((r) => r.sessionId);
    for (const sessionId of sessions) {
      const messages = await storedMessages(sessionId);
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    }
    // Back up: answered as usual.
    expect(await turn('Back again?')).toMatchObject({ reply: answerTo('Back again?'), fallback: false });
    accounted.push([
      'chat turns while the model failed',
      `${flaky.length + down.length + 1} answered and stored (3 with the fallback)`,
    ]);
  }, 120_000);
});

describe('the vector index', () => {
  it('unavailable: chat answers with the fallback, indexing waits and resumes, nothing is lost', async () => {
    index.unavailable = true;
    const refusedBefore = index.refused;
    const requestsBefore = index.requests.length;
    const documents = [
      await upload('tides.md', '# Tides\n\nThe harbour gate closes two hours before low tide.\n'),
      await upload('ferries.md', '# Ferries\n\nThe island ferry carries bicycles for free on Sundays.\n'),
    ];
    // Chat over the API and a channel while the index is down: the fallback, not an error.
    const during = await turn('When does the harbour gate close?');
    expect(during).toMatchObject({ reply: FALLBACK, fallback: true, citations: [] });
    const channelMessage = {
      id: await telegramMessage(5101, 'Is the index down?'),
      text: 'Is the index down?',
    };
    await waitFor(() => telegram.sent.some((m) => m.to === '5101' && m.text === FALLBACK), {
      what: 'the channel user getting the fallback message',
    });
    // Both documents were read, and the embed worker has tried to write and been refused (every
    // call is refused while the index is down) before the index comes back.
    await waitFor(
      async () =>
        // Searches are `_search` (health) and `_msearch` (retrieval); anything else is the writer.
        index.requests.slice(requestsBefore).some((r) => !/\/_m?search$/.test(r.path)) &&
        (await Promise.all(documents.map(documentOf))).every((d) => d.status === 'processing'),
      { what: 'indexing to hit the outage' },
    );
    expect((await Promise.all(documents.map(documentOf))).map((d) => d.status)).toEqual([
      'processing',
      'processing',
    ]);
    index.unavailable = false;
    injected.push(['index: 503 on every call (outage)', index.refused - refusedBefore]);

    const ended = await documentsEnded(documents, 60_000);
    expect(ended.map((d) => d.status)).toEqual(['ready', 'ready']);
    expect(await sendState(channelMessage.id)).toBe('sent');
    const after = await turn('When does the harbour gate close?');
    expect(after.fallback).toBe(false);
    expect(after.citations.map((c) => c.filename)).toContain('tides.md');
    const log = readFileSync(logOf(platforms.length), 'utf8');
    expect(log).toMatch(/"RetrievalFailures":1/);
    accounted.push(
      ['documents indexed during the outage', `${ended.length} ready`],
      ['turns during the outage', '2 answered with the fallback (API, Telegram)'],
    );
  }, 120_000);
});

describe('the platform killed mid-work', () => {
  it('with documents mid-indexing and channel messages queued: all end ready or failed, answered once or unconfirmed', async () => {
    const documents: string[] = [];
    // Large enough to be mid-indexing when the kill comes, small enough that a loaded CI machine
    // indexes all five again well within the wait below (~20 batches of chunks each).
    for (let n = 0; n < 5; n++) {
      const paragraphs = Array.from(
        { length: 400 },
        (_, p) =>
          `## Part ${p}\n\nLighthouse ${n} log entry ${p}: the lamp was trimmed and the lens polished at dusk.\n`,
      ).join('\n');
      documents.push(await upload(`log-${n}.md`, `# Lighthouse ${n}\n\n${paragraphs}`));
    }
    // A file whose bytes are not what its name says: it must end failed, crash or no crash.
    documents.push(await upload('broken.md', '\u0000\u0001\u0002 not text \u0000'.repeat(50)));
    // Every upload's event has reached the ingest queue (so the kill loses no notification).
    await waitFor(
      async () => (await Promise.all(documents.map(documentOf))).every((d) => d.status !== 'awaiting_upload'),
      { what: 'the uploads to be picked up' },
    );
    const messages: { id: number; text: string }[] = [];
    for (let n = 0; n < 8; n++) {
      const text = `Crash question ${n}?`;
      messages.push({ id: await telegramMessage(6100 + (n % 4), text), text });
    }
    const inFlight = (await Promise.all(documents.map(documentOf))).filter(
      (d) => d.status === 'processing',
    ).length;
    const unanswered = (await Promise.all(messages.map((m) => sendState(m.id)))).filter(
      (s) => s !== 'sent',
    ).length;
    const exited = new Promise((resolve) => platform.child.once('exit', resolve));
    platform.child.kill('SIGKILL');
    await exited;
    // The point of the scenario: work was in flight when the platform died.
    expect(inFlight).toBeGreaterThan(0);
    injected.push([`platform SIGKILL (${inFlight} documents, ${unanswered} messages in flight)`, 1]);

    platform = await startPlatform(platform);
    const ended = await documentsEnded(documents, 200_000);
    const ready = ended.filter((d) => d.status === 'ready').length;
    expect(ended.at(-1)?.status).toBe('failed');
    expect(ready).toBe(5);
    const { answered, unconfirmed } = await channelMessagesAccountedFor(messages, 60_000);
    expect(answered + unconfirmed).toBe(messages.length);
    // At INFO, the logs of both runs hold no user's words, no answer and no secret.
    const logs = platforms.map((_, n) => readFileSync(logOf(n + 1), 'utf8')).join('\n');
    for (const secret of [
      ...messages.map((m) => m.text),
      answerTo(messages[0]?.text ?? ''),
      DEFAULT_TELEGRAM_TOKEN,
      model.apiKey,
    ]) {
      expect([secret, logs.includes(secret)]).toEqual([secret, false]);
    }
    accounted.push(
      ['documents across the crash', `${ready} ready, ${ended.length - ready} failed with a reason`],
      [
        'channel messages across the crash',
        `${answered} answered once, ${unconfirmed} unconfirmed and counted`,
      ],
    );
  }, 330_000);
});
