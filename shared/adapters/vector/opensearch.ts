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
//
// Keyword candidates are BM25 over the chunk's text, title and heading path (the built-in
// `english` analyzer: stemming, stop words) and its file name (`filename.text`, the `simple`
// analyzer). `candidates` sends the knn query and the keyword query in ONE `_msearch` request,
// each with the tenant AND bot filter, and returns the two lists unfused: fusion is the retrieval
// use-case's, so both adapters rank alike. BM25 statistics (document frequencies, average field
// lengths) are the shard's, over every tenant's chunks: filters select, they do not re-score.

import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Client, type ClientOptions, errors } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import type { Passage } from '../../domain/passage.ts';
import type {
  CandidateQuery,
  Candidates,
  IndexedChunk,
  IndexScope,
  VectorIndex,
} from '../../ports/vector-index.ts';
import { withRetry } from '../retry.ts';
import { checkVector, chunkIndexName, normalize, toPassage } from './index-name.ts';

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

/**
 * Analyzers of the keyword fields. `english` (standard tokenizer, possessives, lowercase, English
 * stop words, Porter stemming) for prose. File names get `simple` (lowercase, split at every
 * non-letter) rather than `standard`: the standard tokenizer follows Unicode word breaks, which
 * keep `handbook.pdf` and `refund_policy` whole, so no word of such a name would match.
 */
const PROSE = { type: 'text', analyzer: 'english' } as const;
const FILENAME = { type: 'keyword', fields: { text: { type: 'text', analyzer: 'simple' } } } as const;

/** The fields a keyword query matches, with their boosts (the chunk's own text is the baseline). */
export const KEYWORD_FIELDS = ['text', 'title^2', 'headingPath^2', 'heading^2', 'filename.text'];

/**
 * Longest keyword query sent, in characters (cut at a word boundary). Each analysed word becomes a
 * clause per field, and the engine refuses a query over `indices.query.bool.max_clause_count`
 * (1024 by default) clauses: a pasted page must not fail retrieval.
 */
export const MAX_KEYWORD_QUERY_CHARS = 512;

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
        filename: FILENAME,
        title: PROSE,
        text: PROSE,
        page: { type: 'integer' },
        heading: PROSE,
        // A list of strings: any field takes an array of values.
        headingPath: PROSE,
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

/**
 * What an index created before keyword search lacks, as a mapping update: new fields and a new
 * multi-field may be added to an existing index; an existing field's analyzer may not be changed,
 * so `text` and `heading` are left out. In such an index they keep the `standard` analyzer (no
 * stemming, no stop words) until the chunks are reindexed into an index created with this
 * mapping, and chunks written before the update have no `title`, `headingPath` or
 * `filename.text` until they are re-ingested: keyword search finds them by their text only.
 */
export function chunkMappingUpdate() {
  return { properties: { filename: FILENAME, title: PROSE, headingPath: PROSE } };
}

const scopeFilter = (scope: IndexScope) => [
  { term: { tenantId: scope.tenantId } },
  { term: { botId: scope.botId } },
];

interface ChunkSource {
  documentId: string;
  ordinal: number;
  filename: string;
  title?: string | null;
  text: string;
  page?: number | null;
  heading?: string | null;
  headingPath?: string[] | null;
  /** Only in keyword hits asked with a query vector (see `keywordSearch`). */
  vector?: number[];
}

interface SearchResponseHit {
  _id: string;
  _score: number | null;
  _source: ChunkSource;
}

interface SearchResponse {
  hits?: { hits?: SearchResponseHit[] };
}

/** One search of an `_msearch`: its result, or the error it alone failed with. */
type MsearchItem = SearchResponse & { status?: number; error?: { type?: string; reason?: string } };

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

/** One search of an `_msearch` failed (the request as a whole succeeded). */
export class CandidateSearchError extends Error {
  constructor(
    readonly search: 'vector' | 'keyword',
    readonly status: number | undefined,
    readonly type: string | undefined,
    reason: string | undefined,
  ) {
    super(
      `OpenSearch refused the ${search} search (${status ?? '?'} ${type ?? 'error'}: ${reason ?? 'no reason given'})`,
    );
    this.name = 'CandidateSearchError';
  }
}

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

/** One adapter instance's client and settings, which the functions below share. */
interface OpenSearchIndex {
  readonly client: Client;
  readonly index: string;
  readonly dimension: number;
  readonly refresh: 'wait_for' | false;
  readonly bulkSize: number;
  /** Creates the index on the first write (once per instance, again after a failure). */
  readonly ensureIndex: () => Promise<void>;
}

export function createOpenSearchVectorIndex(options: OpenSearchVectorIndexOptions): VectorIndex {
  const { client, dimension } = options;
  const index = chunkIndexName(options.modelId, dimension);
  let ensured: Promise<void> | undefined;
  const os: OpenSearchIndex = {
    client,
    index,
    dimension,
    refresh: options.refresh ?? 'wait_for',
    bulkSize: options.bulkSize ?? 200,
    ensureIndex: () => {
      ensured ??= createIndex(client, index, options).catch((error: unknown) => {
        ensured = undefined;
        throw error;
      });
      return ensured;
    },
  };
  return {
    upsert: (chunks) => upsert(os, chunks),
    candidates: (scope, query) => candidates(os, scope, query),
    countDocument: async (scope, documentId) => {
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
    deleteDocument: (scope, documentId) => deleteWhere(os, [...scopeFilter(scope), { term: { documentId } }]),
    deleteBot: (scope) => deleteWhere(os, scopeFilter(scope)),
    deleteTenant: (tenantId) => deleteWhere(os, [{ term: { tenantId } }]),
    ping: async () => {
      // A search, not `HEAD /`: the read-only roles may only `_search` the index. A missing index
      // still proves the domain answers.
      await client.search({ index, body: { size: 0 }, ignore_unavailable: true, allow_no_indices: true });
    },
  };
}

async function createIndex(client: Client, index: string, options: OpenSearchVectorIndexOptions) {
  try {
    await client.indices.create({ index, body: chunkIndexBody(options.dimension, options) as never });
  } catch (error) {
    // Another writer created it first: fine, the name fixes model and dimension. It may predate
    // keyword search: add the fields it lacks (a no-op on an index that has them), or the strict
    // mapping would refuse every chunk with a title or a heading path.
    if (errorType(error) !== 'resource_already_exists_exception') throw error;
    await client.indices.putMapping({ index, body: chunkMappingUpdate() as never });
  }
}

async function upsert(os: OpenSearchIndex, chunks: readonly IndexedChunk[]): Promise<void> {
  if (chunks.length === 0) return;
  for (const chunk of chunks) checkVector(chunk.vector, os.dimension, `The vector of chunk ${chunk.id}`);
  await os.ensureIndex();
  for (let i = 0; i < chunks.length; i += os.bulkSize) await bulk(os, chunks.slice(i, i + os.bulkSize));
}

/** Writes one batch; only throttled items are retried, and only when nothing else failed. */
async function bulk(os: OpenSearchIndex, chunks: readonly IndexedChunk[]): Promise<void> {
  let pending = chunks;
  await withRetry(
    async () => {
      const body = pending.flatMap((chunk) => [
        { index: { _index: os.index, _id: chunk.id } },
        toSource(chunk),
      ]);
      const response = await os.client.bulk({ index: os.index, body, refresh: os.refresh });
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
}

async function deleteWhere(os: OpenSearchIndex, filter: object[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await os.client.deleteByQuery({
        index: os.index,
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
}

/** The vector and keyword searches in one `_msearch`, each list unfused. */
async function candidates(
  os: OpenSearchIndex,
  scope: IndexScope,
  query: CandidateQuery,
): Promise<Candidates> {
  if (query.vector) checkVector(query.vector, os.dimension, 'The query vector');
  const k = Math.min(Math.floor(query.k), 10_000);
  const text = keywordText(query.text);
  const searches: { kind: 'vector' | 'keyword'; body: object }[] = [];
  if (k > 0 && query.vector) searches.push({ kind: 'vector', body: vectorSearch(scope, query.vector, k) });
  if (k > 0 && text)
    searches.push({ kind: 'keyword', body: keywordSearch(scope, text, k, query.vector !== undefined) });
  const result: Candidates = { vector: [], keyword: [] };
  if (searches.length === 0) return result;

  let responses: MsearchItem[];
  try {
    // The index in the path (the readers' IAM policy names `<index>/_msearch`), empty headers.
    const response = await os.client.msearch({
      index: os.index,
      body: searches.flatMap((s) => [{}, s.body]) as never,
    });
    responses = (response.body as { responses?: MsearchItem[] }).responses ?? [];
  } catch (error) {
    if (isIndexMissing(error)) return result;
    throw error;
  }
  for (const [i, { kind }] of searches.entries()) {
    const item = responses[i];
    if (item?.error) {
      // Each search succeeds or fails on its own: a missing index is an empty one.
      if (item.error.type === 'index_not_found_exception') continue;
      throw new CandidateSearchError(kind, item.status, item.error.type, item.error.reason);
    }
    const hits = item?.hits?.hits ?? [];
    if (kind === 'vector') result.vector.push(...vectorHits(hits, query, k));
    else addKeywordHits(result, hits.slice(0, k), query);
  }
  return result;
}

/**
 * The keyword list, and each hit's cosine with the query from its stored (unit) vector: the
 * use-case weighs keyword candidates by meaning too, as it does with LanceDB's.
 */
function addKeywordHits(result: Candidates, hits: readonly SearchResponseHit[], query: CandidateQuery): void {
  result.keyword.push(...hits.map((hit) => toPassage(hit._id, hit._source, hit._score ?? 0)));
  const unit = query.vector && normalize(query.vector);
  if (unit && hits.length > 0) {
    Object.assign(result, { keywordSimilarity: hits.map((hit) => dot(unit, hit._source.vector ?? [])) });
  }
}

/** The knn query: the tenant AND bot filter inside the `knn` clause (efficient filtering). */
function vectorSearch(scope: IndexScope, vector: readonly number[], k: number) {
  return {
    size: k,
    _source: { excludes: [VECTOR_FIELD] },
    query: {
      knn: {
        [VECTOR_FIELD]: { vector: normalize(vector), k, filter: { bool: { filter: scopeFilter(scope) } } },
      },
    },
  };
}

/**
 * The keyword query: BM25 over the chunk's fields, the tenant AND bot filter beside it (a filter
 * clause: it selects, it does not score). `best_fields` scores a chunk by its best field plus 0.3
 * of the others, not by their sum (`most_fields`): the fields overlap — the heading is the last
 * entry of the heading path, the title is often the first heading —, and a sum would count one
 * word two or three times and let a chunk under a matching heading outrank the chunk whose own
 * text holds the words. The tie breaker still puts a chunk matching in several fields first.
 */
function keywordSearch(scope: IndexScope, text: string, k: number, withVectors: boolean) {
  return {
    size: k,
    // With a query vector, the hits' vectors too (k of them): their cosine is a dot product.
    _source: withVectors ? true : { excludes: [VECTOR_FIELD] },
    // Top hits only: not counting every match lets the engine skip non-competitive documents.
    track_total_hits: false,
    query: {
      bool: {
        must: { multi_match: { query: text, fields: KEYWORD_FIELDS, type: 'best_fields', tie_breaker: 0.3 } },
        filter: scopeFilter(scope),
      },
    },
  };
}

/** The query's words, trimmed and cut to `MAX_KEYWORD_QUERY_CHARS`; undefined when there are none. */
function keywordText(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  if (!trimmed) return undefined;
  if (trimmed.length <= MAX_KEYWORD_QUERY_CHARS) return trimmed;
  const cut = trimmed.slice(0, MAX_KEYWORD_QUERY_CHARS);
  const space = cut.search(/\s\S*$/);
  return (space > 0 ? cut.slice(0, space) : cut).trimEnd();
}

/** Vector hits as cosines, those under `minScore` dropped, best first. */
function vectorHits(hits: readonly SearchResponseHit[], query: CandidateQuery, k: number): Passage[] {
  const results: Passage[] = [];
  for (const hit of hits) {
    const score = cosineFromScore(hit._score ?? 0);
    if (!(score >= query.minScore)) continue;
    results.push(toPassage(hit._id, hit._source, score));
  }
  return results.sort((a, b) => b.score - a.score).slice(0, k);
}

function toSource(chunk: IndexedChunk) {
  return {
    tenantId: chunk.tenantId,
    botId: chunk.botId,
    documentId: chunk.documentId,
    ordinal: chunk.ordinal,
    filename: chunk.filename,
    ...(chunk.title === undefined ? {} : { title: chunk.title }),
    text: chunk.text,
    ...(chunk.page === undefined ? {} : { page: chunk.page }),
    ...(chunk.heading === undefined ? {} : { heading: chunk.heading }),
    ...(chunk.headingPath?.length ? { headingPath: [...chunk.headingPath] } : {}),
    [VECTOR_FIELD]: normalize(chunk.vector),
  };
}

/** The dot product of two vectors (the cosine when both are unit length); 0 for a missing one. */
function dot(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] ?? 0) * (b[i] ?? 0);
  return sum;
}
