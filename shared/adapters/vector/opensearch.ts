// The vector index in AWS: an OpenSearch Service domain with the k-NN plugin. One index per
// embedding model and dimension (see index-name.ts) shared by every tenant and bot — per-bot
// indexes run into shard and index quotas — created lazily on the first write.
//
// Vectors are unit-normalised on write and on query and stored in a faiss HNSW graph with
// `innerproduct` (faiss `cosinesimil` was not supported on 2.18), so the inner product IS the
// cosine similarity. The tenant AND bot filter sits inside the `knn` clause (efficient filtering:
// the filter is applied during the graph search, or the engine switches to an exact search over
// the filtered documents when few match), so `k` neighbours come back from the bot's own chunks.
// OpenSearch reports an inner product `ip` as the score `1 + ip` when ip ≥ 0 and `1 / (1 − ip)`
// otherwise; `cosineFromScore` inverts that, so a bot's `minScore` means what it means in LanceDB.

import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Client, type ClientOptions, errors } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import type { IndexedChunk, IndexScope, SearchHit, VectorIndex } from '../../ports/vector-index.ts';
import { withRetry } from '../retry.ts';
import { checkVector, chunkIndexName, normalize, toSearchHit } from './index-name.ts';

export interface OpenSearchVectorIndexOptions {
  readonly client: Client;
  readonly modelId: string;
  readonly dimension: number;
  /**
   * When a bulk write becomes searchable: `wait_for` (default) answers once a refresh made it
   * visible, so a document marked ready is searchable at once; `false` leaves it to the refresh
   * interval (about 1 s).
   */
  readonly refresh?: 'wait_for' | false;
  /** Documents per `_bulk` request (default 200: about 5 MB with 1024-d vectors). */
  readonly bulkSize?: number;
  /** Shards and replicas of a newly created index (the domain's defaults otherwise). */
  readonly shards?: number;
  readonly replicas?: number;
}

export type OpenSearchConnection =
  /** An OpenSearch Service domain, signed with SigV4 (service `es`) from the default credential chain. */
  | { readonly endpoint: string; readonly region: string; readonly requestTimeoutMs?: number }
  /** A plain URL (tests, a local cluster): basic auth in the URL if any; `insecureTls` for self-signed certificates. */
  | { readonly url: string; readonly insecureTls?: boolean; readonly requestTimeoutMs?: number };

/** Builds the client once per container; pass it to `createOpenSearchVectorIndex`. */
export function createOpenSearchClient(connection: OpenSearchConnection): Client {
  const common: ClientOptions = { requestTimeout: connection.requestTimeoutMs ?? 10_000 };
  if ('url' in connection) {
    return new Client({
      ...common,
      node: connection.url,
      ...(connection.insecureTls ? { ssl: { rejectUnauthorized: false } } : {}),
    });
  }
  // The signer would import the provider chain itself on first use; passing it keeps the bundle's
  // dependency explicit, and the chain caches its credentials until they near expiry.
  const credentials = defaultProvider();
  const node = /^https?:\/\//.test(connection.endpoint)
    ? connection.endpoint
    : `https://${connection.endpoint}`;
  return new Client({
    ...common,
    ...AwsSigv4Signer({ region: connection.region, service: 'es', getCredentials: () => credentials() }),
    node,
  });
}

/** The cosine similarity behind a faiss `innerproduct` score (for unit vectors, ip = cos). */
export function cosineFromScore(score: number): number {
  const ip = score >= 1 ? score - 1 : 1 - 1 / score;
  return Math.max(-1, Math.min(1, ip));
}

/** The score OpenSearch reports for an inner product (the inverse of `cosineFromScore`). */
export function scoreFromInnerProduct(ip: number): number {
  return ip >= 0 ? 1 + ip : 1 / (1 - ip);
}

export const VECTOR_FIELD = 'vector';

/** The index body: k-NN on, strict mappings, faiss HNSW with inner product over unit vectors. */
export function chunkIndexBody(dimension: number, options: { shards?: number; replicas?: number } = {}) {
  return {
    settings: {
      index: {
        knn: true,
        ...(options.shards === undefined ? {} : { number_of_shards: options.shards }),
        ...(options.replicas === undefined ? {} : { number_of_replicas: options.replicas }),
      },
    },
    mappings: {
      dynamic: 'strict',
      properties: {
        tenantId: { type: 'keyword' },
        botId: { type: 'keyword' },
        documentId: { type: 'keyword' },
        ordinal: { type: 'integer' },
        filename: { type: 'keyword' },
        text: { type: 'text' },
        page: { type: 'integer' },
        heading: { type: 'text' },
        [VECTOR_FIELD]: {
          type: 'knn_vector',
          dimension,
          method: {
            name: 'hnsw',
            engine: 'faiss',
            space_type: 'innerproduct',
            parameters: { m: 16, ef_construction: 128 },
          },
        },
      },
    },
  };
}

const scopeFilter = (scope: IndexScope) => [
  { term: { tenantId: scope.tenantId } },
  { term: { botId: scope.botId } },
];

interface ChunkSource {
  documentId: string;
  ordinal: number;
  filename: string;
  text: string;
  page?: number | null;
  heading?: string | null;
}

interface BulkItem {
  [op: string]: { _id?: string; status: number; error?: { type?: string; reason?: string } };
}

const statusOf = (error: unknown) => (error instanceof errors.ResponseError ? error.statusCode : undefined);

const errorType = (error: unknown): string | undefined =>
  error instanceof errors.ResponseError
    ? (error.body as { error?: { type?: string } })?.error?.type
    : undefined;

const isIndexMissing = (error: unknown) =>
  statusOf(error) === 404 &&
  (errorType(error) ?? 'index_not_found_exception') === 'index_not_found_exception';

/** Some bulk items were refused; `retryable` holds the ones OpenSearch throttled (429). */
export class BulkWriteError extends Error {
  constructor(
    message: string,
    readonly failed: readonly { id: string; status: number; type?: string; reason?: string }[],
  ) {
    super(message);
    this.name = 'BulkWriteError';
  }
}

export function createOpenSearchVectorIndex(options: OpenSearchVectorIndexOptions): VectorIndex {
  const { client, dimension } = options;
  const index = chunkIndexName(options.modelId, dimension);
  const refresh = options.refresh ?? 'wait_for';
  const bulkSize = options.bulkSize ?? 200;
  let ensured: Promise<void> | undefined;

  const ensureIndex = () => {
    ensured ??= (async () => {
      try {
        await client.indices.create({ index, body: chunkIndexBody(dimension, options) as never });
      } catch (error) {
        // Another writer created it first: fine, the name fixes model and dimension.
        if (errorType(error) !== 'resource_already_exists_exception') throw error;
      }
    })().catch((error: unknown) => {
      ensured = undefined;
      throw error;
    });
    return ensured;
  };

  const bulk = async (chunks: readonly IndexedChunk[]) => {
    let pending = chunks;
    await withRetry(
      async () => {
        const body = pending.flatMap((chunk) => [
          { index: { _index: index, _id: chunk.id } },
          toSource(chunk),
        ]);
        const response = await client.bulk({ index, body, refresh });
        const result = response.body as { errors?: boolean; items?: BulkItem[] };
        if (!result.errors) return;
        const failed = (result.items ?? []).flatMap((item, i) => {
          const outcome = Object.values(item)[0];
          if (!outcome?.error) return [];
          return [{ id: outcome._id ?? pending[i]?.id ?? '?', status: outcome.status, ...outcome.error, i }];
        });
        if (failed.length === 0) return;
        const throttled = new Set(failed.filter((f) => f.status === 429).map((f) => f.i));
        const failures = failed.map(({ id, status, type, reason }) => ({ id, status, type, reason }));
        const first = failures[0];
        const error = new BulkWriteError(
          `OpenSearch refused ${failures.length} of ${pending.length} chunks (first: ${first?.id} ${first?.status} ${first?.type}: ${first?.reason})`,
          failures,
        );
        // Only throttled items are retried, and only when nothing else failed.
        if (throttled.size === failed.length) pending = pending.filter((_, i) => throttled.has(i));
        throw error;
      },
      {
        retries: 4,
        baseMs: 200,
        maxMs: 4_000,
        isRetryable: (error) =>
          error instanceof BulkWriteError
            ? error.failed.every((f) => f.status === 429)
            : statusOf(error) === 429,
      },
    );
  };

  const deleteWhere = async (filter: object[]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await client.deleteByQuery({
          index,
          body: { query: { bool: { filter } } },
          refresh: true,
          conflicts: 'proceed',
        });
        const conflicts = (response.body as { version_conflicts?: number }).version_conflicts ?? 0;
        // A chunk rewritten while the delete ran is still there: delete again (a few times).
        if (conflicts === 0 || attempt >= 3) return;
      } catch (error) {
        if (isIndexMissing(error)) return;
        throw error;
      }
    }
  };

  return {
    async upsert(chunks) {
      if (chunks.length === 0) return;
      for (const chunk of chunks) checkVector(chunk.vector, dimension, `The vector of chunk ${chunk.id}`);
      await ensureIndex();
      for (let i = 0; i < chunks.length; i += bulkSize) await bulk(chunks.slice(i, i + bulkSize));
    },

    async search(scope, vector, { topK, minScore }) {
      checkVector(vector, dimension, 'The query vector');
      const k = Math.min(Math.floor(topK), 10_000);
      if (k <= 0) return [];
      let response: { body: unknown };
      try {
        response = await client.search({
          index,
          body: {
            size: k,
            _source: { excludes: [VECTOR_FIELD] },
            query: {
              knn: {
                [VECTOR_FIELD]: {
                  vector: normalize(vector),
                  k,
                  filter: { bool: { filter: scopeFilter(scope) } },
                },
              },
            },
          } as never,
        });
      } catch (error) {
        if (isIndexMissing(error)) return [];
        throw error;
      }
      const hits = (
        response.body as { hits?: { hits?: { _id: string; _score: number; _source: ChunkSource }[] } }
      ).hits?.hits;
      const results: SearchHit[] = [];
      for (const hit of hits ?? []) {
        const score = cosineFromScore(hit._score);
        if (!(score >= minScore)) continue;
        results.push(toSearchHit(hit._id, hit._source, score));
      }
      return results.sort((a, b) => b.score - a.score).slice(0, k);
    },

    async countDocument(scope, documentId) {
      try {
        const response = await client.count({
          index,
          body: { query: { bool: { filter: [...scopeFilter(scope), { term: { documentId } }] } } },
        });
        return (response.body as { count: number }).count;
      } catch (error) {
        if (isIndexMissing(error)) return 0;
        throw error;
      }
    },

    deleteDocument: (scope, documentId) => deleteWhere([...scopeFilter(scope), { term: { documentId } }]),
    deleteBot: (scope) => deleteWhere(scopeFilter(scope)),
    deleteTenant: (tenantId) => deleteWhere([{ term: { tenantId } }]),

    async ping() {
      // A search, not `HEAD /`: the read-only roles may only `_search` the index. A missing index
      // still proves the domain answers.
      await client.search({ index, body: { size: 0 }, ignore_unavailable: true, allow_no_indices: true });
    },
  };
}

function toSource(chunk: IndexedChunk) {
  return {
    tenantId: chunk.tenantId,
    botId: chunk.botId,
    documentId: chunk.documentId,
    ordinal: chunk.ordinal,
    filename: chunk.filename,
    text: chunk.text,
    ...(chunk.page === undefined ? {} : { page: chunk.page }),
    ...(chunk.heading === undefined ? {} : { heading: chunk.heading }),
    [VECTOR_FIELD]: normalize(chunk.vector),
  };
}
