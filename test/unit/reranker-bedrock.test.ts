// The Bedrock reranker through the REAL Agents for Amazon Bedrock runtime client, pointed at a
// local server that speaks the Rerank operation's wire format (test/support/wire/bedrock-rerank-server.ts).

import type { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import {
  AMAZON_RERANK_V1,
  COHERE_RERANK_V3_5,
  createBedrockAgentRuntimeClient,
  createBedrockReranker,
  MAX_RERANK_DOCUMENT_CHARS,
  MAX_RERANK_DOCUMENTS,
  MAX_RERANK_QUERY_CHARS,
  rerankModelArn,
} from '../../shared/adapters/rerank/bedrock.ts';
import { RerankError } from '../../shared/ports/reranker.ts';
import { createRerankerFromEnv } from '../../shared/wiring/rerank.ts';
import {
  type RerankWireServer,
  startBedrockRerankServer,
  wireRelevance,
} from '../support/wire/bedrock-rerank-server.ts';

let server: RerankWireServer;
let client: BedrockAgentRuntimeClient;
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const fast = { baseMs: 5, maxMs: 20 };

beforeAll(async () => {
  server = await startBedrockRerankServer();
  client = createBedrockAgentRuntimeClient({ region: 'us-west-2', endpoint: server.url, credentials });
});
afterAll(async () => {
  client.destroy();
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
  server.clearFailures();
  server.delayMs = 0;
});

const QUERY = 'how do refunds work';
const DOCUMENTS = [
  'Opening hours are nine to five on weekdays.',
  'How do refunds work? Refunds are issued within 30 days of purchase.',
  'Shipping is free over 50 euros.',
  'Refunds need a receipt.',
];

/** What the call asked for of the model (its ARN) and how many results. */
const configOf = (i = 0) => server.requests[i]?.body.rerankingConfiguration.bedrockRerankingConfiguration;
const sentTexts = (i = 0): string[] =>
  (
    (server.requests[i]?.body.sources ?? []) as { inlineDocumentSource: { textDocument: { text: string } } }[]
  ).map((s) => s.inlineDocumentSource.textDocument.text);

describe('Bedrock reranker', () => {
  test('one Rerank call with the documented request shape; results best first with indices into the input', async () => {
    const reranker = createBedrockReranker({ client, modelId: AMAZON_RERANK_V1, ...fast });
    expect(reranker.modelId).toBe('amazon.rerank-v1:0');
    const results = await reranker.rerank(QUERY, DOCUMENTS, { topN: 4 });

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0];
    expect(request?.headers[':path']).toBe('/rerank');
    expect(request?.headers['content-type']).toBe('application/json');
    // SigV4 with the `bedrock` signing name, in the client's region.
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-west-2\/bedrock\/aws4_request/,
    );
    expect(request?.body).toEqual({
      queries: [{ type: 'TEXT', textQuery: { text: QUERY } }],
      sources: DOCUMENTS.map((text) => ({
        type: 'INLINE',
        inlineDocumentSource: { type: 'TEXT', textDocument: { text } },
      })),
      rerankingConfiguration: {
        type: 'BEDROCK_RERANKING_MODEL',
        bedrockRerankingConfiguration: {
          numberOfResults: 4,
          modelConfiguration: { modelArn: 'arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0' },
        },
      },
    });

    expect(results.map((r) => r.index)).toEqual([1, 3, 0, 2]);
    for (const { index, score } of results) {
      expect(score).toBeCloseTo(wireRelevance(QUERY, DOCUMENTS[index] ?? ''), 10);
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
    }
    expect(results[0]?.score).toBe(1);
  });

  test('the model ARN is arn:aws:bedrock:<region>::foundation-model/<id>: the client’s region, or the one given', async () => {
    await createBedrockReranker({ client, ...fast }).rerank(QUERY, DOCUMENTS, { topN: 1 });
    expect(configOf(0)?.modelConfiguration.modelArn).toBe(
      'arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0',
    );
    await createBedrockReranker({
      client,
      modelId: COHERE_RERANK_V3_5,
      region: 'eu-central-1',
      ...fast,
    }).rerank(QUERY, DOCUMENTS, { topN: 1 });
    expect(configOf(1)?.modelConfiguration.modelArn).toBe(
      'arn:aws:bedrock:eu-central-1::foundation-model/cohere.rerank-v3-5:0',
    );
    expect(rerankModelArn('us-east-1', COHERE_RERANK_V3_5)).toBe(
      'arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0',
    );
    expect(rerankModelArn('cn-north-1', 'x.rerank')).toBe(
      'arn:aws-cn:bedrock:cn-north-1::foundation-model/x.rerank',
    );
    expect(rerankModelArn('us-gov-west-1', 'x.rerank')).toMatch(/^arn:aws-us-gov:bedrock:us-gov-west-1::/);
  });

  test('topN: asks for that many results and returns at most that many; more than the documents asks for all', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    const top2 = await reranker.rerank(QUERY, DOCUMENTS, { topN: 2 });
    expect(configOf(0)?.numberOfResults).toBe(2);
    expect(top2.map((r) => r.index)).toEqual([1, 3]);

    const all = await reranker.rerank(QUERY, DOCUMENTS, { topN: 20 });
    expect(configOf(1)?.numberOfResults).toBe(4);
    expect(all).toHaveLength(4);

    for (const topN of [0, -1, 1.5, Number.NaN]) {
      await expect(reranker.rerank(QUERY, DOCUMENTS, { topN })).rejects.toMatchObject({
        name: 'RerankError',
        retryable: false,
      });
    }
    expect(server.requests).toHaveLength(2);
  });

  test('blank documents are not sent and never returned; indices still name the caller’s documents', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    const documents = ['', DOCUMENTS[0] ?? '', '   ', DOCUMENTS[1] ?? ''];
    const results = await reranker.rerank(QUERY, documents, { topN: 10 });
    expect(sentTexts()).toEqual([DOCUMENTS[0], DOCUMENTS[1]]);
    expect(results.map((r) => r.index)).toEqual([3, 1]);

    expect(await reranker.rerank(QUERY, [], { topN: 5 })).toEqual([]);
    expect(await reranker.rerank(QUERY, [' ', '\n'], { topN: 5 })).toEqual([]);
    await expect(reranker.rerank('  ', DOCUMENTS, { topN: 5 })).rejects.toMatchObject({
      name: 'RerankError',
      retryable: false,
    });
    expect(server.requests).toHaveLength(1);
  });

  test('inputs are cut to the model’s limits: the query, each document, and the number of documents', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    const documents = Array.from({ length: MAX_RERANK_DOCUMENTS + 200 }, (_, i) => `refund document ${i}`);
    documents[0] = 'refunds '.repeat(6_000); // 48,000 characters, over the API's 32,000
    const results = await reranker.rerank('refunds '.repeat(1_000), documents, { topN: 3 });

    expect(server.requests).toHaveLength(1);
    const body = server.requests[0]?.body;
    expect(body?.queries[0].textQuery.text).toHaveLength(MAX_RERANK_QUERY_CHARS);
    const texts = sentTexts();
    expect(texts).toHaveLength(MAX_RERANK_DOCUMENTS);
    expect(texts[0]).toHaveLength(MAX_RERANK_DOCUMENT_CHARS);
    expect(texts.at(-1)).toBe(`refund document ${MAX_RERANK_DOCUMENTS - 1}`);
    expect(results).toHaveLength(3);
    expect(results[0]).toEqual({ index: 0, score: 1 });
    expect(results.every((r) => r.index < MAX_RERANK_DOCUMENTS)).toBe(true);
  });

  test('throttling (429 ThrottlingException) is retried with backoff, honouring retry-after, then succeeds', async () => {
    const retries: { attempt: number; delayMs: number }[] = [];
    const reranker = createBedrockReranker({
      client,
      ...fast,
      onRetry: ({ attempt, delayMs }) => retries.push({ attempt, delayMs }),
    });
    server.failNext(1, { kind: 'throttling' });
    server.failNext(1, { kind: 'throttling', retryAfterSeconds: 0.3 });
    const started = Date.now();
    const results = await reranker.rerank(QUERY, DOCUMENTS, { topN: 1 });
    expect(results).toEqual([{ index: 1, score: 1 }]);
    // 2 throttled + 1 success: the SDK itself did not retry.
    expect(server.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(retries[0]?.delayMs).toBeLessThanOrEqual(fast.baseMs);
    expect(retries[1]?.delayMs).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  test('a retry-after that would overrun the deadline ends the call instead of waiting', async () => {
    const reranker = createBedrockReranker({ client, ...fast, deadlineMs: 1_000 });
    server.failNext(1, { kind: 'throttling', retryAfterSeconds: 30 });
    const started = Date.now();
    const error = await reranker.rerank(QUERY, DOCUMENTS, { topN: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankError);
    expect(error).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/ThrottlingException \(HTTP 429\)/),
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);
  });

  test('5xx (InternalServerException, BadGatewayException) is retried; a 500 that outlasts the retries fails as retryable', async () => {
    const reranker = createBedrockReranker({ client, ...fast, retries: 2 });
    server.failNext(1, { kind: 'internal' });
    server.failNext(1, { kind: 'bad_gateway' });
    await expect(reranker.rerank(QUERY, DOCUMENTS, { topN: 1 })).resolves.toHaveLength(1);
    expect(server.requests.map((r) => r.status)).toEqual([500, 502, 200]);

    server.requests.length = 0;
    server.failNext(10, { kind: 'internal' });
    const error = await reranker.rerank(QUERY, DOCUMENTS, { topN: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankError);
    expect(error).toMatchObject({
      retryable: true,
      message:
        'Bedrock rerank cohere.rerank-v3-5:0 failed: InternalServerException (HTTP 500) after 3 attempts',
    });
    expect((error as RerankError).cause).toMatchObject({ name: 'InternalServerException' });
    expect(server.requests).toHaveLength(3);
  });

  test('an attempt with no answer times out and is retried; the call ends within its deadline', async () => {
    const reranker = createBedrockReranker({ client, ...fast, attemptTimeoutMs: 150, retries: 1 });
    server.failNext(1, { kind: 'hang' });
    await expect(reranker.rerank(QUERY, DOCUMENTS, { topN: 2 })).resolves.toHaveLength(2);
    expect(server.requests.map((r) => r.status)).toEqual([undefined, 200]);

    server.requests.length = 0;
    server.failNext(10, { kind: 'hang' });
    const deadlined = createBedrockReranker({
      client,
      ...fast,
      attemptTimeoutMs: 200,
      deadlineMs: 450,
      retries: 10,
    });
    const started = Date.now();
    const error = await deadlined.rerank(QUERY, DOCUMENTS, { topN: 2 }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(RerankError);
    expect(error).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/no answer within \d+ ms after \d attempts/),
    });
    expect(elapsed).toBeLessThan(900);
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
    expect(server.requests.length).toBeLessThanOrEqual(3);
  });

  test('the caller’s signal cancels a call at once, and it is not retried', async () => {
    const reranker = createBedrockReranker({ client, ...fast, attemptTimeoutMs: 5_000 });
    server.failNext(1, { kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const error = await reranker
      .rerank(QUERY, DOCUMENTS, { topN: 1, signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'RerankError',
      retryable: false,
      message: expect.stringMatching(/cancelled/),
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);

    await expect(
      reranker.rerank(QUERY, DOCUMENTS, { topN: 1, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'RerankError', retryable: false });
    expect(server.requests).toHaveLength(1);
  });

  test('a body that is not JSON fails at once as not retryable', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    server.failNext(1, { kind: 'malformed' });
    const error = await reranker.rerank(QUERY, DOCUMENTS, { topN: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankError);
    expect(error).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/an answer that could not be read \(HTTP 200\) after 1 attempt$/),
    });
    expect(server.requests).toHaveLength(1);
  });

  test('a ValidationException is not retried, is not retryable, and its text (which may quote the input) stays out of the message', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    const secretText = 'customer IBAN DE89 3704 0044 0532 0130 00';
    server.failNext(1, { kind: 'validation', message: `Value '${secretText}' at 'sources.1' failed` });
    const error = await reranker.rerank(QUERY, [secretText], { topN: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankError);
    expect(error).toMatchObject({
      retryable: false,
      message: 'Bedrock rerank cohere.rerank-v3-5:0 failed: ValidationException (HTTP 400) after 1 attempt',
    });
    expect((error as Error).message).not.toContain('IBAN');
    expect((error as RerankError).cause).toMatchObject({ name: 'ValidationException' });
    expect(server.requests).toHaveLength(1);

    // The server's own checks refuse a model it does not know, the same way.
    server.requests.length = 0;
    const unknown = createBedrockReranker({ client, modelId: 'cohere.rerank-v9:0', ...fast });
    await expect(unknown.rerank(QUERY, DOCUMENTS, { topN: 1 })).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/ValidationException \(HTTP 400\)/),
    });
    expect(server.requests).toHaveLength(1);
  });

  test('access denied (a model not enabled in the account) is not retried', async () => {
    const reranker = createBedrockReranker({ client, ...fast });
    server.failNext(1, { kind: 'access_denied' });
    await expect(reranker.rerank(QUERY, DOCUMENTS, { topN: 1 })).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/AccessDeniedException \(HTTP 403\)/),
    });
    expect(server.requests).toHaveLength(1);
  });
});

describe('createRerankerFromEnv', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  test('no reranker without RERANK_MODEL_ID', async () => {
    expect(await createRerankerFromEnv({})).toBeUndefined();
    expect(await createRerankerFromEnv({ AWS_REGION: 'us-east-1' })).toBeUndefined();
  });

  test('refuses an id that is not a reranking model, and an endpoint that is not a URL, naming the variable', async () => {
    await expect(
      createRerankerFromEnv({ RERANK_MODEL_ID: 'anthropic.claude-3-5-haiku-20241022-v1:0' }),
    ).rejects.toThrow(/Invalid environment: RERANK_MODEL_ID: must be a Bedrock reranking model id/);
    await expect(
      createRerankerFromEnv({
        RERANK_MODEL_ID: AMAZON_RERANK_V1,
        AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME: 'nope',
      }),
    ).rejects.toThrow(/Invalid environment: AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME/);
  });

  test('with RERANK_MODEL_ID: a Bedrock reranker in AWS_REGION, at AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME', async () => {
    // The SDK's default credential chain reads the process environment.
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    delete process.env.AWS_SESSION_TOKEN;
    const reranker = await createRerankerFromEnv({
      RERANK_MODEL_ID: AMAZON_RERANK_V1,
      AWS_REGION: 'ca-central-1',
      AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME: server.url,
    });
    expect(reranker?.modelId).toBe(AMAZON_RERANK_V1);
    const results = await reranker?.rerank(QUERY, DOCUMENTS, { topN: 2 });
    expect(results?.map((r) => r.index)).toEqual([1, 3]);
    expect(server.requests).toHaveLength(1);
    expect(configOf(0)?.modelConfiguration.modelArn).toBe(
      'arn:aws:bedrock:ca-central-1::foundation-model/amazon.rerank-v1:0',
    );
    expect(server.requests[0]?.headers.authorization).toMatch(/\/ca-central-1\/bedrock\/aws4_request/);
  });
});
