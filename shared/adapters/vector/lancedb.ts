// The embedded index of the local platform: LanceDB on disk. Only the LOCAL platform uses it — in
// AWS the OpenSearch adapter does. LanceDB and Apache Arrow are imported with `await import()`
// only (types aside): the Lambda bundles mark them external (lib/bundling.ts), and a static import
// of an external package would be hoisted into every bundle that includes this module and fail it.
//
// Layout: one table per embedding model, dimension AND bot (`chunks-<model>-<dim>--<tenant
// digest>--<bot digest>`), unlike OpenSearch's one shared index (whose per-index quotas do not
// apply here). A search then reads only its bot's rows: measured at 10k rows with a bot holding
// 1k, hybrid search took p50 10.8 ms on one shared table (flat scan of all rows with the filter)
// and 4.0 ms on the bot's own table (bench/embed prints today's figures). Each returned row's
// tenant and bot are checked against the query's scope, so a row in the wrong table is never
// returned; counts and deletes keep the SQL filter.
//
// Vector search is exact (a flat scan; at a bot's size, ~1k rows, ~3 ms, and it never misses a
// neighbour). Keyword search is LanceDB's BM25 full-text index over `searchText` (title › heading
// path, then the text), English stemming and stop words. Rows written after the index was last
// built are still searched (flat), but slowly, and many small appends fragment the table: so after
// writes the table is optimised (compaction and index update) once enough rows are pending, and
// in any case shortly after the last write.
//
// Writes: LanceDB commits optimistically, and two merge-inserts racing on one table both succeed
// with the SAME ids inserted twice (measured: 50 ids upserted twice at once left 100 rows). So every
// write to a table goes through one in-process queue per table (keyed by directory and table,
// shared by every adapter instance of the process), and a commit conflict that still surfaces
// (another process) is retried. One process per data directory, as the local platform runs.

import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Connection, Session, Table } from '@lancedb/lancedb';
import type { Schema } from 'apache-arrow';
import type { Passage } from '../../domain/passage.ts';
import {
  type CandidateQuery,
  type Candidates,
  type IndexedChunk,
  type IndexScope,
  searchableText,
  type VectorIndex,
} from '../../ports/vector-index.ts';
import { withRetry } from '../retry.ts';
import { checkVector, chunkIndexName, normalize, toPassage } from './index-name.ts';

export interface LanceVectorIndexOptions {
  /** The database directory (created if missing). */
  readonly dir: string;
  readonly modelId: string;
  readonly dimension: number;
  /** Optimise a table once this many written rows wait for the full-text index (default 256). */
  readonly optimizeAfterRows?: number;
  /** …and this long after its last write in any case (default 1 s; 0 optimises after every write). */
  readonly optimizeDelayMs?: number;
}

// A type, not an interface: LanceDB takes rows as `Record<string, unknown>`.
type Row = {
  id: string;
  tenantId: string;
  botId: string;
  documentId: string;
  ordinal: number;
  filename: string;
  title: string | null;
  text: string;
  page: number | null;
  heading: string | null;
  /** JSON array of the headings above the chunk. */
  headingPath: string | null;
  /** What BM25 reads: the context line, then the text. */
  searchText: string;
  vector: number[];
};

type StoredRow = Omit<Row, 'vector' | 'tenantId' | 'botId' | 'searchText'>;
type ScopedRow = StoredRow & Pick<Row, 'tenantId' | 'botId'>;

const COLUMNS = [
  'id',
  'documentId',
  'ordinal',
  'filename',
  'title',
  'text',
  'page',
  'heading',
  'headingPath',
];

/** A SQL string literal for a LanceDB filter: ids are validated upstream, but quote them anyway. */
export const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;

const scopeFilter = (scope: IndexScope) =>
  `\`tenantId\` = ${sqlString(scope.tenantId)} AND \`botId\` = ${sqlString(scope.botId)}`;

/** Table names allow only [A-Za-z0-9_.-]: ids are digested (any string stays a valid name). */
const digest = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 24);

/** Per table: the tail of the queue of writes, shared across adapter instances in this process. */
const writeQueues = new Map<string, Promise<unknown>>();

function serialize<T>(key: string, write: () => Promise<T>): Promise<T> {
  const previous = writeQueues.get(key) ?? Promise.resolve();
  const run = previous.then(write, write);
  const tail = run.catch(() => undefined);
  writeQueues.set(key, tail);
  void tail.then(() => {
    if (writeQueues.get(key) === tail) writeQueues.delete(key);
  });
  return run;
}

/**
 * Open tables by directory and name, shared by every adapter instance of the process (like the
 * write queues): a bot's table dropped through one instance must not stay open in another.
 */
const openTables = new Map<string, Promise<Table>>();

/**
 * The caches every connection of the process shares, bounded. LanceDB's defaults (6 GB for index
 * data, 1 GB for file metadata) fill up with entries for versions no read asks for again, since
 * every write makes a new version: 1,000 one-chunk upserts left ~200 MB of them, and the cache
 * grows with every write. Search at 10k rows is as fast with these (bench/embed.ts).
 */
const INDEX_CACHE_BYTES = 32n * 1024n * 1024n;
const METADATA_CACHE_BYTES = 16n * 1024n * 1024n;
let session: Session | undefined;

/** Per directory and model: the one-time move of a pre-per-bot shared table into bots' tables. */
const legacyMigrations = new Map<string, Promise<void>>();

/** Per table: rows written since its last optimisation, and the timer that will optimise it. */
const pending = new Map<string, { rows: number; timer?: NodeJS.Timeout }>();

const isCommitConflict = (error: unknown) =>
  error instanceof Error && /conflict|retryable commit|concurrent/i.test(error.message);

export async function chunkSchema(dimension: number): Promise<Schema> {
  const { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } = await import('apache-arrow');
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('tenantId', new Utf8(), false),
    new Field('botId', new Utf8(), false),
    new Field('documentId', new Utf8(), false),
    new Field('ordinal', new Int32(), false),
    new Field('filename', new Utf8(), false),
    new Field('title', new Utf8(), true),
    new Field('text', new Utf8(), false),
    new Field('page', new Int32(), true),
    new Field('heading', new Utf8(), true),
    new Field('headingPath', new Utf8(), true),
    new Field('searchText', new Utf8(), false),
    new Field('vector', new FixedSizeList(dimension, new Field('item', new Float32(), true)), false),
  ]);
}

/** One adapter instance's settings and its connection, which the functions below share. */
interface Lance {
  readonly dir: string;
  readonly dimension: number;
  /** The model's index name: every table of this model and dimension starts with it. */
  readonly base: string;
  readonly optimizeAfterRows: number;
  readonly optimizeDelayMs: number;
  readonly db: () => Promise<Connection>;
}

export function createLanceVectorIndex(options: LanceVectorIndexOptions): VectorIndex {
  const dir = resolve(options.dir);
  let connection: Promise<Connection> | undefined;
  const lance: Lance = {
    dir,
    dimension: options.dimension,
    base: chunkIndexName(options.modelId, options.dimension),
    optimizeAfterRows: options.optimizeAfterRows ?? 256,
    optimizeDelayMs: options.optimizeDelayMs ?? 1_000,
    // Strong read consistency (interval 0): another adapter instance in this process (the embed
    // worker writes, the chat handler reads) sees each commit at once. A manifest check per read
    // costs a file stat on local disk.
    db: () => {
      connection ??= import('@lancedb/lancedb')
        .then(({ connect, Session }) => {
          session ??= new Session(INDEX_CACHE_BYTES, METADATA_CACHE_BYTES);
          return connect(dir, { readConsistencyInterval: 0, session });
        })
        .catch((error: unknown) => {
          connection = undefined;
          throw error;
        });
      return connection;
    },
  };
  return {
    upsert: (chunks) => upsert(lance, chunks),
    candidates: (scope, query) => candidates(lance, scope, query),
    countDocument: async (scope, documentId) => {
      await migrated(lance);
      return readTable(lance, tableNameOf(lance, scope), 0, (t) =>
        t.countRows(`${scopeFilter(scope)} AND \`documentId\` = ${sqlString(documentId)}`),
      );
    },
    deleteDocument: (scope, documentId) => deleteDocument(lance, scope, documentId),
    deleteBot: async (scope) => {
      await migrated(lance);
      await dropTables(lance, [tableNameOf(lance, scope)]);
    },
    deleteTenant: async (tenantId) => {
      await migrated(lance);
      await dropTables(lance, await tenantTables(lance, tenantId));
    },
    ping: async () => {
      await (await lance.db()).tableNames();
    },
  };
}

const tenantPrefix = (lance: Lance, tenantId: string) => `${lance.base}--${digest(tenantId)}--`;
const tableNameOf = (lance: Lance, scope: IndexScope) =>
  `${tenantPrefix(lance, scope.tenantId)}${digest(scope.tenantId, scope.botId)}`;
const queueKey = (lance: Lance, name: string) => `${lance.dir}\u0000${name}`;

const tenantTables = async (lance: Lance, tenantId: string) =>
  (await (await lance.db()).tableNames()).filter((name) => name.startsWith(tenantPrefix(lance, tenantId)));

/** The table if it exists (cached once found; a miss is not cached, another writer may create it). */
async function existingTable(lance: Lance, name: string): Promise<Table | undefined> {
  const key = queueKey(lance, name);
  const cached = openTables.get(key);
  if (cached) return cached;
  const conn = await lance.db();
  if (!(await conn.tableNames()).includes(name)) return undefined;
  const opened = conn.openTable(name);
  openTables.set(key, opened);
  opened.catch(() => openTables.delete(key));
  return opened;
}

/**
 * Runs a read on a bot's table, or answers `absent` when it has none. A table dropped by
 * another process (a bot deleted through the platform while a test or tool holds it open)
 * fails its next read with "Not found": the stale handle is forgotten and the read tried again.
 */
async function readTable<T>(
  lance: Lance,
  name: string,
  absent: T,
  read: (t: Table) => Promise<T>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const t = await existingTable(lance, name);
    if (!t) return absent;
    try {
      return await read(t);
    } catch (error) {
      // Not `instanceof Error`: the native module's errors may come from another realm (jest's vm).
      const message = String((error as { message?: unknown } | undefined)?.message ?? '');
      if (attempt > 0 || !/not found/i.test(message)) throw error;
      openTables.delete(queueKey(lance, name));
    }
  }
}

/** Opens or creates a bot's table with its full-text index; only called inside its write queue. */
async function writableTable(lance: Lance, name: string): Promise<Table> {
  const found = await existingTable(lance, name);
  if (found) return found;
  const conn = await lance.db();
  const created = createTable(conn, name, lance.dimension);
  openTables.set(queueKey(lance, name), created);
  try {
    return await created;
  } catch (error) {
    openTables.delete(queueKey(lance, name));
    throw error;
  }
}

async function createTable(conn: Connection, name: string, dimension: number): Promise<Table> {
  const { Index } = await import('@lancedb/lancedb');
  const table = await conn.createEmptyTable(name, await chunkSchema(dimension), {
    mode: 'create',
    existOk: true,
  });
  if (!(await table.listIndices()).some((index) => index.columns.includes('searchText'))) {
    await table.createIndex('searchText', {
      config: Index.fts({
        language: 'English',
        stem: true,
        removeStopWords: true,
        lowercase: true,
        asciiFolding: true,
        withPosition: false,
      }),
    });
  }
  return table;
}

const write = <T>(lance: Lance, name: string, fn: (t: Table) => Promise<T>) =>
  serialize(queueKey(lance, name), () =>
    withRetry(async () => fn(await writableTable(lance, name)), {
      retries: 5,
      baseMs: 20,
      maxMs: 500,
      isRetryable: isCommitConflict,
    }),
  );

/** Compacts the table and folds new rows into its full-text index (in its write queue). */
function optimize(lance: Lance, name: string) {
  const key = queueKey(lance, name);
  const state = pending.get(key);
  if (state?.timer) clearTimeout(state.timer);
  pending.delete(key);
  // In the table's write queue, and only if the table still exists: a bot deleted meanwhile
  // (here or by another process) must not get an empty table back.
  return serialize(key, async () => {
    const t = await existingTable(lance, name);
    await t?.optimize({ cleanupOlderThan: new Date(Date.now() - 60_000) });
  }).catch(
    () => undefined, // the next write schedules it again; search stays correct meanwhile
  );
}

async function noteWritten(lance: Lance, name: string, rows: number) {
  const key = queueKey(lance, name);
  const state = pending.get(key) ?? { rows: 0 };
  state.rows += rows;
  pending.set(key, state);
  if (state.rows >= lance.optimizeAfterRows || lance.optimizeDelayMs === 0) {
    await optimize(lance, name);
    return;
  }
  if (state.timer) clearTimeout(state.timer);
  state.timer = setTimeout(() => void optimize(lance, name), lance.optimizeDelayMs);
  state.timer.unref();
}

async function dropTables(lance: Lance, names: string[]) {
  const conn = await lance.db();
  for (const name of names) {
    const key = queueKey(lance, name);
    await serialize(key, async () => {
      const state = pending.get(key);
      if (state?.timer) clearTimeout(state.timer);
      pending.delete(key);
      openTables.delete(key);
      if ((await conn.tableNames()).includes(name)) await conn.dropTable(name);
    });
  }
}

/**
 * Data written before tables were per bot sits in one shared table named `base`: its rows move
 * into their bots' tables (without title or heading path, which it never stored), then it is
 * dropped. Once per process and directory; every method waits for it.
 */
function migrated(lance: Lance): Promise<void> {
  const key = queueKey(lance, lance.base);
  let done = legacyMigrations.get(key);
  if (!done) {
    done = migrateLegacyTable(lance, key);
    legacyMigrations.set(key, done);
    done.catch(() => legacyMigrations.delete(key));
  }
  return done;
}

async function migrateLegacyTable(lance: Lance, key: string): Promise<void> {
  const conn = await lance.db();
  if (!(await conn.tableNames()).includes(lance.base)) return;
  const legacy = await conn.openTable(lance.base);
  const byTable = new Map<string, Row[]>();
  for (const row of (await legacy.query().toArray()) as Array<
    Omit<IndexedChunk, 'vector'> & {
      vector: Iterable<number>;
      page: number | null;
      heading: string | null;
    }
  >) {
    const chunk: IndexedChunk = {
      id: row.id,
      tenantId: row.tenantId,
      botId: row.botId,
      documentId: row.documentId,
      ordinal: row.ordinal,
      filename: row.filename,
      text: row.text,
      ...(row.page !== null && { page: row.page }),
      ...(row.heading !== null && { heading: row.heading }),
      vector: Array.from(row.vector),
    };
    const name = tableNameOf(lance, chunk);
    byTable.set(name, [...(byTable.get(name) ?? []), toRow(chunk)]);
  }
  for (const [name, rows] of byTable) {
    await write(lance, name, (t) =>
      t.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows),
    );
    await noteWritten(lance, name, rows.length);
  }
  await serialize(key, () => conn.dropTable(lance.base));
}

async function upsert(lance: Lance, chunks: readonly IndexedChunk[]): Promise<void> {
  if (chunks.length === 0) return;
  await migrated(lance);
  const byTable = new Map<string, Map<string, Row>>();
  for (const chunk of chunks) {
    checkVector(chunk.vector, lance.dimension, `The vector of chunk ${chunk.id}`);
    const name = tableNameOf(lance, chunk);
    const rows = byTable.get(name) ?? new Map<string, Row>();
    rows.set(chunk.id, toRow(chunk)); // the last of two same-id chunks wins, as in OpenSearch
    byTable.set(name, rows);
  }
  for (const [name, rows] of byTable) {
    await write(lance, name, (t) =>
      t
        .mergeInsert('id')
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute([...rows.values()]),
    );
    await noteWritten(lance, name, rows.size);
  }
}

async function deleteDocument(lance: Lance, scope: IndexScope, documentId: string): Promise<void> {
  await migrated(lance);
  const name = tableNameOf(lance, scope);
  if (!(await existingTable(lance, name))) return;
  await write(lance, name, (t) =>
    t.delete(`${scopeFilter(scope)} AND \`documentId\` = ${sqlString(documentId)}`),
  );
  await noteWritten(lance, name, 0);
}

type VectorRow = ScopedRow & { _distance: number };
type KeywordRow = ScopedRow & { _score: number; vector?: Iterable<number> };

async function candidates(lance: Lance, scope: IndexScope, query: CandidateQuery): Promise<Candidates> {
  if (query.vector) checkVector(query.vector, lance.dimension, 'The query vector');
  await migrated(lance);
  const k = Math.min(Math.floor(query.k), 10_000);
  const text = query.text?.trim() ?? '';
  if (k <= 0) return { vector: [], keyword: [] };
  const lists = await readTable(lance, tableNameOf(lance, scope), undefined, (t) =>
    Promise.all([
      query.vector ? vectorRows(t, query.vector, k) : [],
      text ? keywordRows(t, text, k, query.vector !== undefined) : [],
    ]),
  );
  if (!lists) return { vector: [], keyword: [] };
  // The table holds this bot's rows only, so no SQL filter runs inside the scans (it cost
  // about a third of a hybrid search: bench/embed); each row's tenant and bot are still
  // checked here, so a row in the wrong table could never be returned.
  const ours = (row: { tenantId: string; botId: string }) =>
    row.tenantId === scope.tenantId && row.botId === scope.botId;
  const [vectorFound, keywordFound] = lists;
  const vector: Passage[] = [];
  for (const row of vectorFound.filter(ours)) {
    // LanceDB's cosine distance is 1 − cos(θ).
    const score = 1 - row._distance;
    if (score >= query.minScore) vector.push(hitOf(row, score));
  }
  const unit = query.vector ? normalize(query.vector) : undefined;
  const keyword = dedupe(
    keywordFound
      .filter(ours)
      .map((row) => ({
        hit: hitOf(row, row._score),
        cosine: unit && row.vector ? dot(unit, row.vector) : 0,
      }))
      .sort((a, b) => b.hit.score - a.hit.score),
    (k) => k.hit.id,
  );
  return {
    vector: dedupe(vector, (hit) => hit.id),
    keyword: keyword.map((k) => k.hit),
    ...(unit && keyword.length > 0 && { keywordSimilarity: keyword.map((k) => k.cosine) }),
  };
}

const vectorRows = (t: Table, vector: readonly number[], k: number) =>
  t
    .vectorSearch(normalize(vector))
    .distanceType('cosine')
    .select([...COLUMNS, 'tenantId', 'botId', '_distance'])
    .limit(k)
    .toArray() as Promise<VectorRow[]>;

const keywordRows = async (t: Table, text: string, k: number, withVectors: boolean) => {
  const { MatchQuery } = await import('@lancedb/lancedb');
  return (
    t
      .query()
      .fullTextSearch(new MatchQuery(text, 'searchText'))
      // With a query vector, the rows' vectors too: their cosine is a dot product here (both unit
      // length), so the caller can weigh every keyword candidate by meaning.
      .select([...COLUMNS, 'tenantId', 'botId', '_score', ...(withVectors ? ['vector'] : [])])
      .limit(k)
      .toArray() as Promise<KeywordRow[]>
  );
};

function hitOf(row: StoredRow, score: number): Passage {
  const headingPath = row.headingPath ? (JSON.parse(row.headingPath) as string[]) : undefined;
  return toPassage(row.id, { ...row, headingPath }, score);
}

/** The dot product of a query vector and a stored one (an Arrow vector or an array). */
function dot(a: readonly number[], b: Iterable<number>): number {
  let sum = 0;
  let i = 0;
  for (const x of b) sum += (a[i++] ?? 0) * x;
  return sum;
}

/** Keeps the first (best) hit of each chunk id. */
function dedupe<T>(hits: T[], idOf: (hit: T) => string): T[] {
  const seen = new Set<string>();
  return hits.filter((hit) => !seen.has(idOf(hit)) && seen.add(idOf(hit)));
}

function toRow(chunk: IndexedChunk): Row {
  return {
    id: chunk.id,
    tenantId: chunk.tenantId,
    botId: chunk.botId,
    documentId: chunk.documentId,
    ordinal: chunk.ordinal,
    filename: chunk.filename,
    title: chunk.title ?? null,
    text: chunk.text,
    page: chunk.page ?? null,
    heading: chunk.heading ?? null,
    headingPath: chunk.headingPath?.length ? JSON.stringify(chunk.headingPath) : null,
    searchText: `${chunk.filename}\n${searchableText(chunk)}`,
    vector: normalize(chunk.vector),
  };
}
