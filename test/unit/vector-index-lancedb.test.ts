import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createLanceVectorIndex } from '../../shared/adapters/vector/lancedb.ts';
import { describeVectorIndexContract } from '../contract/vector-index.contract.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-lance-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
describeVectorIndexContract('LanceDB (embedded, on disk)', async (dimension) =>
  createLanceVectorIndex({ dir: join(root, `db-${n++}`), modelId: 'contract-model', dimension }),
);

describe('LanceDB adapter', () => {
  const chunk = (id: string, tenantId: string, vector: number[]) => ({
    id,
    tenantId,
    botId: 'bot',
    documentId: id.split(':')[0] ?? id,
    ordinal: 0,
    filename: 'f.txt',
    text: id,
    vector,
  });

  test('two adapters on one directory share the table and its write queue, and see each other at once', async () => {
    const dir = join(root, 'shared-dir');
    const writer = createLanceVectorIndex({ dir, modelId: 'm', dimension: 2 });
    const reader = createLanceVectorIndex({ dir, modelId: 'm', dimension: 2 });
    const other = createLanceVectorIndex({ dir: `${dir}/.`, modelId: 'm', dimension: 2 });
    expect(
      (await reader.candidates({ tenantId: 't', botId: 'bot' }, { vector: [1, 0], k: 5, minScore: -1 }))
        .vector,
    ).toEqual([]);
    const batch = Array.from({ length: 30 }, (_, i) => chunk(`d:${i}`, 't', [1, i / 30]));
    await Promise.all([writer.upsert(batch), other.upsert(batch), reader.upsert(batch)]);
    expect(await reader.countDocument({ tenantId: 't', botId: 'bot' }, 'd')).toBe(30);
    const hits = (
      await reader.candidates({ tenantId: 't', botId: 'bot' }, { vector: [1, 0], k: 100, minScore: -1 })
    ).vector;
    expect(hits).toHaveLength(30);
    await writer.deleteTenant('t');
    expect(
      (await reader.candidates({ tenantId: 't', botId: 'bot' }, { vector: [1, 0], k: 100, minScore: -1 }))
        .vector,
    ).toEqual([]);
  });

  test('one table per model, dimension and bot', async () => {
    const dir = join(root, 'per-model');
    const small = createLanceVectorIndex({ dir, modelId: 'model-a', dimension: 2 });
    const other = createLanceVectorIndex({ dir, modelId: 'model-b', dimension: 2 });
    const wide = createLanceVectorIndex({ dir, modelId: 'model-a', dimension: 3 });
    await small.upsert([chunk('a:0', 't', [1, 0])]);
    await wide.upsert([chunk('a:0', 't', [1, 0, 0])]);
    expect(
      (await other.candidates({ tenantId: 't', botId: 'bot' }, { vector: [1, 0], k: 5, minScore: -1 }))
        .vector,
    ).toEqual([]);
    expect(
      (await small.candidates({ tenantId: 't', botId: 'bot' }, { vector: [1, 0], k: 5, minScore: -1 }))
        .vector,
    ).toHaveLength(1);
    const { connect } = await import('@lancedb/lancedb');
    const names = await (await connect(dir)).tableNames();
    expect(names).toHaveLength(2);
    expect(names.filter((name) => name.startsWith('chunks-model-a-2--'))).toHaveLength(1);
    expect(names.filter((name) => name.startsWith('chunks-model-a-3--'))).toHaveLength(1);
    // Another bot of the tenant gets a table of its own; deleting the tenant drops both.
    await small.upsert([{ ...chunk('b:0', 't', [1, 0]), botId: 'bot-2' }]);
    expect(await (await connect(dir)).tableNames()).toHaveLength(3);
    await small.deleteTenant('t');
    expect((await (await connect(dir)).tableNames()).filter((n) => n.startsWith('chunks-model-a-2'))).toEqual(
      [],
    );
  });

  test("a row of another bot that found its way into a bot's table is never returned", async () => {
    const dir = join(root, 'foreign-row');
    const index = createLanceVectorIndex({ dir, modelId: 'm', dimension: 2, optimizeDelayMs: 0 });
    await index.upsert([{ ...chunk('own:0', 't', [1, 0]), text: 'shared words' }]);
    const { connect } = await import('@lancedb/lancedb');
    const db = await connect(dir);
    const [name] = await db.tableNames();
    const table = await db.openTable(name ?? '');
    const [own] = (await table.query().limit(1).toArray()) as Record<string, unknown>[];
    await table.add([{ ...own, id: 'foreign:0', documentId: 'foreign', botId: 'other-bot', vector: [1, 0] }]);
    const found = await index.candidates(
      { tenantId: 't', botId: 'bot' },
      { vector: [1, 0], text: 'shared words', k: 10, minScore: -1 },
    );
    expect(found.vector.map((h) => h.id)).toEqual(['own:0']);
    expect(found.keyword.map((h) => h.id)).toEqual(['own:0']);
  });

  test('a data directory from before tables were per bot: its shared table moves into the bots’ tables', async () => {
    const dir = join(root, 'legacy');
    const { connect } = await import('@lancedb/lancedb');
    const { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } = await import('apache-arrow');
    // The shared table's schema as the adapter wrote it before (no title, heading path or searchText).
    const legacySchema = new Schema([
      ...['id', 'tenantId', 'botId', 'documentId'].map((name) => new Field(name, new Utf8(), false)),
      new Field('ordinal', new Int32(), false),
      new Field('filename', new Utf8(), false),
      new Field('text', new Utf8(), false),
      new Field('page', new Int32(), true),
      new Field('heading', new Utf8(), true),
      new Field('vector', new FixedSizeList(2, new Field('item', new Float32(), true)), false),
    ]);
    const db = await connect(dir);
    const legacy = await db.createEmptyTable('chunks-m-2', legacySchema);
    const row = (id: string, botId: string) => ({
      id,
      tenantId: 't',
      botId,
      documentId: id.split(':')[0],
      ordinal: 0,
      filename: 'f.txt',
      text: `refund policy of ${botId}`,
      page: 3,
      heading: null,
      vector: [1, 0],
    });
    await legacy.add([row('a:0', 'bot'), row('b:0', 'other')]);

    const index = createLanceVectorIndex({ dir, modelId: 'm', dimension: 2 });
    const found = await index.candidates(
      { tenantId: 't', botId: 'bot' },
      { vector: [1, 0], text: 'refund', k: 5, minScore: -1 },
    );
    expect(found.vector).toEqual([
      expect.objectContaining({ id: 'a:0', page: 3, text: 'refund policy of bot' }),
    ]);
    expect(found.keyword.map((h) => h.id)).toEqual(['a:0']);
    expect(await index.countDocument({ tenantId: 't', botId: 'other' }, 'b')).toBe(1);
    const names = await (await connect(dir)).tableNames();
    expect(names).not.toContain('chunks-m-2');
    expect(names).toHaveLength(2);
  });

  test('a table dropped by another process reads as empty, not as an error', async () => {
    const dir = join(root, 'dropped-elsewhere');
    const index = createLanceVectorIndex({ dir, modelId: 'm', dimension: 2 });
    const scope = { tenantId: 't', botId: 'bot' };
    await index.upsert([chunk('d:0', 't', [1, 0])]);
    expect(await index.countDocument(scope, 'd')).toBe(1); // the table is open now
    const { connect } = await import('@lancedb/lancedb');
    const other = await connect(dir); // another process's connection
    await other.dropTable((await other.tableNames())[0] ?? '');
    expect(await index.countDocument(scope, 'd')).toBe(0);
    expect(await index.candidates(scope, { vector: [1, 0], text: 'd', k: 5, minScore: -1 })).toEqual({
      vector: [],
      keyword: [],
    });
  });
});
