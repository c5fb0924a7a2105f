// A recording server that speaks the subset of OpenSearch's REST API the OpenSearch adapter uses:
// index creation, `_bulk`, a `knn` query with its filter, `_count`, `_delete_by_query`, and the
// faiss inner-product score. A stand-in for the protocol, not a vector engine (the real engine's
// behaviour is what OPENSEARCH_URL is for). `unavailable` makes it answer every call as a cluster
// that lost its nodes does (503), for tests of an index outage.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scoreFromInnerProduct } from '../../../shared/adapters/vector/opensearch.ts';

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

export class OpenSearchWireStub {
  readonly requests: Recorded[] = [];
  readonly indices = new Map<string, { body: unknown; docs: Map<string, Doc> }>();
  /** Bulk items to refuse with 429 once, by `_id`. */
  readonly throttleOnce = new Set<string>();
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
    const missing = {
      status: 404,
      body: {
        error: { type: 'index_not_found_exception', reason: `no such index [${name}]`, index: name },
        status: 404,
      },
    };

    if (record.method === 'PUT' && action === '') {
      if (index) {
        return {
          status: 400,
          body: { error: { type: 'resource_already_exists_exception', reason: 'exists' }, status: 400 },
        };
      }
      this.indices.set(name, { body: json(), docs: new Map() });
      return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: name } };
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
        const existed = index.docs.has(id);
        index.docs.set(id, JSON.parse(lines[i + 1] ?? '{}') as Doc);
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
      const body = json() as { size?: number; query?: Query };
      const knn = (body.query?.knn ?? {}) as Record<string, { vector: number[]; k: number; filter?: Query }>;
      const [field, spec] = Object.entries(knn)[0] ?? [];
      const scored =
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
      const hits = scored.slice(0, body.size ?? 10).map(({ id, doc, score }) => {
        const { vector: _omitted, ...source } = doc;
        return { _index: name, _id: id, _score: score, _source: source };
      });
      return {
        status: 200,
        body: { took: 1, hits: { total: { value: hits.length, relation: 'eq' }, hits } },
      };
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

  searches() {
    return this.requests.filter((r) => r.path.endsWith('/_search') && r.body.includes('knn'));
  }
}

const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

/** `bool.filter`, `term` (both forms) and `match_all`: what the adapter sends. */
function matches(doc: Record<string, unknown>, query: Query): boolean {
  if ('match_all' in query) return true;
  if ('bool' in query) {
    const filter = (query.bool as { filter?: Query | Query[] }).filter ?? [];
    return (Array.isArray(filter) ? filter : [filter]).every((q) => matches(doc, q));
  }
  if ('term' in query) {
    const [field, value] = Object.entries(query.term as Record<string, unknown>)[0] ?? [];
    const wanted = value !== null && typeof value === 'object' ? (value as { value: unknown }).value : value;
    return field !== undefined && doc[field] === wanted;
  }
  throw new Error(`stub: unsupported query ${JSON.stringify(query)}`);
}
