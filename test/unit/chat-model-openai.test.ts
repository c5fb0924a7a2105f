// The OpenAI chat model through the REAL `openai` client, with its baseURL at a local server that
// speaks chat completions' wire format, JSON and SSE (test/support/wire/openai-chat-server.ts),
// including its failures: 429 then success, 500 until the fallback, timeouts, streams cut off.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI from 'openai';
import { createOpenAIChatModel, type OpenAIChatModelOptions } from '../../shared/adapters/chat/openai.ts';
import {
  type ChatModel,
  ChatModelUnavailableError,
  type ChatRequest,
  type ChatStreamEvent,
} from '../../shared/ports/chat-model.ts';
import { waitFor } from '../support/wait.ts';
import {
  DEFAULT_ANSWER,
  type OpenAIChatWireServer,
  startOpenAIChatServer,
  wirePromptTokens,
  wireTokens,
} from '../support/wire/openai-chat-server.ts';

let server: OpenAIChatWireServer;
let client: OpenAI;
/** Small budgets so failures end in well under two seconds. */
const fast = { baseMs: 5, maxMs: 40, deadlineMs: 1_500, attemptTimeoutMs: 400, idleTimeoutMs: 300 };
const model = (options: Partial<OpenAIChatModelOptions> = {}) =>
  createOpenAIChatModel({ client, ...fast, ...options });

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  modelId: 'gpt-4o-mini',
  system: 'You answer from the documents.\n<documents>[1] Refunds within 30 days.</documents>',
  messages: [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello! How can I help?' },
    { role: 'user', content: 'How do refunds work?' },
  ],
  passages: [],
  question: 'How do refunds work?',
  temperature: 0.3,
  maxTokens: 256,
  ...overrides,
});

/** Collects a stream: its deltas, its final event, and the error that ended it (if any). */
async function collect(stream: AsyncIterable<ChatStreamEvent>) {
  const deltas: string[] = [];
  let done: ChatStreamEvent | undefined;
  let error: unknown;
  try {
    for await (const event of stream) {
      if (done) throw new Error('an event after done');
      if (event.type === 'delta') deltas.push(event.text);
      else done = event;
    }
  } catch (e) {
    error = e;
  }
  return { deltas, done, error };
}

const unavailable = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChatModelUnavailableError);
  return error as ChatModelUnavailableError;
};

beforeAll(async () => {
  server = await startOpenAIChatServer();
  // maxRetries left at the SDK default on purpose: the adapter turns it off per request.
  client = new OpenAI({ apiKey: server.apiKey, baseURL: server.baseURL });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.clearFailures();
  server.requests.length = 0;
  server.answer = DEFAULT_ANSWER;
  server.chunkDelayMs = 0;
});

describe('OpenAI chat model: answers', () => {
  test('complete: one chat.completions request with the system prompt, history, temperature and token cap; usage from the API', async () => {
    const chat: ChatModel = model();
    expect(chat.provider).toBe('openai');
    const result = await chat.complete(request());
    expect(result).toEqual({
      text: DEFAULT_ANSWER,
      inputTokens: wirePromptTokens(server.requests[0]?.body.messages),
      outputTokens: wireTokens(DEFAULT_ANSWER).length,
      stopReason: 'stop',
    });
    expect(server.requests).toHaveLength(1);
    const [sent] = server.requests;
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe(`Bearer ${server.apiKey}`);
    expect(sent?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: request().system },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello! How can I help?' },
        { role: 'user', content: 'How do refunds work?' },
      ],
      temperature: 0.3,
      max_completion_tokens: 256,
      stream: false,
    });
  });

  test('the token cap ends the answer with the provider stop reason; a blank system prompt is left out', async () => {
    const result = await model().complete(request({ maxTokens: 4, system: '  ' }));
    expect(result).toMatchObject({
      text: 'Refunds are issued within ',
      outputTokens: 4,
      stopReason: 'length',
    });
    expect(server.requests[0]?.body.messages[0]).toEqual({ role: 'user', content: 'Hi' });
  });

  test('stream: deltas in order as the server sends them, then done with the usage chunk', async () => {
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(error).toBeUndefined();
    expect(deltas).toEqual(wireTokens(DEFAULT_ANSWER));
    expect(done).toEqual({
      type: 'done',
      stopReason: 'stop',
      inputTokens: wirePromptTokens(server.requests[0]?.body.messages),
      outputTokens: deltas.length,
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.3,
      max_completion_tokens: 256,
    });
  });

  test('any OpenAI-compatible server: models that refuse a temperature or max_tokens get a request without them, once, and remembered', async () => {
    // Reasoning models refuse temperature ≠ 1 and max_tokens (each a 400 naming the parameter).
    const chat = model({ maxTokensParameter: 'max_tokens' });
    await expect(chat.complete(request({ modelId: 'gpt-5-mini' }))).resolves.toMatchObject({
      text: DEFAULT_ANSWER,
    });
    expect(
      server.requests.map((r) => [r.body.temperature, r.body.max_tokens, r.body.max_completion_tokens]),
    ).toEqual([
      [0.3, 256, undefined],
      [0.3, undefined, 256],
      [undefined, undefined, 256],
    ]);
    server.requests.length = 0;
    const { deltas } = await collect(chat.stream(request({ modelId: 'gpt-5-mini' })));
    expect(deltas.join('')).toBe(DEFAULT_ANSWER);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.body).not.toHaveProperty('temperature');

    // An older compatible server that only knows max_tokens.
    server.requests.length = 0;
    await expect(model().complete(request({ modelId: 'legacy-llama' }))).resolves.toMatchObject({
      text: DEFAULT_ANSWER,
    });
    expect(server.requests.map((r) => Object.keys(r.body).filter((k) => k.startsWith('max')))).toEqual([
      ['max_completion_tokens'],
      ['max_tokens'],
    ]);
  });
});

describe('OpenAI chat model: failures', () => {
  test('429 with retry-after, then success: one answer, after the wait the API asked for', async () => {
    server.failNext(1, { kind: 'rate_limit', retryAfterSeconds: 20, retryAfterMs: 200 });
    const started = performance.now();
    const result = await model().complete(request());
    expect(result.text).toBe(DEFAULT_ANSWER);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(server.requests).toHaveLength(2); // the SDK did not retry on its own

    server.requests.length = 0;
    server.failNext(2, { kind: 'rate_limit', retryAfterMs: 10 });
    const { deltas, done } = await collect(model().stream(request()));
    expect(deltas.join('')).toBe(DEFAULT_ANSWER); // no text twice
    expect(done).toMatchObject({ type: 'done', stopReason: 'stop' });
    expect(server.requests).toHaveLength(3);
  });

  test('a retry-after beyond the budget gives up at once instead of waiting', async () => {
    server.failNext(1, { kind: 'rate_limit', retryAfterSeconds: 60 });
    const started = performance.now();
    const error = await unavailable(model().complete(request()));
    expect(performance.now() - started).toBeLessThan(500);
    expect(error).toMatchObject({ reason: 'unavailable', attempts: 1, partial: false });
    expect(error.cause).toBeInstanceOf(OpenAI.RateLimitError);
  });

  test('500 until the budget runs out: ChatModelUnavailableError within the deadline', async () => {
    server.failNext(1_000, { kind: 'server_error' });
    try {
      // Retries enough that the budget, not their number, ends it.
      const started = performance.now();
      const error = await unavailable(model({ retries: 1_000 }).complete(request()));
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThan(fast.deadlineMs - 300);
      expect(elapsed).toBeLessThan(fast.deadlineMs + 300);
      expect(error).toMatchObject({ provider: 'openai', reason: 'unavailable', partial: false });
      expect(error.attempts).toBeGreaterThan(2);
      expect(server.requests).toHaveLength(error.attempts);
      expect(error.cause).toBeInstanceOf(OpenAI.InternalServerError);
      expect(error.message).toMatch(/^openai gpt-4o-mini: no answer after \d+ attempts: 500 /);

      server.requests.length = 0;
      const streamed = await collect(model({ deadlineMs: 600 }).stream(request()));
      expect(streamed.deltas).toEqual([]);
      expect(streamed.error).toMatchObject({
        name: 'ChatModelUnavailableError',
        reason: 'unavailable',
        partial: false,
      });
      expect(server.requests.length).toBeGreaterThan(1);
    } finally {
      server.clearFailures();
    }
  });

  test('a request that never gets an answer times out and is tried again; one that keeps hanging ends as a timeout', async () => {
    server.failNext(1, { kind: 'hang' });
    const started = performance.now();
    await expect(model({ attemptTimeoutMs: 200 }).complete(request())).resolves.toMatchObject({
      text: DEFAULT_ANSWER,
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(server.requests).toHaveLength(2);

    server.requests.length = 0;
    server.failNext(1_000, { kind: 'hang' });
    try {
      const again = performance.now();
      const error = await unavailable(
        model({ attemptTimeoutMs: 300, deadlineMs: 1_000 }).complete(request()),
      );
      expect(performance.now() - again).toBeLessThan(1_400);
      expect(error).toMatchObject({ reason: 'timeout', partial: false });
      expect(error.attempts).toBeGreaterThanOrEqual(3);
      expect(error.cause).toMatchObject({ name: 'AttemptTimeoutError' });
    } finally {
      server.clearFailures();
    }
  });

  test('a stream cut off mid-way (connection destroyed) fails after its first deltas, without a retry', async () => {
    server.failNext(1, { kind: 'cut', afterDeltas: 3 });
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(deltas).toEqual(wireTokens(DEFAULT_ANSWER).slice(0, 3));
    expect(done).toBeUndefined();
    expect(error).toBeInstanceOf(ChatModelUnavailableError);
    expect(error).toMatchObject({ reason: 'interrupted', partial: true, attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  test('a stream that ends without finish_reason and [DONE] is an error, not a short answer', async () => {
    server.failNext(1, { kind: 'end_early', afterDeltas: 2 });
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(deltas).toHaveLength(2);
    expect(done).toBeUndefined();
    expect(error).toMatchObject({ name: 'ChatModelUnavailableError', reason: 'interrupted', partial: true });
    expect((error as Error).cause).toMatchObject({ name: 'StreamCutError' });
  });

  test('a stream that stalls after text ends when the idle timeout passes', async () => {
    server.failNext(1, { kind: 'stall', afterDeltas: 2 });
    const started = performance.now();
    const { deltas, error } = await collect(model({ idleTimeoutMs: 250 }).stream(request()));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(deltas).toHaveLength(2);
    expect(error).toMatchObject({ reason: 'interrupted', partial: true });
    expect((error as Error).cause).toMatchObject({ name: 'AttemptTimeoutError' });
    expect(server.requests).toHaveLength(1);
  });

  test('before any text, a broken stream (cut, error event, stall) is simply tried again', async () => {
    server.failNext(1, { kind: 'cut', afterDeltas: 0 });
    server.failNext(1, { kind: 'stream_error', afterDeltas: 0 });
    server.failNext(1, { kind: 'stall', afterDeltas: 0 });
    const { deltas, done, error } = await collect(model({ attemptTimeoutMs: 250 }).stream(request()));
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe(DEFAULT_ANSWER);
    expect(done).toMatchObject({ type: 'done', stopReason: 'stop' });
    expect(server.requests).toHaveLength(4);
  });

  test('an error event after text ends the stream as interrupted', async () => {
    server.failNext(1, { kind: 'stream_error', afterDeltas: 4 });
    const { deltas, error } = await collect(model().stream(request()));
    expect(deltas).toHaveLength(4);
    expect(error).toMatchObject({ reason: 'interrupted', partial: true, attempts: 1 });
    expect((error as Error).cause).toBeInstanceOf(OpenAI.APIError);
  });

  test('refusals (context too long, unknown model, wrong key) are not retried', async () => {
    const huge = 'lorem ipsum '.repeat(6_000);
    const error = await unavailable(
      model().complete(request({ messages: [{ role: 'user', content: huge }] })),
    );
    expect(error).toMatchObject({ reason: 'rejected', attempts: 1 });
    expect(error.cause).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toMatch(/maximum context length/);
    expect(server.requests).toHaveLength(1);

    const streamed = await collect(model().stream(request({ modelId: 'missing-model' })));
    expect(streamed.error).toMatchObject({ reason: 'rejected', attempts: 1, partial: false });

    const wrongKey = createOpenAIChatModel({
      client: new OpenAI({ apiKey: 'sk-wrong', baseURL: server.baseURL }),
      ...fast,
    });
    await expect(wrongKey.complete(request())).rejects.toMatchObject({ reason: 'rejected', attempts: 1 });
    expect(server.requests).toHaveLength(3);
  });

  test('a truncated JSON answer is retried', async () => {
    server.failNext(1, { kind: 'cut' });
    await expect(model().complete(request())).resolves.toMatchObject({ text: DEFAULT_ANSWER });
    expect(server.requests).toHaveLength(2);
  });
});

describe('OpenAI chat model: the caller', () => {
  test("the caller's signal stops a hanging request at once, without retries", async () => {
    server.failNext(1, { kind: 'hang' });
    const started = performance.now();
    const error = await unavailable(
      model({ attemptTimeoutMs: 5_000, deadlineMs: 10_000 }).complete(
        request({ signal: AbortSignal.timeout(150) }),
      ),
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(error).toMatchObject({ reason: 'aborted', attempts: 1 });

    server.requests.length = 0;
    const aborted = new AbortController();
    aborted.abort();
    await expect(model().complete(request({ signal: aborted.signal }))).rejects.toMatchObject({
      reason: 'aborted',
    });
    const streamed = await collect(model().stream(request({ signal: aborted.signal })));
    expect(streamed.error).toMatchObject({ reason: 'aborted', attempts: 0 });
    expect(server.requests).toHaveLength(0);
  });

  test('a consumer that stops reading cancels the request', async () => {
    server.chunkDelayMs = 20;
    const before = server.unfinished;
    const deltas: string[] = [];
    for await (const event of model().stream(request())) {
      if (event.type === 'delta') deltas.push(event.text);
      if (deltas.length === 2) break;
    }
    await waitFor(() => server.unfinished > before, { timeoutMs: 2_000, intervalMs: 10 });
    expect(server.unfinished).toBe(before + 1);
  });
});
