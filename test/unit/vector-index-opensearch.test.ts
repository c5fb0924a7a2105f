// The OpenSearch adapter, two ways:
// - always: through the REAL OpenSearch client against a small local HTTP server (127.0.0.1) that
//   records every request and answers the calls the adapter makes the way OpenSearch does (index
//   creation, `_bulk`, a `knn` query with its filter, `_count`, `_delete_by_query`, and the faiss
//   inner-product score). It checks the wire format — the filter inside `knn.vector.filter`, `_id`s
//   on bulk items, the score conversion — and runs the shared contract suite against it. It is a
//   stand-in for the protocol, not a vector engine: the real engine's behaviour is what
//   OPENSEARCH_URL is for.
// - when OPENSEARCH_URL is set (e.g. http://admin:pass@127.0.0.1:9200): the contract suite against
//   that real cluster, on indexes named for this run and deleted afterwards.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { Client } from '@opensearch-project/opensearch';
import {
  cosineFromScore,
  createOpenSearchClient,
  createOpenSearchVectorIndex,
  scoreFromInnerProduct,
} from '../../shared/adapters/vector/opensearch.ts';
import { describeVectorIndexContract } from '../contract/vector-index.contract.ts';
import { OpenSearchWireStub } from '../support/wire/opensearch-server.ts';

// ---------------------------------------------------------------------------------------------

const stub = new OpenSearchWireStub();
let stubClient: Client;

beforeAll(async () => {
  await stub.start();
  stubClient = createOpenSearchClient({ url: stub.url });
});
afterAll(async () => {
  await stubClient?.close();
  await stub.stop();
});

let models = 0;
describeVectorIndexContract(
  'OpenSearch adapter over its wire protocol (local stub server)',
  async (dimension) =>
    createOpenSearchVectorIndex({ client: stubClient, modelId: `stub-model-${models++}`, dimension }),
);

describe('OpenSearch adapter on the wire', () => {
  beforeEach(() => {
    stub.requests.length = 0;
  });

  const scope = { tenantId: 'tenant-1', botId: 'bot-1' };
  const chunk = (ordinal: number, vector: number[], extra: object = {}) => ({
    ...scope,
    id: `doc-1:${ordinal}`,
    documentId: 'doc-1',
    ordinal,
    filename: 'handbook.pdf',
    text: `passage ${ordinal}`,
    vector,
    ...extra,
  });

  test('creates the index once with k-NN on, faiss HNSW and inner product, and keyword scope fields', async () => {
    const index = createOpenSearchVectorIndex({
      client: stubClient,
      modelId: 'amazon.titan-embed-text-v2:0',
      dimension: 3,
    });
    await index.upsert([chunk(0, [1, 0, 0])]);
    await index.upsert([chunk(1, [0, 1, 0])]);
    const creates = stub.requests.filter((r) => r.method === 'PUT' && !r.path.includes('/_'));
    expect(creates.map((r) => r.path)).toEqual(['/chunks-amazon-titan-embed-text-v2-0-3']);
    const body = JSON.parse(creates[0]?.body ?? '{}');
    expect(body.settings.index.knn).toBe(true);
    expect(body.mappings.properties.vector).toEqual({
      type: 'knn_vector',
      dimension: 3,
      method: {
        name: 'hnsw',
        engine: 'faiss',
        space_type: 'innerproduct',
        parameters: { m: 16, ef_construction: 128 },
      },
    });
    for (const field of ['tenantId', 'botId', 'documentId']) {
      expect(body.mappings.properties[field]).toEqual({ type: 'keyword' });
    }
    expect(body.mappings.properties.ordinal).toEqual({ type: 'integer' });
    expect(body.mappings.properties.page).toEqual({ type: 'integer' });
    expect(body.mappings.properties.text).toEqual({ type: 'text' });

    // A second adapter (another container) finds the index already there and carries on.
    const again = createOpenSearchVectorIndex({
      client: stubClient,
      modelId: 'amazon.titan-embed-text-v2:0',
      dimension: 3,
    });
    await again.upsert([chunk(2, [0, 0, 1])]);
    expect(await again.countDocument(scope, 'doc-1')).toBe(3);
  });

  test('bulk writes carry each chunk id as _id, unit vectors, and wait for a refresh', async () => {
    const index = createOpenSearchVectorIndex({
      client: stubClient,
      modelId: 'bulk-model',
      dimension: 2,
      bulkSize: 2,
    });
    await index.upsert([
      chunk(0, [3, 4], { page: 2 }),
      chunk(1, [0, 2]),
      chunk(2, [-5, 0], { heading: 'H' }),
    ]);
    const bulks = stub.requests.filter((r) => r.path.endsWith('/_bulk'));
    expect(bulks).toHaveLength(2); // bulkSize 2: three chunks, two requests
    const lines = bulks.flatMap((r) =>
      r.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    const actions = lines.filter((_, i) => i % 2 === 0);
    const sources = lines.filter((_, i) => i % 2 === 1);
    expect(actions.map((a) => a.index._id)).toEqual(['doc-1:0', 'doc-1:1', 'doc-1:2']);
    expect(sources[0]).toEqual({
      tenantId: 'tenant-1',
      botId: 'bot-1',
      documentId: 'doc-1',
      ordinal: 0,
      filename: 'handbook.pdf',
      text: 'passage 0',
      page: 2,
      vector: [0.6, 0.8],
    });
    expect(sources[1]).not.toHaveProperty('page');
    expect(sources[2].vector).toEqual([-1, 0]);
    for (const r of bulks) {
      expect(r.query.get('refresh')).toBe('wait_for');
      expect(r.contentType).toMatch(/ndjson/);
    }
  });

  test('the knn query carries the tenant AND bot filter inside knn.vector.filter, with k = size = topK', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'query-model', dimension: 2 });
    await index.upsert([chunk(0, [1, 0])]);
    await index.search(scope, [0, 7], { topK: 4, minScore: 0.2 });
    const [search] = stub.searches();
    const body = JSON.parse(search?.body ?? '{}');
    expect(body.size).toBe(4);
    expect(body._source).toEqual({ excludes: ['vector'] });
    expect(Object.keys(body.query)).toEqual(['knn']);
    expect(body.query.knn.vector).toEqual({
      vector: [0, 1], // normalised on query too
      k: 4,
      filter: { bool: { filter: [{ term: { tenantId: 'tenant-1' } }, { term: { botId: 'bot-1' } }] } },
    });
  });

  test("the engine's inner-product score becomes cosine similarity, and minScore applies to it", async () => {
    for (const ip of [1, 0.75, 0.5, 0, -0.25, -0.5, -1]) {
      expect(cosineFromScore(scoreFromInnerProduct(ip))).toBeCloseTo(ip, 12);
    }
    expect(cosineFromScore(1.8)).toBeCloseTo(0.8, 12); // 1 + ip
    expect(cosineFromScore(0.5)).toBeCloseTo(-1, 12); // 1 / (1 − ip)
    expect(cosineFromScore(0.8)).toBeCloseTo(-0.25, 12);

    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'score-model', dimension: 2 });
    await index.upsert([chunk(0, [1, 0]), chunk(1, [1, 1]), chunk(2, [-1, 1]), chunk(3, [-1, 0])]);
    const hits = await index.search(scope, [1, 0], { topK: 10, minScore: -0.75 });
    expect(hits.map((h) => h.ordinal)).toEqual([0, 1, 2]);
    expect(hits.map((h) => h.score)).toEqual([
      expect.closeTo(1, 6),
      expect.closeTo(Math.SQRT1_2, 6),
      expect.closeTo(-Math.SQRT1_2, 6),
    ]);
  });

  test('deletes are _delete_by_query with term filters and refresh; counts are _count', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'delete-model', dimension: 2 });
    await index.upsert([chunk(0, [1, 0])]);
    stub.requests.length = 0;
    await index.deleteDocument(scope, 'doc-1');
    await index.deleteBot(scope);
    await index.deleteTenant('tenant-1');
    expect(await index.countDocument(scope, 'doc-1')).toBe(0);
    const deletes = stub.requests.filter((r) => r.path.endsWith('/_delete_by_query'));
    expect(deletes.map((r) => JSON.parse(r.body).query.bool.filter)).toEqual([
      [{ term: { tenantId: 'tenant-1' } }, { term: { botId: 'bot-1' } }, { term: { documentId: 'doc-1' } }],
      [{ term: { tenantId: 'tenant-1' } }, { term: { botId: 'bot-1' } }],
      [{ term: { tenantId: 'tenant-1' } }],
    ]);
    for (const r of deletes) expect(r.query.get('refresh')).toBe('true');
    expect(stub.requests.filter((r) => r.path.endsWith('/_count'))).toHaveLength(1);
  });

  test('retries only the bulk items OpenSearch throttled', async () => {
    const index = createOpenSearchVectorIndex({
      client: stubClient,
      modelId: 'throttle-model',
      dimension: 2,
    });
    stub.throttleOnce.add('doc-1:1');
    await index.upsert([chunk(0, [1, 0]), chunk(1, [0, 1]), chunk(2, [1, 1])]);
    const bulks = stub.requests.filter((r) => r.path.endsWith('/_bulk'));
    expect(bulks).toHaveLength(2);
    const retriedIds = (bulks[1]?.body ?? '')
      .trim()
      .split('\n')
      .filter((_, i) => i % 2 === 0)
      .map((l) => JSON.parse(l).index._id);
    expect(retriedIds).toEqual(['doc-1:1']);
    expect(await index.countDocument(scope, 'doc-1')).toBe(3);
  });

  test('a domain client signs every request with SigV4 for service es from the default credential chain', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'session-token',
    });
    const signed = createOpenSearchClient({ endpoint: stub.url, region: 'eu-west-1' });
    try {
      const index = createOpenSearchVectorIndex({ client: signed, modelId: 'signed-model', dimension: 2 });
      await index.upsert([chunk(0, [1, 0])]);
      await index.search(scope, [1, 0], { topK: 1, minScore: 0 });
    } finally {
      await signed.close();
      process.env = saved;
    }
    expect(stub.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of stub.requests) {
      expect(r.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/es\/aws4_request, SignedHeaders=\S*host\S*, Signature=[0-9a-f]{64}$/,
      );
      expect(r.headers['x-amz-security-token']).toBe('session-token');
      expect(r.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test('a missing index searches and counts as empty, and ping still succeeds', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'never-written', dimension: 2 });
    expect(await index.search(scope, [1, 0], { topK: 3, minScore: 0 })).toEqual([]);
    expect(await index.countDocument(scope, 'doc')).toBe(0);
    await index.ping();
    await index.deleteBot(scope);
  });
});

// ---------------------------------------------------------------------------------------------
// A real cluster, when one is configured.

const realUrl = process.env.OPENSEARCH_URL;
if (realUrl) {
  const run = randomUUID().slice(0, 8);
  let client: Client;
  const created: string[] = [];
  beforeAll(() => {
    client = createOpenSearchClient({
      url: realUrl,
      insecureTls: process.env.OPENSEARCH_INSECURE_TLS === '1',
    });
  });
  afterAll(async () => {
    if (created.length > 0)
      await client.indices.delete({ index: created.join(','), ignore_unavailable: true });
    await client.close();
  });
  let n = 0;
  describeVectorIndexContract(`OpenSearch at ${new URL(realUrl).host}`, async (dimension) => {
    const modelId = `contract-${run}-${n++}`;
    created.push(`chunks-${modelId}-${dimension}`);
    return createOpenSearchVectorIndex({ client, modelId, dimension });
  });
} else {
  describe.skip('VectorIndex contract: a real OpenSearch cluster (set OPENSEARCH_URL, e.g. http://admin:pass@127.0.0.1:9200, to run)', () => {
    test('contract suite', () => undefined);
  });
}
