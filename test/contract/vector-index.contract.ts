// The VectorIndex contract: every adapter (LanceDB locally, OpenSearch in AWS) passes this one
// suite, so use-cases cannot tell them apart. Scores are cosine similarities whatever the engine:
// identical vectors score ~1, orthogonal ~0, opposite ~−1, and `minScore` keeps hits scoring at
// least that much.

import { beforeEach, describe, expect, test } from '@jest/globals';
import {
  chunkId,
  type IndexedChunk,
  type IndexScope,
  type VectorIndex,
} from '../../shared/ports/vector-index.ts';

const DIM = 8;

/** A vector of the suite's dimension from its first few components (the rest are 0). */
const v = (...components: number[]): number[] => [
  ...components,
  ...new Array(DIM - components.length).fill(0),
];

const scopeA: IndexScope = { tenantId: 'tenant-a', botId: 'bot-1' };
const scopeA2: IndexScope = { tenantId: 'tenant-a', botId: 'bot-2' };
const scopeB: IndexScope = { tenantId: 'tenant-b', botId: 'bot-1' };

function chunk(
  scope: IndexScope,
  documentId: string,
  ordinal: number,
  vector: number[],
  extra: Partial<IndexedChunk> = {},
): IndexedChunk {
  return {
    ...scope,
    id: chunkId(documentId, ordinal),
    documentId,
    ordinal,
    filename: `${documentId}.txt`,
    text: `text of ${documentId} #${ordinal}`,
    vector,
    ...extra,
  };
}

const ALL = { topK: 100, minScore: -1 };

/** Runs the contract against fresh, empty indexes from `factory` (one per test). */
export function describeVectorIndexContract(
  name: string,
  factory: (dimension: number) => Promise<VectorIndex>,
) {
  describe(`VectorIndex contract: ${name}`, () => {
    let index: VectorIndex;

    beforeEach(async () => {
      index = await factory(DIM);
    });

    test('an empty index finds nothing, counts nothing and deletes without error', async () => {
      await index.ping();
      expect(await index.search(scopeA, v(1), ALL)).toEqual([]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(0);
      await index.deleteDocument(scopeA, 'doc');
      await index.deleteBot(scopeA);
      await index.deleteTenant(scopeA.tenantId);
      await index.upsert([]);
      expect(await index.search(scopeA, v(1), ALL)).toEqual([]);
    });

    test("returns the scope's chunks best first with cosine similarity as the score", async () => {
      // Lengths differ on purpose: scores are cosines, whatever the vectors' norms.
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(0, 5)), // orthogonal: 0
        chunk(scopeA, 'doc', 1, v(-2)), // opposite: −1
        chunk(scopeA, 'doc', 2, v(3)), // identical direction: 1
        chunk(scopeA, 'doc', 3, v(1, 1)), // 45°: 0.7071
        chunk(scopeA, 'doc', 4, v(1, Math.sqrt(3))), // 60°: 0.5
      ]);
      const hits = await index.search(scopeA, v(0.5), ALL);
      expect(hits.map((h) => h.ordinal)).toEqual([2, 3, 4, 0, 1]);
      const scores = hits.map((h) => h.score);
      expect(scores[0]).toBeCloseTo(1, 4);
      expect(scores[1]).toBeCloseTo(Math.SQRT1_2, 4);
      expect(scores[2]).toBeCloseTo(0.5, 4);
      expect(scores[3]).toBeCloseTo(0, 4);
      expect(scores[4]).toBeCloseTo(-1, 4);
      expect(hits[0]).toEqual({
        chunkId: 'doc:2',
        documentId: 'doc',
        ordinal: 2,
        filename: 'doc.txt',
        text: 'text of doc #2',
        score: expect.any(Number),
      });
    });

    test("never returns another bot's or another tenant's chunks", async () => {
      // The same vectors in three scopes: (tenant-a, bot-1), (tenant-a, bot-2), (tenant-b, bot-1).
      const scopes = [scopeA, scopeA2, scopeB];
      await index.upsert(
        scopes.flatMap((scope, i) => [
          chunk(scope, `doc-${i}`, 0, v(1), { text: `${scope.tenantId}/${scope.botId}` }),
          chunk(scope, `doc-${i}`, 1, v(1, 1), { text: `${scope.tenantId}/${scope.botId}` }),
        ]),
      );
      for (const [i, scope] of scopes.entries()) {
        const hits = await index.search(scope, v(1), ALL);
        expect(hits).toHaveLength(2);
        expect(new Set(hits.map((h) => h.text))).toEqual(new Set([`${scope.tenantId}/${scope.botId}`]));
        expect(new Set(hits.map((h) => h.documentId))).toEqual(new Set([`doc-${i}`]));
        expect(await index.countDocument(scope, `doc-${i}`)).toBe(2);
        // Another scope's document is not countable from here either.
        expect(await index.countDocument(scope, `doc-${(i + 1) % 3}`)).toBe(0);
      }
      // tenant-b has no bot-2: the filter is tenant AND bot, not either.
      expect(await index.search({ tenantId: 'tenant-b', botId: 'bot-2' }, v(1), ALL)).toEqual([]);
    });

    test('ids with quotes cannot widen the filter', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1)),
        chunk({ tenantId: "o'brien", botId: 'b' }, 'q', 0, v(1)),
      ]);
      expect(await index.search({ tenantId: "x' OR '1'='1", botId: "y' OR '1'='1" }, v(1), ALL)).toEqual([]);
      const quoted = await index.search({ tenantId: "o'brien", botId: 'b' }, v(1), ALL);
      expect(quoted.map((h) => h.chunkId)).toEqual(['q:0']);
      await index.deleteTenant("o'brien");
      expect(await index.search({ tenantId: "o'brien", botId: 'b' }, v(1), ALL)).toEqual([]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(1);
    });

    test('writing the same ids again replaces the chunks instead of adding copies', async () => {
      const first = [0, 1, 2].map((n) => chunk(scopeA, 'doc', n, v(1, n)));
      await index.upsert(first);
      await index.upsert(first.map((c) => ({ ...c, text: `${c.text} (v2)`, vector: v(0, 0, 1) })));
      expect(await index.countDocument(scopeA, 'doc')).toBe(3);
      const hits = await index.search(scopeA, v(0, 0, 1), ALL);
      expect(hits).toHaveLength(3);
      for (const hit of hits) {
        expect(hit.text).toMatch(/\(v2\)$/);
        expect(hit.score).toBeCloseTo(1, 4);
      }
    });

    test('two chunks with one id in one batch leave one chunk', async () => {
      await index.upsert([chunk(scopeA, 'doc', 0, v(1)), chunk(scopeA, 'doc', 0, v(0, 1), { text: 'last' })]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(1);
      expect((await index.search(scopeA, v(1), ALL)).map((h) => h.text)).toEqual(['last']);
    });

    test('deleteDocument, deleteBot and deleteTenant remove exactly what they name', async () => {
      await index.upsert([
        chunk(scopeA, 'doc-1', 0, v(1)),
        chunk(scopeA, 'doc-1', 1, v(1, 1)),
        chunk(scopeA, 'doc-2', 0, v(1)),
        chunk(scopeA2, 'doc-3', 0, v(1)),
        chunk(scopeB, 'doc-4', 0, v(1)), // same bot id as scopeA, other tenant
      ]);

      await index.deleteDocument(scopeA, 'doc-1');
      expect(await index.countDocument(scopeA, 'doc-1')).toBe(0);
      expect(await index.countDocument(scopeA, 'doc-2')).toBe(1);
      // A document id under the wrong scope deletes nothing.
      await index.deleteDocument(scopeA, 'doc-3');
      await index.deleteDocument(scopeA2, 'doc-4');
      expect(await index.countDocument(scopeA2, 'doc-3')).toBe(1);
      expect(await index.countDocument(scopeB, 'doc-4')).toBe(1);

      await index.deleteBot(scopeA);
      expect(await index.search(scopeA, v(1), ALL)).toEqual([]);
      expect(await index.countDocument(scopeA2, 'doc-3')).toBe(1);
      expect(await index.countDocument(scopeB, 'doc-4')).toBe(1);

      await index.upsert([chunk(scopeA, 'doc-5', 0, v(1))]);
      await index.deleteTenant('tenant-a');
      expect(await index.search(scopeA, v(1), ALL)).toEqual([]);
      expect(await index.search(scopeA2, v(1), ALL)).toEqual([]);
      expect((await index.search(scopeB, v(1), ALL)).map((h) => h.chunkId)).toEqual(['doc-4:0']);
    });

    test('page and heading round-trip, and absent ones stay absent', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1), { page: 3, heading: 'Refunds › Exceptions' }),
        chunk(scopeA, 'doc', 1, v(1, 0.1), { page: 0 }),
        chunk(scopeA, 'doc', 2, v(1, 0.2), { heading: 'Only a heading' }),
        chunk(scopeA, 'doc', 3, v(1, 0.3)),
      ]);
      const hits = await index.search(scopeA, v(1), ALL);
      const byOrdinal = new Map(hits.map((h) => [h.ordinal, h]));
      expect(byOrdinal.get(0)).toMatchObject({ page: 3, heading: 'Refunds › Exceptions' });
      expect(byOrdinal.get(1)?.page).toBe(0);
      expect(byOrdinal.get(1)).not.toHaveProperty('heading');
      expect(byOrdinal.get(2)?.heading).toBe('Only a heading');
      expect(byOrdinal.get(2)).not.toHaveProperty('page');
      expect(byOrdinal.get(3)).not.toHaveProperty('page');
      expect(byOrdinal.get(3)).not.toHaveProperty('heading');
    });

    test('topK bounds the hits to the nearest ones', async () => {
      // Angles from the query grow with n, so the nearest five are ordinals 0..4.
      await index.upsert(Array.from({ length: 12 }, (_, n) => chunk(scopeA, 'doc', n, v(1, n / 4))));
      const hits = await index.search(scopeA, v(1), { topK: 5, minScore: -1 });
      expect(hits.map((h) => h.ordinal)).toEqual([0, 1, 2, 3, 4]);
      expect((await index.search(scopeA, v(1), { topK: 1, minScore: -1 })).map((h) => h.ordinal)).toEqual([
        0,
      ]);
    });

    test('minScore drops hits scoring below it', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1)), // 1
        chunk(scopeA, 'doc', 1, v(1, 1)), // 0.7071
        chunk(scopeA, 'doc', 2, v(1, Math.sqrt(3))), // 0.5
        chunk(scopeA, 'doc', 3, v(0, 1)), // 0
        chunk(scopeA, 'doc', 4, v(-1, 1)), // −0.7071
      ]);
      const ordinals = async (minScore: number) =>
        (await index.search(scopeA, v(1), { topK: 10, minScore })).map((h) => h.ordinal);
      expect(await ordinals(0.6)).toEqual([0, 1]);
      expect(await ordinals(0.25)).toEqual([0, 1, 2]);
      expect(await ordinals(-0.1)).toEqual([0, 1, 2, 3]);
      expect(await ordinals(-0.8)).toEqual([0, 1, 2, 3, 4]);
      expect(await ordinals(0.99)).toEqual([0]);
    });

    test('rejects vectors of another dimension', async () => {
      await expect(index.upsert([chunk(scopeA, 'doc', 0, [1, 0, 0])])).rejects.toThrow(/dimension/);
      await expect(index.search(scopeA, [1, 0], ALL)).rejects.toThrow(/dimension/);
    });

    test('concurrent upserts of the same ids leave one copy each', async () => {
      const batch = (text: string) =>
        Array.from({ length: 20 }, (_, n) => chunk(scopeA, 'doc', n, v(1, n / 10), { text }));
      await Promise.all([index.upsert(batch('a')), index.upsert(batch('b')), index.upsert(batch('c'))]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(20);
      expect(await index.search(scopeA, v(1), ALL)).toHaveLength(20);
    });
  });
}
