// The OpenAI embedder through the REAL `openai` client, with its baseURL at a local server that
// speaks the embeddings API's wire format (test/support/wire/openai-server.ts).

import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI from 'openai';
import { createOpenAIEmbedder } from '../../shared/adapters/embedders/openai.ts';
import { EmbeddingError } from '../../shared/ports/embedder.ts';
import { type OpenAIWireServer, startOpenAIServer, wireEmbedding } from '../support/wire/openai-server.ts';

let server: OpenAIWireServer;
let client: OpenAI;
const fastRetry = { baseMs: 5, maxMs: 20 };

beforeAll(async () => {
  server = await startOpenAIServer();
  // maxRetries left at the SDK default on purpose: the adapter turns it off per request.
  client = new OpenAI({ apiKey: server.apiKey, baseURL: server.baseURL });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

describe('OpenAI embedder', () => {
  test('batches texts into embeddings.create calls; vectors in input order, unit length; usage tokens summed', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 256, maxBatch: 2, retry: fastRetry });
    expect(embedder).toMatchObject({ modelId: 'text-embedding-3-small', dimension: 256, maxBatch: 2 });
    const texts = ['alpha', 'beta gamma', 'delta epsilon zeta', 'eta', 'theta'];
    const result = await embedder.embed(texts);
    expect(server.requests.map((r) => r.body.input)).toEqual([
      ['alpha', 'beta gamma'],
      ['delta epsilon zeta', 'eta'],
      ['theta'],
    ]);
    for (const request of server.requests) {
      expect(request.path).toBe('/v1/embeddings');
      expect(request.headers.authorization).toBe(`Bearer ${server.apiKey}`);
      expect(request.body).toMatchObject({
        model: 'text-embedding-3-small',
        dimensions: 256,
        encoding_format: 'base64',
      });
    }
    expect(result.vectors).toHaveLength(5);
    result.vectors.forEach((v, i) => {
      expect(v).toHaveLength(256);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
      expect(v[3]).toBeCloseTo(wireEmbedding(texts[i] ?? '', 256)[3] ?? Number.NaN, 6); // base64 float32 decoded
    });
    expect(result.tokens).toBe(texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0));
  });

  test('429 with retry-after is retried after the time the API asked for, then succeeds', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 64, retry: fastRetry });
    server.failNext(1, { kind: 'rate_limit', retryAfterSeconds: 1 });
    const started = performance.now();
    const result = await embedder.embed(['rate limited once']);
    const elapsed = performance.now() - started;
    expect(result.vectors).toHaveLength(1);
    expect(server.requests).toHaveLength(2); // one 429, one 200: the SDK did not retry on its own
    expect(elapsed).toBeGreaterThanOrEqual(950);

    server.requests.length = 0;
    server.failNext(2, { kind: 'rate_limit', retryAfterSeconds: 30, retryAfterMs: 120 });
    const again = performance.now();
    await embedder.embed(['retry-after-ms wins over retry-after']);
    expect(performance.now() - again).toBeGreaterThanOrEqual(2 * 115);
    expect(server.requests).toHaveLength(3);
  });

  test('a retry-after beyond the deadline gives up at once instead of waiting', async () => {
    const embedder = createOpenAIEmbedder({
      client,
      dimension: 64,
      retry: { ...fastRetry, deadlineMs: 2_000 },
    });
    server.failNext(1, { kind: 'rate_limit', retryAfterSeconds: 60 });
    const started = performance.now();
    await expect(embedder.embed(['x'])).rejects.toMatchObject({ name: 'EmbeddingError', retryable: true });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);
  });

  test('500s are retried until the retries run out, then fail as retryable', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 64, retry: { ...fastRetry, retries: 3 } });
    server.failNext(4, { kind: 'server_error' });
    const error = await embedder.embed(['down']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect(error).toMatchObject({ retryable: true, message: expect.stringMatching(/500/) });
    expect((error as EmbeddingError).cause).toBeInstanceOf(OpenAI.InternalServerError);
    expect(server.requests).toHaveLength(4);

    server.requests.length = 0;
    server.failNext(2, { kind: 'server_error', status: 503 });
    await expect(embedder.embed(['recovers'])).resolves.toMatchObject({ vectors: [expect.any(Array)] });
    expect(server.requests).toHaveLength(3);
  });

  test('a malformed body or one without data fails as not retryable, without retrying', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 64, retry: fastRetry });
    server.failNext(1, { kind: 'malformed' });
    await expect(embedder.embed(['x'])).rejects.toMatchObject({ name: 'EmbeddingError', retryable: false });
    expect(server.requests).toHaveLength(1);

    server.failNext(1, { kind: 'no_data' });
    await expect(embedder.embed(['x', 'y'])).rejects.toThrow(/no embeddings for 2 inputs/);
  });

  test('a rejected key is not retried', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: server.baseURL });
    const embedder = createOpenAIEmbedder({ client: wrong, dimension: 64, retry: fastRetry });
    await expect(embedder.embed(['x'])).rejects.toMatchObject({ name: 'EmbeddingError', retryable: false });
    expect(server.requests).toHaveLength(1);
  });

  test('long inputs are cut to what the model accepts instead of failing', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 64, retry: fastRetry });
    await embedder.embed(['word '.repeat(10_000), 'short']);
    expect(server.requests.map((r) => (r.body.input as string[]).map((t) => t.length))).toEqual([
      [24_573, 5],
    ]);

    // One token a character: the first cut is still too long, so the long input is cut again, once.
    const dense = await startOpenAIServer({ charsPerToken: 1 });
    try {
      const denseClient = new OpenAI({ apiKey: dense.apiKey, baseURL: dense.baseURL });
      const result = await createOpenAIEmbedder({
        client: denseClient,
        dimension: 64,
        retry: fastRetry,
      }).embed(['9'.repeat(30_000), 'short']);
      expect(dense.requests.map((r) => (r.body.input as string[]).map((t) => t.length))).toEqual([
        [24_573, 5],
        [8_191, 5],
      ]);
      expect(result.vectors).toHaveLength(2);
    } finally {
      await dense.close();
    }
  });

  test('models without `dimensions` (ada-002, compatible servers) are not sent one', async () => {
    const embedder = createOpenAIEmbedder({
      client,
      model: 'text-embedding-ada-002',
      dimension: 1536,
      retry: fastRetry,
    });
    const result = await embedder.embed(['x']);
    expect(server.requests[0]?.body).not.toHaveProperty('dimensions');
    expect(result.vectors[0]).toHaveLength(1536);

    // A model answering at another size than configured is an error, not a silent mismatch.
    const wrongSize = createOpenAIEmbedder({
      client,
      model: 'text-embedding-ada-002',
      dimension: 512,
      retry: fastRetry,
    });
    await expect(wrongSize.embed(['x'])).rejects.toThrow(/512-dimensional/);
  });

  test('refuses empty texts without a request', async () => {
    const embedder = createOpenAIEmbedder({ client, dimension: 64 });
    await expect(embedder.embed([''])).rejects.toMatchObject({ name: 'EmbeddingError', retryable: false });
    expect(server.requests).toHaveLength(0);
    expect(await embedder.embed([])).toEqual({ vectors: [], tokens: 0 });
    expect(server.requests).toHaveLength(0);
  });
});
