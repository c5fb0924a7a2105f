// A client that leaves a streamed answer (issue 14, finding 13): the local gateway tells the
// chat-stream function, which aborts the model call, and the turn is metered by what was
// generated, not by the whole answer. A platform of its own, with OPENAI_BASE_URL pointing at a
// local server that speaks OpenAI's wire format and streams slowly.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { estimateTokens } from '../../shared/domain/limits.ts';
import { type ApiOptions, apiAt, TEST_OUTPUT_DIR } from '../support/platform.ts';
import { type OpenAIChatWireServer, startOpenAIChatServer } from '../support/wire/openai-chat-server.ts';

const DOCUMENT = '# Returns\n\nReturns are accepted within 47 days of delivery.\n';
/** 400 words: at 30 ms a token, 12 s of streaming if nobody stops it. */
const LONG_ANSWER = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');

let model: OpenAIChatWireServer;
let started: OwnPlatform;
const call = (path: string, options: ApiOptions = {}) => apiAt(started.baseUrl, path, options);

beforeAll(async () => {
  model = await startOpenAIChatServer();
  started = await spawnOwnPlatform({
    name: 'hardening-stream',
    logFile: join(TEST_OUTPUT_DIR, 'platform-hardening-stream.log'),
    env: { OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: model.apiKey },
  });
}, 120_000);

afterAll(async () => {
  await started?.stop();
  await model?.close();
});

async function botWithDocument(key: string, maxTokens: number): Promise<string> {
  const bot = await call('/admin/bots', {
    key,
    body: {
      name: 'Returns desk',
      model: { provider: 'openai', id: 'gpt-4o-mini' },
      retrieval: { topK: 3, minScore: 0 },
      maxTokens,
    },
  });
  const botId: string = bot.json.bot.id;
  const upload = await call(`/admin/bots/${botId}/documents`, {
    key,
    body: { filename: 'returns.md', contentType: 'text/markdown', size: Buffer.byteLength(DOCUMENT) },
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.json.upload.fields as Record<string, string>))
    form.append(name, value);
  form.append('file', new Blob([DOCUMENT], { type: 'text/markdown' }), 'returns.md');
  expect((await fetch(upload.json.upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
  for (let i = 0; ; i++) {
    const doc = await call(`/admin/bots/${botId}/documents/${upload.json.document.id}`, { key });
    if (doc.json.document.status === 'ready') return botId;
    if (i > 200) throw new Error(`document still ${doc.json.document.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads the stream until `deltas` delta events arrived, then disconnects; the session id seen. */
async function leaveAfter(botId: string, key: string, deltas: number): Promise<string> {
  const client = new AbortController();
  const res = await fetch(`${started.baseUrl}/chat/${botId}/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'How long do I have to return something?' }),
    signal: client.signal,
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while ((text.match(/event: delta/g) ?? []).length < deltas) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before ${deltas} deltas: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  client.abort();
  const session = /event: session\ndata: (\{.*\})/.exec(text)?.[1];
  return JSON.parse(session ?? '{}').sessionId;
}

describe('a streamed answer the client leaves', () => {
  it('aborts the model call and meters only what was generated', async () => {
    const tenant = await call('/admin/tenants', { key: started.operatorKey, body: { name: 'Leaver' } });
    const key: string = tenant.json.apiKey;
    const botId = await botWithDocument(key, 4000);
    model.answer = LONG_ANSWER;
    model.chunkDelayMs = 30;
    const before = model.streams.length;

    const sessionId = await leaveAfter(botId, key, 5);

    // The model server sees its response closed under it, long before the answer's end.
    const waitUntil = Date.now() + 5000;
    while (!model.streams[before]?.aborted && Date.now() < waitUntil) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const wire = model.streams[before];
    expect(wire?.aborted).toBe(true);
    const generated = wire?.text ?? '';
    expect(generated.length).toBeGreaterThan(0);
    expect(generated.length).toBeLessThan(LONG_ANSWER.length / 4);

    // The turn is stored with what was generated, and metered by it.
    let stored: { role: string; content: string; outputTokens: number }[] = [];
    for (let i = 0; i < 50 && stored.length < 2; i++) {
      const session = await call(`/admin/bots/${botId}/sessions/${sessionId}`, { key });
      stored = session.json?.messages ?? [];
      if (stored.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    const reply = stored.find((m) => m.role === 'assistant');
    expect(reply).toBeDefined();
    expect(generated.startsWith(reply?.content ?? 'missing')).toBe(true);
    expect(reply?.outputTokens).toBe(estimateTokens([reply?.content ?? '']));

    const day = new Date().toISOString().slice(0, 10);
    const usage = await call(`/admin/usage?from=${day}&to=${day}`, { key });
    expect(usage.json.totals.outputTokens).toBe(reply?.outputTokens);
    expect(usage.json.totals.outputTokens).toBeLessThan(estimateTokens([LONG_ANSWER]) / 4);
    expect(usage.json.totals.inputTokens).toBeGreaterThan(0);
  }, 60_000);

  it('cuts off a provider that ignores maxTokens (Lambda gives no disconnect signal)', async () => {
    const tenant = await call('/admin/tenants', { key: started.operatorKey, body: { name: 'Talker' } });
    const key: string = tenant.json.apiKey;
    const botId = await botWithDocument(key, 20);
    model.answer = LONG_ANSWER;
    model.chunkDelayMs = 1;
    model.ignoresMaxTokens = true;
    const before = model.streams.length;
    try {
      const res = await call(`/chat/${botId}/stream`, { key, body: { message: 'Tell me everything' } });
      expect(res.status).toBe(200);
      const said = [...res.text.matchAll(/event: delta\ndata: (\{.*\})/g)]
        .map((match) => JSON.parse(match[1] ?? '{}').text)
        .join('');
      // A bound on the characters of 20 tokens, far below the 400-word answer.
      expect(said.length).toBeGreaterThan(0);
      expect(said.length).toBeLessThanOrEqual(20 * 8 + 20);
      expect(res.text).toContain('event: done');
      const done = JSON.parse(/event: done\ndata: (\{.*\})/.exec(res.text)?.[1] ?? '{}');
      expect(done.usage.outputTokens).toBe(estimateTokens([said]));
      const waitUntil = Date.now() + 5000;
      while (!model.streams[before]?.aborted && Date.now() < waitUntil) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(model.streams[before]?.aborted).toBe(true);
    } finally {
      model.ignoresMaxTokens = false;
    }
  }, 60_000);
});
