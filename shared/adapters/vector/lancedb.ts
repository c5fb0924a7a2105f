// The embedded vector index of the local platform: LanceDB on disk, one table per embedding model
// and dimension (see index-name.ts), every row tagged with its tenant and bot. Only the LOCAL
// platform uses it — in AWS the OpenSearch adapter does. LanceDB and Apache Arrow are imported
// with `await import()` only (types aside): the Lambda bundles mark them external (lib/bundling.ts),
// and a static import of an external package would be hoisted into every bundle that includes
// this module and fail it at load.
//
// Search is exact (a flat scan with the tenant-and-bot prefilter): without a vector index LanceDB
// compares the query with every row of the scope, which at our sizes (≈10k rows, ~10 ms) is fast
// and never misses a neighbour, so no ANN index is built.
//
// Writes: LanceDB commits optimistically, and two merge-inserts racing on one table both succeed
// with the SAME ids inserted twice (measured: 50 ids upserted twice at once left 100 rows). So every
// write to a table goes through one in-process queue per table (keyed by directory and table,
// shared by every adapter instance of the process), and a commit conflict that still surfaces
// (another process) is retried. One process per data directory, as the local platform runs.

import { resolve } from 'node:path';
import type { Connection, Table } from '@lancedb/lancedb';
import type { Schema } from 'apache-arrow';
import type { IndexedChunk, IndexScope, SearchHit, VectorIndex } from '../../ports/vector-index.ts';
import { withRetry } from '../retry.ts';
import { checkVector, chunkIndexName, normalize, toSearchHit } from './index-name.ts';

export interface LanceVectorIndexOptions {
  /** The database directory (created if missing). */
  readonly dir: string;
  readonly modelId: string;
  readonly dimension: number;
}

// A type, not an interface: LanceDB takes rows as `Record<string, unknown>`.
type Row = {
  id: string;
  tenantId: string;
  botId: string;
  documentId: string;
  ordinal: number;
  filename: string;
  text: string;
  page: number | null;
  heading: string | null;
  vector: number[];
};

const COLUMNS = ['id', 'documentId', 'ordinal', 'filename', 'text', 'page', 'heading'] as const;

/** A SQL string literal for a LanceDB filter: ids are validated upstream, but quote them anyway. */
export const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;

const scopeFilter = (scope: IndexScope) =>
  `\`tenantId\` = ${sqlString(scope.tenantId)} AND \`botId\` = ${sqlString(scope.botId)}`;

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
    new Field('text', new Utf8(), false),
    new Field('page', new Int32(), true),
    new Field('heading', new Utf8(), true),
    new Field('vector', new FixedSizeList(dimension, new Field('item', new Float32(), true)), false),
  ]);
}

export function createLanceVectorIndex(options: LanceVectorIndexOptions): VectorIndex {
  const { modelId, dimension } = options;
  const dir = resolve(options.dir);
  const tableName = chunkIndexName(modelId, dimension);
  const queueKey = `${dir}\u0000${tableName}`;

  let connection: Promise<Connection> | undefined;
  let table: Promise<Table> | undefined;

  // Strong read consistency (interval 0): another adapter instance in this process (the embed
  // worker writes, the chat handler reads) sees each commit at once. A manifest check per read
  // costs a file stat on local disk.
  const db = () => {
    connection ??= import('@lancedb/lancedb')
      .then(({ connect }) => connect(dir, { readConsistencyInterval: 0 }))
      .catch((error: unknown) => {
        connection = undefined;
        throw error;
      });
    return connection;
  };

  /** The table if it exists (cached once found; a miss is not cached, another writer may create it). */
  const existingTable = async (): Promise<Table | undefined> => {
    if (table) return table;
    const conn = await db();
    if (!(await conn.tableNames()).includes(tableName)) return undefined;
    table ??= conn.openTable(tableName).catch((error: unknown) => {
      table = undefined;
      throw error;
    });
    return table;
  };

  /** Opens or creates the table; only called inside the write queue, so creation cannot race here. */
  const writableTable = async (): Promise<Table> => {
    const found = await existingTable();
    if (found) return found;
    const conn = await db();
    const created = chunkSchema(dimension).then((schema) =>
      conn.createEmptyTable(tableName, schema, { mode: 'create', existOk: true }),
    );
    table = created;
    try {
      return await created;
    } catch (error) {
      table = undefined;
      throw error;
    }
  };

  const write = <T>(fn: (t: Table) => Promise<T>) =>
    serialize(queueKey, () =>
      withRetry(async () => fn(await writableTable()), {
        retries: 5,
        baseMs: 20,
        maxMs: 500,
        isRetryable: isCommitConflict,
      }),
    );

  const deleteWhere = async (predicate: string) => {
    if (!(await existingTable())) return;
    await write((t) => t.delete(predicate));
  };

  return {
    async upsert(chunks) {
      if (chunks.length === 0) return;
      const rows = new Map<string, Row>();
      for (const chunk of chunks) {
        checkVector(chunk.vector, dimension, `The vector of chunk ${chunk.id}`);
        rows.set(chunk.id, toRow(chunk)); // the last of two same-id chunks wins, as in OpenSearch
      }
      await write((t) =>
        t
          .mergeInsert('id')
          .whenMatchedUpdateAll()
          .whenNotMatchedInsertAll()
          .execute([...rows.values()]),
      );
    },

    async search(scope, vector, { topK, minScore }) {
      checkVector(vector, dimension, 'The query vector');
      const t = await existingTable();
      if (!t || topK <= 0) return [];
      const rows = (await t
        .vectorSearch(normalize(vector))
        .distanceType('cosine')
        .where(scopeFilter(scope))
        .select([...COLUMNS, '_distance'])
        .limit(topK)
        .toArray()) as Array<Omit<Row, 'vector' | 'tenantId' | 'botId'> & { _distance: number }>;
      const hits: SearchHit[] = [];
      const seen = new Set<string>();
      for (const row of rows) {
        // LanceDB's cosine distance is 1 − cos(θ).
        const score = 1 - row._distance;
        if (!(score >= minScore) || seen.has(row.id)) continue;
        seen.add(row.id);
        hits.push(toSearchHit(row.id, row, score));
      }
      return hits;
    },

    async countDocument(scope, documentId) {
      const t = await existingTable();
      if (!t) return 0;
      return t.countRows(`${scopeFilter(scope)} AND \`documentId\` = ${sqlString(documentId)}`);
    },

    deleteDocument: (scope, documentId) =>
      deleteWhere(`${scopeFilter(scope)} AND \`documentId\` = ${sqlString(documentId)}`),

    deleteBot: (scope) => deleteWhere(scopeFilter(scope)),

    deleteTenant: (tenantId) => deleteWhere(`\`tenantId\` = ${sqlString(tenantId)}`),

    async ping() {
      const t = await existingTable();
      if (t) await t.countRows();
      else await (await db()).tableNames();
    },
  };
}

function toRow(chunk: IndexedChunk): Row {
  return {
    id: chunk.id,
    tenantId: chunk.tenantId,
    botId: chunk.botId,
    documentId: chunk.documentId,
    ordinal: chunk.ordinal,
    filename: chunk.filename,
    text: chunk.text,
    page: chunk.page ?? null,
    heading: chunk.heading ?? null,
    vector: normalize(chunk.vector),
  };
}
