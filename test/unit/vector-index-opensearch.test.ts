// The OpenSearch adapter, two ways:
// - always: through the REAL OpenSearch client against a small local HTTP server (127.0.0.1) that
//   records every request and answers the calls the adapter makes the way OpenSearch does (index
//   creation and mapping updates, `_bulk` under a strict mapping, `_msearch` with a `knn` query and
//   its filter and a BM25 `multi_match` with its filter, `_count`, `_delete_by_query`, and the faiss
//   inner-product score). It checks the wire format — the mapping and its analyzers, the msearch
//   DSL with the filter inside `knn.vector.filter` and beside the `multi_match`, per-search errors,
//   `_id`s on bulk items, the score conversion — and runs the shared contract suite against it. It
//   is a stand-in for the protocol, not a search engine: the real engine's behaviour is what
//   OPENSEARCH_URL is for.
// - when OPENSEARCH_URL is set (e.g. http://admin:pass@127.0.0.1:9200): the contract suite against
//   that real cluster, on indexes named for this run and deleted afterwards.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { Client } from '@opensearch-project/opensearch';
import {
  CandidateSearchError,
  chunkIndexBody,
  cosineFromScore,
  createOpenSearchClient,
  createOpenSearchVectorIndex,
  MAX_KEYWORD_QUERY_CHARS,
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

  test('creates the index once with k-NN on, faiss HNSW and inner product, keyword scope fields and English text fields', async () => {
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
    expect(body.mappings.dynamic).toBe('strict');
    for (const field of ['text', 'title', 'headingPath', 'heading']) {
      expect(body.mappings.properties[field]).toEqual({ type: 'text', analyzer: 'english' });
    }
    // The file name stays a keyword (exact), with a text multi-field to match its words.
    expect(body.mappings.properties.filename).toEqual({
      type: 'keyword',
      fields: { text: { type: 'text', analyzer: 'simple' } },
    });
    expect(Object.keys(body.mappings.properties).sort()).toEqual([
      'botId',
      'documentId',
      'filename',
      'heading',
      'headingPath',
      'ordinal',
      'page',
      'tenantId',
      'text',
      'title',
      'vector',
    ]);
    expect(stub.requests.filter((r) => r.path.endsWith('/_mapping'))).toEqual([]);

    // A second adapter (another container) finds the index already there, brings its mapping up to
    // date (a no-op here) and carries on.
    const again = createOpenSearchVectorIndex({
      client: stubClient,
      modelId: 'amazon.titan-embed-text-v2:0',
      dimension: 3,
    });
    await again.upsert([chunk(2, [0, 0, 1])]);
    expect(stub.requests.filter((r) => r.path.endsWith('/_mapping'))).toHaveLength(1);
    expect(await again.countDocument(scope, 'doc-1')).toBe(3);
  });

  test('an index created before keyword search gets the new fields by a mapping update, its analyzers unchanged', async () => {
    // The mapping of the previous release: no title, no heading path, `text` and `heading` on the
    // standard analyzer, the file name a bare keyword.
    const name = 'chunks-legacy-model-2';
    const legacy = chunkIndexBody(2) as { mappings: { properties: Record<string, unknown> } };
    const { title: _t, headingPath: _h, ...kept } = legacy.mappings.properties;
    await stubClient.indices.create({
      index: name,
      body: {
        ...legacy,
        mappings: {
          ...legacy.mappings,
          properties: {
            ...kept,
            text: { type: 'text' },
            heading: { type: 'text' },
            filename: { type: 'keyword' },
          },
        },
      } as never,
    });
    stub.requests.length = 0;

    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'legacy-model', dimension: 2 });
    await index.upsert([
      chunk(0, [1, 0], { title: 'Ferry timetable', headingPath: ['Sailings', 'Winter'], heading: 'Winter' }),
    ]);
    const [update, ...more] = stub.requests.filter((r) => r.path === `/${name}/_mapping`);
    expect(more).toEqual([]);
    // Only additions: a new field or multi-field may be added, an analyzer may not change.
    expect(JSON.parse(update?.body ?? '{}')).toEqual({
      properties: {
        filename: { type: 'keyword', fields: { text: { type: 'text', analyzer: 'simple' } } },
        title: { type: 'text', analyzer: 'english' },
        headingPath: { type: 'text', analyzer: 'english' },
      },
    });
    expect(stub.analyzerOf(name, 'text')).toBeUndefined(); // still the standard analyzer
    expect(stub.analyzerOf(name, 'title')).toBe('english');
    expect(stub.analyzerOf(name, 'filename.text')).toBe('simple');
    // The chunk with a title was accepted by the strict mapping, and its title is searchable.
    const found = await index.candidates(scope, { text: 'ferry', k: 5, minScore: 0 });
    expect(found.keyword.map((h) => h.id)).toEqual(['doc-1:0']);
    expect(found.keyword[0]).toMatchObject({ title: 'Ferry timetable', headingPath: ['Sailings', 'Winter'] });

    // The stub refuses what OpenSearch refuses: changing an analyzer of an existing field.
    await expect(
      stubClient.indices.putMapping({
        index: name,
        body: { properties: { text: { type: 'text', analyzer: 'english' } } } as never,
      }),
    ).rejects.toMatchObject({
      statusCode: 400,
      meta: { body: { error: { reason: expect.stringMatching(/Cannot update parameter \[analyzer\]/) } } },
    });
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
      chunk(2, [-5, 0], { title: 'Handbook', heading: 'H2', headingPath: ['H1', 'H2'] }),
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
    expect(sources[1]).not.toHaveProperty('title');
    expect(sources[1]).not.toHaveProperty('headingPath');
    expect(sources[2]).toMatchObject({ title: 'Handbook', heading: 'H2', headingPath: ['H1', 'H2'] });
    expect(sources[2].vector).toEqual([-1, 0]);
    for (const r of bulks) {
      expect(r.query.get('refresh')).toBe('wait_for');
      expect(r.contentType).toMatch(/ndjson/);
    }
  });

  const scopeFilter = [{ term: { tenantId: 'tenant-1' } }, { term: { botId: 'bot-1' } }];

  test('one _msearch holds the knn query (filter inside knn) and the BM25 query (filter beside it)', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'query-model', dimension: 2 });
    await index.upsert([chunk(0, [1, 0])]);
    stub.requests.length = 0;
    await index.candidates(scope, {
      vector: [0, 7],
      text: '  How do I get a refund?  ',
      k: 4,
      minScore: 0.2,
    });
    expect(stub.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /chunks-query-model-2/_msearch',
    ]);
    expect(stub.requests[0]?.contentType).toMatch(/ndjson/);
    expect(stub.msearches()).toEqual([
      [
        {
          header: {},
          body: {
            size: 4,
            _source: { excludes: ['vector'] },
            query: {
              knn: {
                vector: {
                  vector: [0, 1], // normalised on query too
                  k: 4,
                  filter: { bool: { filter: scopeFilter } },
                },
              },
            },
          },
        },
        {
          header: {},
          body: {
            size: 4,
            _source: true,
            track_total_hits: false,
            query: {
              bool: {
                must: {
                  multi_match: {
                    query: 'How do I get a refund?',
                    fields: ['text', 'title^2', 'headingPath^2', 'heading^2', 'filename.text'],
                    type: 'best_fields',
                    tie_breaker: 0.3,
                  },
                },
                filter: scopeFilter,
              },
            },
          },
        },
      ],
    ]);

    // A vector alone, or a text alone, is one search of one _msearch; blank text is no search.
    await index.candidates(scope, { vector: [1, 0], text: ' \n ', k: 2, minScore: 0 });
    await index.candidates(scope, { text: 'refund', k: 2, minScore: 0 });
    const [, vectorOnly, textOnly] = stub.msearches();
    expect(vectorOnly?.map((s) => Object.keys(s.body.query as object))).toEqual([['knn']]);
    expect(textOnly?.map((s) => Object.keys(s.body.query as object))).toEqual([['bool']]);
    // Nothing to look for, or k = 0: no request at all.
    stub.requests.length = 0;
    expect(await index.candidates(scope, { text: '   ', k: 5, minScore: 0 })).toEqual({
      vector: [],
      keyword: [],
    });
    expect(await index.candidates(scope, { vector: [1, 0], text: 'refund', k: 0, minScore: 0 })).toEqual({
      vector: [],
      keyword: [],
    });
    expect(stub.requests).toEqual([]);
  });

  test('an over-long text is cut at a word boundary before it is sent', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'long-model', dimension: 2 });
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    await index.candidates(scope, { text: words, k: 3, minScore: 0 });
    const [[sent] = []] = stub.msearches();
    type KeywordBody = { query: { bool: { must: { multi_match: { query: string } } } } };
    const query = (sent?.body as KeywordBody | undefined)?.query.bool.must.multi_match.query ?? '';
    expect(query.length).toBeLessThanOrEqual(MAX_KEYWORD_QUERY_CHARS);
    expect(words.startsWith(`${query} `)).toBe(true);
  });

  test('per-search errors of the _msearch: a missing index is empty, anything else throws', async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'errors-model', dimension: 2 });
    await index.upsert([chunk(0, [1, 0], { text: 'refund policy' })]);
    const query = { vector: [1, 0], text: 'refund', k: 3, minScore: -1 };
    stub.msearchFailures.clear();

    // The index went away under one of the two searches only: that list is empty, the other stays.
    stub.msearchFailures.failNext(1, {
      status: 404,
      type: 'index_not_found_exception',
      reason: 'no such index [chunks-errors-model-2]',
    });
    const partial = await index.candidates(scope, query);
    expect(partial.vector).toEqual([]);
    expect(partial.keyword.map((h) => h.id)).toEqual(['doc-1:0']);

    // The keyword search was refused (the request itself answered 200): the call throws.
    stub.msearchFailures.failNext(
      1,
      { status: 429, type: 'es_rejected_execution_exception', reason: 'search queue full' },
      { after: 1 },
    );
    const refused = index.candidates(scope, query);
    await expect(refused).rejects.toBeInstanceOf(CandidateSearchError);
    await expect(refused).rejects.toMatchObject({
      search: 'keyword',
      status: 429,
      type: 'es_rejected_execution_exception',
      message: expect.stringMatching(
        /keyword search.*429 es_rejected_execution_exception: search queue full/,
      ),
    });
    stub.msearchFailures.failNext(1, {
      status: 400,
      type: 'search_phase_execution_exception',
      reason: 'bad',
    });
    await expect(index.candidates(scope, query)).rejects.toMatchObject({ search: 'vector', status: 400 });
    expect(stub.msearchFailures.next()).toBeUndefined(); // every injected failure was used

    // The whole request failing (the cluster down) throws as well.
    stub.unavailable = true;
    try {
      await expect(index.candidates(scope, query)).rejects.toMatchObject({
        statusCode: 503,
        message: 'cluster_block_exception',
      });
    } finally {
      stub.unavailable = false;
    }
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
    const { vector: hits, keyword } = await index.candidates(scope, {
      vector: [1, 0],
      k: 10,
      minScore: -0.75,
    });
    expect(keyword).toEqual([]);
    expect(hits.map((h) => h.ordinal)).toEqual([0, 1, 2]);
    expect(hits.map((h) => h.score)).toEqual([
      expect.closeTo(1, 6),
      expect.closeTo(Math.SQRT1_2, 6),
      expect.closeTo(-Math.SQRT1_2, 6),
    ]);
  });

  test("keyword hits carry the engine's BM25 score, best first, untouched by minScore", async () => {
    const index = createOpenSearchVectorIndex({ client: stubClient, modelId: 'bm25-model', dimension: 2 });
    await index.upsert([
      chunk(0, [1, 0], { text: 'ferry ferry timetable' }),
      chunk(1, [-1, 0], { text: 'the ferry leaves at noon from the north pier of the island' }),
      chunk(2, [1, 0], { text: 'bicycles' }),
    ]);
    const { keyword } = await index.candidates(scope, { text: 'ferry', k: 10, minScore: 0.99 });
    expect(keyword.map((h) => h.ordinal)).toEqual([0, 1]);
    const [first, second] = keyword.map((h) => h.score);
    expect(first).toBeGreaterThan(second ?? Number.POSITIVE_INFINITY);
    expect(second).toBeGreaterThan(0);
    // Without a query vector the hits' vectors are not fetched, and no cosines come back.
    expect(await index.candidates(scope, { text: 'ferry', k: 10, minScore: 0 })).not.toHaveProperty(
      'keywordSimilarity',
    );
    // With one, each keyword hit carries its cosine with the query, in list order.
    const both = await index.candidates(scope, { vector: [1, 0], text: 'ferry', k: 10, minScore: 0.99 });
    expect(both.keyword.map((h) => h.ordinal)).toEqual([0, 1]);
    expect(both.keywordSimilarity?.map((c) => Math.round(c * 1000) / 1000)).toEqual([1, -1]);
    expect(both.vector.map((h) => h.ordinal)).toEqual([0, 2]);
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
      await index.candidates(scope, { vector: [1, 0], text: 'passage', k: 1, minScore: 0 });
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
    expect(await index.candidates(scope, { vector: [1, 0], text: 'anything', k: 3, minScore: 0 })).toEqual({
      vector: [],
      keyword: [],
    });
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
