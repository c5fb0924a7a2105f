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
    expect(await reader.search({ tenantId: 't', botId: 'bot' }, [1, 0], { topK: 5, minScore: -1 })).toEqual(
      [],
    );
    const batch = Array.from({ length: 30 }, (_, i) => chunk(`d:${i}`, 't', [1, i / 30]));
    await Promise.all([writer.upsert(batch), other.upsert(batch), reader.upsert(batch)]);
    expect(await reader.countDocument({ tenantId: 't', botId: 'bot' }, 'd')).toBe(30);
    const hits = await reader.search({ tenantId: 't', botId: 'bot' }, [1, 0], { topK: 100, minScore: -1 });
    expect(hits).toHaveLength(30);
    await writer.deleteTenant('t');
    expect(await reader.search({ tenantId: 't', botId: 'bot' }, [1, 0], { topK: 100, minScore: -1 })).toEqual(
      [],
    );
  });

  test('one table per model and dimension', async () => {
    const dir = join(root, 'per-model');
    const small = createLanceVectorIndex({ dir, modelId: 'model-a', dimension: 2 });
    const other = createLanceVectorIndex({ dir, modelId: 'model-b', dimension: 2 });
    const wide = createLanceVectorIndex({ dir, modelId: 'model-a', dimension: 3 });
    await small.upsert([chunk('a:0', 't', [1, 0])]);
    await wide.upsert([chunk('a:0', 't', [1, 0, 0])]);
    expect(await other.search({ tenantId: 't', botId: 'bot' }, [1, 0], { topK: 5, minScore: -1 })).toEqual(
      [],
    );
    expect(
      await small.search({ tenantId: 't', botId: 'bot' }, [1, 0], { topK: 5, minScore: -1 }),
    ).toHaveLength(1);
    const { connect } = await import('@lancedb/lancedb');
    expect((await (await connect(dir)).tableNames()).sort()).toEqual([
      'chunks-model-a-2',
      'chunks-model-a-3',
    ]);
  });
});
