// The Titan embedder through the REAL Bedrock Runtime client, pointed at a local server that
// speaks InvokeModel's wire format (test/support/wire/bedrock-server.ts).

import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import {
  createBedrockEmbedder,
  createBedrockRuntimeClient,
  TITAN_EMBED_V2,
} from '../../shared/adapters/embedders/bedrock.ts';
import { EmbeddingError } from '../../shared/ports/embedder.ts';
import { type BedrockWireServer, startBedrockServer } from '../support/wire/bedrock-server.ts';
import { wireEmbedding } from '../support/wire/openai-server.ts';

let server: BedrockWireServer;
let client: BedrockRuntimeClient;
const fastRetry = { baseMs: 5, maxMs: 20 };

beforeAll(async () => {
  server = await startBedrockServer();
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
  server.requests.length = 0;
  server.delayMs = 0;
});

const norm = (v: number[]) => Math.hypot(...v);

describe('Bedrock Titan v2 embedder', () => {
  test('one InvokeModel per text with Titan v2 body; vectors in input order; tokens summed', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, retry: fastRetry });
    expect(embedder).toMatchObject({ modelId: TITAN_EMBED_V2, dimension: 256 });
    const texts = ['refund policy', 'opening hours of the shop', 'how to reset a password'];
    const result = await embedder.embed(texts);
    expect(server.requests).toHaveLength(3);
    for (const request of server.requests) {
      expect(request.modelId).toBe('amazon.titan-embed-text-v2:0');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\//,
      );
      expect(Object.keys(request.body).sort()).toEqual(['dimensions', 'inputText', 'normalize']);
      expect(request.body).toMatchObject({ dimensions: 256, normalize: true });
    }
    expect(server.requests.map((r) => r.body.inputText).sort()).toEqual([...texts].sort());
    expect(result.vectors.map((v) => v.length)).toEqual([256, 256, 256]);
    result.vectors.forEach((v, i) => {
      expect(norm(v)).toBeCloseTo(1, 10);
      expect(v[0]).toBeCloseTo(wireEmbedding(texts[i] ?? '', 256)[0] ?? Number.NaN, 6);
    });
    // The server counts ceil(characters / 7) tokens per text.
    expect(result.tokens).toBe(texts.reduce((sum, t) => sum + Math.ceil(t.length / 7), 0));
  });

  test('throttling (429 ThrottlingException) is retried with backoff, then succeeds', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 512, retry: fastRetry });
    server.failNext(2, { kind: 'throttling' });
    const result = await embedder.embed(['a text that gets throttled twice']);
    expect(result.vectors).toHaveLength(1);
    expect(result.vectors[0]).toHaveLength(512);
    expect(server.requests).toHaveLength(3); // 2 throttled + 1 success: the SDK itself did not retry
    expect(result.tokens).toBe(Math.ceil('a text that gets throttled twice'.length / 7));
  });

  test('5xx (InternalServerException, ServiceUnavailableException) is retried too', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, retry: fastRetry });
    server.failNext(1, { kind: 'internal' });
    server.failNext(1, { kind: 'unavailable' });
    await expect(embedder.embed(['x'])).resolves.toMatchObject({ vectors: [expect.any(Array)] });
    expect(server.requests).toHaveLength(3);
  });

  test('a ValidationException is thrown at once, not retried, and marked not retryable', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, retry: fastRetry });
    server.failNext(1, { kind: 'validation' });
    const error = await embedder.embed(['bad']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect(error).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/ValidationException: Malformed input/),
    });
    expect((error as EmbeddingError).cause).toMatchObject({ name: 'ValidationException' });
    expect(server.requests).toHaveLength(1);
  });

  test('throttling that outlasts the retries fails as retryable', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, retry: { ...fastRetry, retries: 2 } });
    server.failNext(3, { kind: 'throttling' });
    await expect(embedder.embed(['busy'])).rejects.toMatchObject({ name: 'EmbeddingError', retryable: true });
    expect(server.requests).toHaveLength(3);
  });

  test('at most `concurrency` invocations in flight', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, concurrency: 3, retry: fastRetry });
    server.delayMs = 30;
    const texts = Array.from({ length: 10 }, (_, i) => `text ${i}`);
    server.resetMaxInFlight();
    const result = await embedder.embed(texts);
    expect(result.vectors).toHaveLength(10);
    expect(server.maxInFlight).toBe(3);
    for (const [i, v] of result.vectors.entries()) {
      expect(v[1]).toBeCloseTo(wireEmbedding(texts[i] ?? '', 256)[1] ?? Number.NaN, 6);
    }
  });

  test('long inputs are cut to what Titan accepts instead of failing', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256, retry: fastRetry });
    const long = 'word '.repeat(15_000); // 75,000 characters
    await embedder.embed([long]);
    expect(server.requests.map((r) => (r.body.inputText as string).length)).toEqual([50_000]);

    // 50,000 characters of one-token-a-character text is over 8,192 tokens: cut further, once.
    const dense = await startBedrockServer({ charsPerToken: 1 });
    const denseClient = createBedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: dense.url,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    try {
      const result = await createBedrockEmbedder({
        client: denseClient,
        dimension: 256,
        retry: fastRetry,
      }).embed(['7'.repeat(60_000)]);
      expect(dense.requests.map((r) => (r.body.inputText as string).length)).toEqual([50_000, 8_192]);
      expect(result.tokens).toBe(8_192);
    } finally {
      denseClient.destroy();
      await dense.close();
    }
  });

  test('refuses empty texts without calling Bedrock', async () => {
    const embedder = createBedrockEmbedder({ client, dimension: 256 });
    await expect(embedder.embed(['ok', '  '])).rejects.toMatchObject({
      name: 'EmbeddingError',
      retryable: false,
    });
    expect(await embedder.embed([])).toEqual({ vectors: [], tokens: 0 });
  });
});
