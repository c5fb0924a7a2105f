// A recording server that speaks the subset of OpenSearch's REST API the OpenSearch adapter uses:
// index creation and mapping updates (strict mappings enforced on `_bulk`, analyzers may not
// change), `_bulk`, `_search` and `_msearch` (NDJSON) with a `knn` query and its filter or a
// `bool` of `must: multi_match` and `filter`, `_count`, `_delete_by_query`, and the faiss
// inner-product score. Keyword queries are scored with a small real BM25 (k1 1.2, b 0.75, Lucene's
// idf, statistics over the whole index as a shard keeps them) over simplified analyzers; see
// `analyze`. A stand-in for the protocol, not a search engine (the real engine's behaviour is what
// OPENSEARCH_URL is for). `unavailable` makes it answer every call as a cluster that lost its
// nodes does (503), for tests of an index outage; `msearchFailures` fails single searches of an
// `_msearch` (the request itself answers 200, as OpenSearch does).

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scoreFromInnerProduct } from '../../../shared/adapters/vector/opensearch.ts';
import { type FailureQueue, failureQueue } from './failure-queue.ts';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

type Doc = Record<string, unknown> & { vector: number[] };
type Query = Record<string, unknown>;
/** A field mapping: a type, an analyzer for text, multi-fields. */
interface FieldMapping {
  type?: string;
  analyzer?: string;
  fields?: Record<string, FieldMapping>;
  [key: string]: unknown;
}
interface Mappings {
  dynamic?: string | boolean;
  properties: Record<string, FieldMapping>;
}
interface StubIndex {
  body: unknown;
  mappings: Mappings;
  docs: Map<string, Doc>;
}
/** An OpenSearch error as a response carries it. */
export interface StubError {
  status: number;
  type: string;
  reason: string;
}
/** One search of an `_msearch`, as the adapter sent it. */
export interface SentSearch {
  header: Query;
  body: Query;
}

export class OpenSearchWireStub {
  readonly requests: Recorded[] = [];
  readonly indices = new Map<string, StubIndex>();
  /** Bulk items to refuse with 429 once, by `_id`. */
  readonly throttleOnce = new Set<string>();
  /** Failures for single searches of `_msearch` requests, one per search, in order. */
  readonly msearchFailures: FailureQueue<StubError> = failureQueue<StubError>();
  /** While true, every call is answered 503 (no master, as a cluster mid-failure answers). */
  unavailable = false;
  /** Calls answered 503 while unavailable. */
  refused = 0;
  private server: Server | undefined;
  url = '';

  async start() {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(body === undefined ? undefined : JSON.stringify(body));
        },
        (error: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { type: 'stub_error', reason: String(error) }, status: 500 }));
        },
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop() {
    const closed = new Promise((resolve) => this.server?.close(resolve));
    // Clients keep connections alive; close them so the process can exit.
    this.server?.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stub');
    const record: Recorded = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      contentType: req.headers['content-type'],
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(record);
    if (this.unavailable) {
      this.refused++;
      return {
        status: 503,
        body: {
          error: {
            type: 'cluster_block_exception',
            reason: 'blocked by: [SERVICE_UNAVAILABLE/2/no master];',
          },
          status: 503,
        },
      };
    }
    const [, name = '', action = ''] = url.pathname.split('/');
    const json = () => (record.body ? (JSON.parse(record.body) as Query) : {});
    const index = this.indices.get(name);
    const missing = errorResponse(indexNotFound(name));

    if (record.method === 'PUT' && action === '') {
      if (index) {
        return {
          status: 400,
          body: { error: { type: 'resource_already_exists_exception', reason: 'exists' }, status: 400 },
        };
      }
      const body = json() as { mappings?: Partial<Mappings> };
      const mappings: Mappings = {
        ...(body.mappings ?? {}),
        properties: { ...(body.mappings?.properties ?? {}) },
      };
      const invalid = checkAnalyzers(mappings.properties);
      if (invalid) return errorResponse(invalid);
      this.indices.set(name, { body, mappings, docs: new Map() });
      return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: name } };
    }
    if (action === '_mapping' && (record.method === 'PUT' || record.method === 'POST')) {
      if (!index) return missing;
      const update = (json() as { properties?: Record<string, FieldMapping> }).properties ?? {};
      const invalid = checkAnalyzers(update) ?? mergeProperties(index.mappings.properties, update, true);
      if (invalid) return errorResponse(invalid);
      mergeProperties(index.mappings.properties, update, false);
      return { status: 200, body: { acknowledged: true } };
    }
    if (action === '_bulk') {
      if (!index) return missing;
      const lines = record.body.split('\n').filter((l) => l.trim() !== '');
      const items: unknown[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const meta = JSON.parse(lines[i] ?? '{}') as { index: { _id: string } };
        const id = meta.index._id;
        if (this.throttleOnce.delete(id)) {
          items.push({
            index: {
              _index: name,
              _id: id,
              status: 429,
              error: { type: 'es_rejected_execution_exception', reason: 'queue full' },
            },
          });
          continue;
        }
        const doc = JSON.parse(lines[i + 1] ?? '{}') as Doc;
        const unmapped = Object.keys(doc).find((field) => !(field in index.mappings.properties));
        if (unmapped !== undefined && index.mappings.dynamic === 'strict') {
          items.push({
            index: {
              _index: name,
              _id: id,
              status: 400,
              error: {
                type: 'strict_dynamic_mapping_exception',
                reason: `mapping set to strict, dynamic introduction of [${unmapped}] within [_doc] is not allowed`,
              },
            },
          });
          continue;
        }
        const existed = index.docs.has(id);
        index.docs.set(id, doc);
        items.push({
          index: {
            _index: name,
            _id: id,
            status: existed ? 200 : 201,
            result: existed ? 'updated' : 'created',
          },
        });
      }
      const errors = items.some((item) => (item as { index: { status: number } }).index.status >= 300);
      return { status: 200, body: { took: 1, errors, items } };
    }
    if (action === '_search') {
      if (!index) {
        return url.searchParams.get('ignore_unavailable') === 'true'
          ? { status: 200, body: { hits: { total: { value: 0, relation: 'eq' }, hits: [] } } }
          : missing;
      }
      return { status: 200, body: search(name, index, json()) };
    }
    if (action === '_msearch' || name === '_msearch') {
      // `/<index>/_msearch` or `/_msearch`: a header's `index` wins over the path's.
      const lines = record.body.split('\n').filter((l) => l.trim() !== '');
      const responses: unknown[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const header = JSON.parse(lines[i] ?? '{}') as { index?: string };
        const target = header.index ?? (name === '_msearch' ? '' : name);
        const injected = this.msearchFailures.next();
        const targetIndex = this.indices.get(target);
        if (injected) {
          responses.push({ ...errorBody(injected), status: injected.status });
        } else if (!targetIndex) {
          responses.push({ ...errorBody(indexNotFound(target)), status: 404 });
        } else {
          responses.push({
            ...search(target, targetIndex, JSON.parse(lines[i + 1] ?? '{}') as Query),
            status: 200,
          });
        }
      }
      return { status: 200, body: { took: 1, responses } };
    }
    if (action === '_count') {
      if (!index) return missing;
      const query = (json().query ?? { match_all: {} }) as Query;
      return {
        status: 200,
        body: { count: [...index.docs.values()].filter((d) => matches(d, query)).length },
      };
    }
    if (action === '_delete_by_query') {
      if (!index) return missing;
      const query = json().query as Query;
      let deleted = 0;
      for (const [id, doc] of index.docs) {
        if (matches(doc, query)) {
          index.docs.delete(id);
          deleted++;
        }
      }
      return { status: 200, body: { took: 1, deleted, total: deleted, version_conflicts: 0, failures: [] } };
    }
    return {
      status: 400,
      body: { error: { type: 'illegal_argument_exception', reason: `stub: ${req.method} ${url.pathname}` } },
    };
  }

  /** The searches of every `_msearch` request so far, in order, each with its header. */
  msearches(): SentSearch[][] {
    return this.requests
      .filter((r) => r.path.endsWith('/_msearch'))
      .map((r) => {
        const lines = r.body
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Query);
        const searches: SentSearch[] = [];
        for (let i = 0; i < lines.length; i += 2)
          searches.push({ header: lines[i] ?? {}, body: lines[i + 1] ?? {} });
        return searches;
      });
  }

  /** A field's analyzer in an index (`filename.text` names a multi-field), for tests. */
  analyzerOf(indexName: string, field: string): string | undefined {
    const mapping = this.indices.get(indexName)?.mappings;
    return mapping ? fieldMapping(mapping, field)?.analyzer : undefined;
  }
}

const indexNotFound = (name: string): StubError => ({
  status: 404,
  type: 'index_not_found_exception',
  reason: `no such index [${name}]`,
});
const errorBody = (error: StubError) => ({ error: { type: error.type, reason: error.reason } });
const errorResponse = (error: StubError) => ({
  status: error.status,
  body: { ...errorBody(error), status: error.status },
});

const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

// --- Mappings ---------------------------------------------------------------------------------

const ANALYZERS = new Set(['standard', 'simple', 'whitespace', 'english', 'keyword']);

/** An analyzer name OpenSearch would not know (the stub knows the built-ins it emulates). */
function checkAnalyzers(properties: Record<string, FieldMapping>, prefix = ''): StubError | undefined {
  for (const [field, mapping] of Object.entries(properties)) {
    if (mapping.analyzer !== undefined && !ANALYZERS.has(mapping.analyzer)) {
      return {
        status: 400,
        type: 'mapper_parsing_exception',
        reason: `analyzer [${mapping.analyzer}] has not been configured in mappings (field [${prefix}${field}])`,
      };
    }
    const inner = mapping.fields && checkAnalyzers(mapping.fields, `${prefix}${field}.`);
    if (inner) return inner;
  }
  return undefined;
}

/**
 * Merges a mapping update as OpenSearch does: new fields and new multi-fields are added; an
 * existing field's type or analyzer cannot change. With `dryRun`, only reports the conflict.
 */
function mergeProperties(
  into: Record<string, FieldMapping>,
  update: Record<string, FieldMapping>,
  dryRun: boolean,
  prefix = '',
): StubError | undefined {
  for (const [field, next] of Object.entries(update)) {
    const current = into[field];
    if (!current) {
      if (!dryRun) into[field] = structuredClone(next);
      continue;
    }
    for (const parameter of ['type', 'analyzer'] as const) {
      const before =
        current[parameter] ?? (parameter === 'analyzer' && current.type === 'text' ? 'default' : undefined);
      const after =
        next[parameter] ?? (parameter === 'analyzer' && next.type === 'text' ? 'default' : undefined);
      if (before !== after) {
        return {
          status: 400,
          type: 'illegal_argument_exception',
          reason: `Mapper for [${prefix}${field}] conflicts with existing mapper:\n\tCannot update parameter [${parameter}] from [${before}] to [${after}]`,
        };
      }
    }
    if (next.fields) {
      if (!dryRun) current.fields ??= {};
      const conflict = mergeProperties(current.fields ?? {}, next.fields, dryRun, `${prefix}${field}.`);
      if (conflict) return conflict;
    }
  }
  return undefined;
}

/** The mapping of `field` or of the multi-field `field.sub`. */
function fieldMapping(mappings: Mappings, field: string): FieldMapping | undefined {
  const direct = mappings.properties[field];
  if (direct) return direct;
  const dot = field.indexOf('.');
  if (dot < 0) return undefined;
  return mappings.properties[field.slice(0, dot)]?.fields?.[field.slice(dot + 1)];
}

/** The stored values of `field` (a multi-field reads its parent's), as strings. */
function fieldValues(mappings: Mappings, doc: Record<string, unknown>, field: string): string[] {
  const source = field in mappings.properties ? field : (field.split('.')[0] ?? field);
  const value = doc[source];
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

// --- Analysis ---------------------------------------------------------------------------------

/** A few of English's stop words (the `english` analyzer drops more; enough to rank). */
const STOP_WORDS = new Set(
  'a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with'.split(
    ' ',
  ),
);

/**
 * Terms of a text, roughly as OpenSearch's built-in analyzers make them: lowercase, split on
 * non-alphanumerics (`simple`: on non-letters); `english` also drops stop words and strips a
 * plural or third-person s. Not exact (no Porter stemmer, no Unicode word breaks: the standard
 * tokenizer keeps `handbook.pdf` whole, this one splits it) — it needs to rank, not to match
 * Lucene token for token.
 */
export function analyze(text: string, analyzer = 'standard'): string[] {
  if (analyzer === 'keyword') return [text];
  const lower = text.toLowerCase();
  if (analyzer === 'whitespace') return text.split(/\s+/).filter(Boolean);
  const tokens = lower.split(analyzer === 'simple' ? /[^\p{L}]+/u : /[^\p{L}\p{N}]+/u).filter(Boolean);
  if (analyzer !== 'english') return tokens;
  return tokens.filter((t) => !STOP_WORDS.has(t)).map(stem);
}

function stem(token: string): string {
  if (token.length > 4 && token.endsWith('ies')) return `${token.slice(0, -3)}y`;
  if (token.length > 3 && token.endsWith('s') && !/(ss|us|is)$/.test(token)) return token.slice(0, -1);
  return token;
}

// --- Search -----------------------------------------------------------------------------------

interface Scored {
  id: string;
  doc: Doc;
  score: number;
}

/** One `_search` body against one index: a `knn` query, or a scored/filtered query. */
function search(
  name: string,
  index: StubIndex,
  body: { size?: number; query?: Query; _source?: boolean | { excludes?: string[] } },
) {
  const query = body.query ?? { match_all: {} };
  let scored: Scored[];
  if ('knn' in query) {
    const knn = query.knn as Record<string, { vector: number[]; k: number; filter?: Query }>;
    const [field, spec] = Object.entries(knn)[0] ?? [];
    scored =
      field && spec
        ? [...index.docs.entries()]
            .filter(([, doc]) => !spec.filter || matches(doc, spec.filter))
            .map(([id, doc]) => ({
              id,
              doc,
              score: scoreFromInnerProduct(dot(spec.vector, doc[field] as number[])),
            }))
            .sort((a, b) => b.score - a.score)
            .slice(0, spec.k)
        : [];
  } else {
    const bm25 = new Bm25(index);
    scored = [];
    for (const [id, doc] of index.docs) {
      const score = scoreQuery(bm25, id, doc, query);
      if (score !== undefined) scored.push({ id, doc, score });
    }
    // Ties keep index order, as Lucene's do (by doc id).
    scored.sort((a, b) => b.score - a.score);
  }
  // `_source` as OpenSearch reads it: `true` or absent returns the whole document, `{excludes}`
  // leaves those fields out.
  const excluded = typeof body._source === 'object' ? (body._source.excludes ?? []) : [];
  const hits = scored.slice(0, body.size ?? 10).map(({ id, doc, score }) => {
    const source = Object.fromEntries(Object.entries(doc).filter(([field]) => !excluded.includes(field)));
    return { _index: name, _id: id, _score: score, _source: source };
  });
  return { took: 1, timed_out: false, hits: { total: { value: hits.length, relation: 'eq' }, hits } };
}

/**
 * The score of a document for a query, undefined when it does not match: `multi_match` scores
 * (BM25), filters (`term`, `match_all`, `bool.filter`) match with no score, `bool.must` sums.
 */
function scoreQuery(bm25: Bm25, id: string, doc: Doc, query: Query): number | undefined {
  if ('multi_match' in query) return bm25.multiMatch(id, query.multi_match as MultiMatch);
  if ('bool' in query) {
    const bool = query.bool as { must?: Query | Query[]; filter?: Query | Query[] };
    const list = (q: Query | Query[] | undefined) => (q === undefined ? [] : Array.isArray(q) ? q : [q]);
    if (!list(bool.filter).every((q) => matches(doc, q))) return undefined;
    let total = 0;
    for (const must of list(bool.must)) {
      const score = scoreQuery(bm25, id, doc, must);
      if (score === undefined) return undefined;
      total += score;
    }
    return total;
  }
  return matches(doc, query) ? 1 : undefined;
}

interface MultiMatch {
  query: string;
  fields: string[];
  type?: 'best_fields' | 'most_fields';
  tie_breaker?: number;
}

/**
 * BM25 as Lucene computes it (k1 1.2, b 0.75): per term, idf · tf / (tf + k1 · (1 − b + b · dl /
 * avgdl)), with idf = ln(1 + (N − df + 0.5) / (df + 0.5)) and N, df, avgdl over the documents of
 * the whole index that have the field (filters do not change statistics). A field's values (an
 * array) are one field; its query terms are analysed with the field's analyzer.
 */
class Bm25 {
  private readonly fields = new Map<
    string,
    { terms: Map<string, string[]>; df: Map<string, number>; avgdl: number }
  >();

  constructor(private readonly index: StubIndex) {}

  multiMatch(id: string, spec: MultiMatch): number | undefined {
    const scores: number[] = [];
    for (const entry of spec.fields) {
      const [field = '', boost = '1'] = entry.split('^');
      const score = this.match(id, field, spec.query);
      if (score !== undefined) scores.push(score * Number(boost));
    }
    if (scores.length === 0) return undefined;
    const sum = scores.reduce((a, b) => a + b, 0);
    if (spec.type === 'most_fields') return sum;
    if (spec.type !== undefined && spec.type !== 'best_fields') {
      throw new Error(`stub: unsupported multi_match type ${spec.type}`);
    }
    const best = Math.max(...scores);
    return best + (spec.tie_breaker ?? 0) * (sum - best);
  }

  /** A `match` (operator or) of the query on one field: the sum of its terms' scores. */
  private match(id: string, field: string, query: string): number | undefined {
    const mapping = fieldMapping(this.index.mappings, field);
    if (mapping?.type !== 'text') return undefined; // unmapped (or not text): matches nothing
    const stats = this.stats(field, mapping.analyzer ?? 'standard');
    const terms = stats.terms.get(id);
    if (!terms) return undefined;
    let score = 0;
    let matched = false;
    for (const term of analyze(query, mapping.analyzer ?? 'standard')) {
      const tf = terms.filter((t) => t === term).length;
      if (tf === 0) continue;
      matched = true;
      const n = stats.terms.size;
      const df = stats.df.get(term) ?? 0;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      score += (idf * tf) / (tf + 1.2 * (1 - 0.75 + (0.75 * terms.length) / stats.avgdl));
    }
    return matched ? score : undefined;
  }

  private stats(field: string, analyzer: string) {
    let stats = this.fields.get(field);
    if (!stats) {
      const terms = new Map<string, string[]>();
      const df = new Map<string, number>();
      let total = 0;
      for (const [id, doc] of this.index.docs) {
        const values = fieldValues(this.index.mappings, doc, field);
        if (values.length === 0) continue;
        const tokens = values.flatMap((value) => analyze(value, analyzer));
        terms.set(id, tokens);
        total += tokens.length;
        for (const term of new Set(tokens)) df.set(term, (df.get(term) ?? 0) + 1);
      }
      stats = { terms, df, avgdl: terms.size === 0 ? 1 : Math.max(total / terms.size, 1e-9) };
      this.fields.set(field, stats);
    }
    return stats;
  }
}

/** `bool.filter`, `term` (both forms) and `match_all`: the filters the adapter sends. */
function matches(doc: Record<string, unknown>, query: Query): boolean {
  if ('match_all' in query) return true;
  if ('bool' in query) {
    const bool = query.bool as { filter?: Query | Query[]; must?: unknown };
    if (bool.must !== undefined)
      throw new Error(`stub: a scoring query in a filter ${JSON.stringify(query)}`);
    const filter = bool.filter ?? [];
    return (Array.isArray(filter) ? filter : [filter]).every((q) => matches(doc, q));
  }
  if ('term' in query) {
    const [field, value] = Object.entries(query.term as Record<string, unknown>)[0] ?? [];
    const wanted = value !== null && typeof value === 'object' ? (value as { value: unknown }).value : value;
    return field !== undefined && doc[field] === wanted;
  }
  throw new Error(`stub: unsupported query ${JSON.stringify(query)}`);
}
