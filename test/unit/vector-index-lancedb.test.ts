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
    expect(found.vector.map((h) => h.chunkId)).toEqual(['own:0']);
    expect(found.keyword.map((h) => h.chunkId)).toEqual(['own:0']);
  });
});
