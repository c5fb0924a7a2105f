// The Bedrock chat model through the REAL Bedrock Runtime client, pointed at a local HTTP/2 server
// that speaks Converse's JSON and ConverseStream's binary event stream
// (test/support/wire/bedrock-chat-server.ts), including its failures: throttling then success,
// 500 until the fallback, timeouts, exceptions inside the stream, streams cut off mid-frame.

import { crc32 } from 'node:zlib';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import {
  type BedrockChatModelOptions,
  converseMessages,
  createBedrockChatModel,
  createBedrockRuntimeClient,
} from '../../shared/adapters/chat/bedrock.ts';
import {
  ChatModelUnavailableError,
  type ChatRequest,
  type ChatStreamEvent,
} from '../../shared/ports/chat-model.ts';
import {
  type BedrockChatWireServer,
  DEFAULT_ANSWER,
  eventStreamFrame,
  startBedrockChatServer,
  wireInputTokens,
  wireTokens,
} from '../support/wire/bedrock-chat-server.ts';

const CLAUDE = 'anthropic.claude-3-5-haiku-20241022-v1:0';
let server: BedrockChatWireServer;
let client: BedrockRuntimeClient;
const fast = { baseMs: 5, maxMs: 40, deadlineMs: 1_500, attemptTimeoutMs: 400, idleTimeoutMs: 300 };
const model = (options: Partial<BedrockChatModelOptions> = {}) =>
  createBedrockChatModel({ client, ...fast, ...options });

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  modelId: CLAUDE,
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
  server = await startBedrockChatServer();
  client = createBedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
});
afterAll(async () => {
  client.destroy();
  await server.close();
});
beforeEach(() => {
  server.clearFailures();
  server.requests.length = 0;
  server.answer = DEFAULT_ANSWER;
  server.frameDelayMs = 0;
});

describe('the event-stream framing the server writes', () => {
  // The SDK's decoder checks both CRCs of every frame the other tests send; this pins the layout.
  test('prelude with the total and headers length and its CRC32, string headers, payload, message CRC32', () => {
    const frame = eventStreamFrame({ ':message-type': 'event' }, Buffer.from('{}'));
    expect(frame.readUInt32BE(8)).toBe(crc32(frame.subarray(0, 8)));
    expect(frame.readUInt32BE(frame.length - 4)).toBe(crc32(frame.subarray(0, frame.length - 4)));
    // 12-byte prelude + header (1 + 13 name + 1 type + 2 length + 5 value) + 2 payload + 4 CRC.
    expect(frame.readUInt32BE(0)).toBe(frame.length);
    expect(frame.length).toBe(12 + 22 + 2 + 4);
    expect(frame.readUInt32BE(4)).toBe(22);
    expect(frame.subarray(12, 14)).toEqual(Buffer.from([13, ':'.charCodeAt(0)]));
    expect(frame[12 + 14]).toBe(7); // string
  });
});

describe('Bedrock chat model: answers', () => {
  test('complete: Converse with the system prompt, the turns as content blocks and inferenceConfig; usage from the response', async () => {
    const chat = model();
    expect(chat.provider).toBe('bedrock');
    const result = await chat.complete(request());
    expect(server.requests).toHaveLength(1); // maxAttempts 1: no SDK retries
    const [sent] = server.requests;
    expect(sent).toMatchObject({ operation: 'converse', modelId: CLAUDE });
    expect(sent?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\//,
    );
    expect(sent?.body).toEqual({
      system: [{ text: request().system }],
      messages: [
        { role: 'user', content: [{ text: 'Hi' }] },
        { role: 'assistant', content: [{ text: 'Hello! How can I help?' }] },
        { role: 'user', content: [{ text: 'How do refunds work?' }] },
      ],
      inferenceConfig: { maxTokens: 256, temperature: 0.3 },
    });
    expect(result).toEqual({
      text: DEFAULT_ANSWER,
      inputTokens: wireInputTokens(sent?.body ?? {}),
      outputTokens: wireTokens(DEFAULT_ANSWER).length,
      stopReason: 'end_turn',
    });
  });

  test('any Bedrock model id (inference profiles and ARNs included) goes into the path; the token cap gives max_tokens', async () => {
    const profile = 'us.meta.llama3-3-70b-instruct-v1:0';
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0';
    await expect(model().complete(request({ modelId: profile, maxTokens: 3 }))).resolves.toMatchObject({
      text: 'Refunds are issued ',
      outputTokens: 3,
      stopReason: 'max_tokens',
    });
    await model().complete(request({ modelId: arn }));
    expect(server.requests.map((r) => r.modelId)).toEqual([profile, arn]);
  });

  test('history Converse would refuse is made valid: a greeting first, blank turns, two turns of one role', () => {
    expect(
      converseMessages([
        { role: 'assistant', content: 'Welcome!' },
        { role: 'user', content: 'first' },
        { role: 'user', content: '  ' },
        { role: 'user', content: 'second' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'third' },
      ]),
    ).toEqual([
      { role: 'user', content: [{ text: 'first\n\nsecond' }] },
      { role: 'assistant', content: [{ text: 'answer' }] },
      { role: 'user', content: [{ text: 'third' }] },
    ]);
  });

  test('stream: ConverseStream events decoded by the SDK become deltas in order, then done with the metadata usage', async () => {
    const { deltas, done, error } = await collect(model().stream(request({ system: '' })));
    expect(error).toBeUndefined();
    expect(deltas).toEqual(wireTokens(DEFAULT_ANSWER));
    const [sent] = server.requests;
    expect(sent).toMatchObject({ operation: 'converse-stream', modelId: CLAUDE });
    expect(sent?.body).not.toHaveProperty('system');
    expect(done).toEqual({
      type: 'done',
      stopReason: 'end_turn',
      inputTokens: wireInputTokens(sent?.body ?? {}),
      outputTokens: deltas.length,
    });
  });
});

describe('Bedrock chat model: failures', () => {
  test('429 ThrottlingException, then success: one answer', async () => {
    server.failNext(2, { kind: 'throttling' });
    await expect(model().complete(request())).resolves.toMatchObject({ text: DEFAULT_ANSWER });
    expect(server.requests).toHaveLength(3);

    server.requests.length = 0;
    server.failNext(1, { kind: 'throttling' });
    // Throttling can also arrive inside a 200 event stream, as a throttlingException frame.
    server.failNext(1, { kind: 'stream_exception', exceptionType: 'throttlingException' });
    server.failNext(1, { kind: 'stream_exception', exceptionType: 'modelStreamErrorException' });
    const { deltas, done } = await collect(model().stream(request()));
    expect(deltas.join('')).toBe(DEFAULT_ANSWER); // no text twice
    expect(done).toMatchObject({ type: 'done', stopReason: 'end_turn' });
    expect(server.requests).toHaveLength(4);
  });

  test('500 until the budget runs out: ChatModelUnavailableError within the deadline', async () => {
    server.failNext(1_000, { kind: 'internal' });
    const started = performance.now();
    const error = await unavailable(model({ retries: 1_000 }).complete(request()));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(fast.deadlineMs - 300);
    expect(elapsed).toBeLessThan(fast.deadlineMs + 300);
    expect(error).toMatchObject({ provider: 'bedrock', reason: 'unavailable', partial: false });
    expect(error.attempts).toBeGreaterThan(2);
    expect(server.requests).toHaveLength(error.attempts);
    expect(error.cause).toMatchObject({
      name: 'InternalServerException',
      $metadata: { httpStatusCode: 500 },
    });
    expect(error.message).toMatch(
      /^bedrock anthropic\.claude-3-5-haiku-20241022-v1:0: no answer after \d+ attempts: 500 InternalServerException/,
    );

    server.clearFailures();
    server.requests.length = 0;
    server.failNext(1_000, { kind: 'unavailable' });
    const streamed = await collect(model({ deadlineMs: 600 }).stream(request()));
    expect(streamed.deltas).toEqual([]);
    expect(streamed.error).toMatchObject({
      name: 'ChatModelUnavailableError',
      reason: 'unavailable',
      partial: false,
    });
    expect(server.requests.length).toBeGreaterThan(1);
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
    const again = performance.now();
    const error = await unavailable(model({ attemptTimeoutMs: 300, deadlineMs: 1_000 }).complete(request()));
    expect(performance.now() - again).toBeLessThan(1_400);
    expect(error).toMatchObject({ reason: 'timeout', partial: false });
    expect(error.attempts).toBeGreaterThanOrEqual(3);

    server.clearFailures();
    server.failNext(1_000, { kind: 'hang' });
    const streamed = await collect(model({ attemptTimeoutMs: 200, deadlineMs: 500 }).stream(request()));
    expect(streamed.error).toMatchObject({ reason: 'timeout', partial: false });
  });

  test('a stream cut off mid-frame (connection destroyed) fails after its first deltas, without a retry', async () => {
    server.failNext(1, { kind: 'cut', afterDeltas: 3 });
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(deltas).toEqual(wireTokens(DEFAULT_ANSWER).slice(0, 3));
    expect(done).toBeUndefined();
    expect(error).toBeInstanceOf(ChatModelUnavailableError);
    expect(error).toMatchObject({ reason: 'interrupted', partial: true, attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  test('a stream that ends without messageStop is an error, not a short answer', async () => {
    server.failNext(1, { kind: 'end_early', afterDeltas: 2 });
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(deltas).toHaveLength(2);
    expect(done).toBeUndefined();
    expect(error).toMatchObject({ reason: 'interrupted', partial: true });
    expect((error as Error).cause).toMatchObject({ name: 'StreamCutError' });
  });

  test('an exception frame after text ends the stream as interrupted; a stall, when the idle timeout passes', async () => {
    server.failNext(1, {
      kind: 'stream_exception',
      exceptionType: 'internalServerException',
      afterDeltas: 4,
    });
    const first = await collect(model().stream(request()));
    expect(first.deltas).toHaveLength(4);
    expect(first.error).toMatchObject({ reason: 'interrupted', partial: true, attempts: 1 });
    expect((first.error as Error).cause).toMatchObject({ name: 'InternalServerException' });

    server.failNext(1, { kind: 'stall', afterDeltas: 2 });
    const started = performance.now();
    const second = await collect(model({ idleTimeoutMs: 250 }).stream(request()));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(second.deltas).toHaveLength(2);
    expect(second.error).toMatchObject({ reason: 'interrupted', partial: true });
    expect((second.error as Error).cause).toMatchObject({ name: 'AttemptTimeoutError' });
  });

  test('before any text, a cut stream is simply tried again', async () => {
    server.failNext(1, { kind: 'cut', afterDeltas: 0 });
    server.failNext(1, { kind: 'end_early', afterDeltas: 0 });
    const { deltas, done, error } = await collect(model().stream(request()));
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe(DEFAULT_ANSWER);
    expect(done).toMatchObject({ type: 'done' });
    expect(server.requests).toHaveLength(3);
  });

  test('a truncated Converse body is retried', async () => {
    server.failNext(1, { kind: 'cut' });
    await expect(model().complete(request())).resolves.toMatchObject({ text: DEFAULT_ANSWER });
    expect(server.requests).toHaveLength(2);
  });

  test('a ValidationException (400 or inside the stream) is not retried', async () => {
    const error = await unavailable(model().complete(request({ temperature: 1.5 })));
    expect(error).toMatchObject({ reason: 'rejected', attempts: 1 });
    expect(error.cause).toMatchObject({ name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    expect(error.message).toMatch(/temperature: range: 0\.\.1/);
    expect(server.requests).toHaveLength(1);

    const unknown = await collect(model().stream(request({ modelId: 'missing.model-v1:0' })));
    expect(unknown.error).toMatchObject({ reason: 'rejected', attempts: 1 });

    server.requests.length = 0;
    server.failNext(1, {
      kind: 'stream_exception',
      exceptionType: 'validationException',
      message: 'Input is too long',
    });
    const inStream = await collect(model().stream(request()));
    expect(inStream.error).toMatchObject({ reason: 'rejected', attempts: 1, partial: false });
    expect(server.requests).toHaveLength(1);
  });

  test("the caller's signal stops a hanging stream at once; a consumer that stops reading cancels the request", async () => {
    server.failNext(1, { kind: 'hang' });
    const started = performance.now();
    const aborted = await collect(
      model({ attemptTimeoutMs: 5_000, deadlineMs: 10_000 }).stream(
        request({ signal: AbortSignal.timeout(150) }),
      ),
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(aborted.error).toMatchObject({ reason: 'aborted', attempts: 1 });

    server.frameDelayMs = 20;
    const before = server.unfinished;
    let count = 0;
    for await (const event of model().stream(request())) {
      if (event.type === 'delta' && ++count === 2) break;
    }
    const until = Date.now() + 2_000;
    while (server.unfinished <= before && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(server.unfinished).toBeGreaterThan(before);
  });
});
