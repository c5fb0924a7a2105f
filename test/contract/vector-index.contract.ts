// The VectorIndex contract: every adapter (LanceDB locally, OpenSearch in AWS) passes this one
// suite, so use-cases cannot tell them apart. Vector candidates score cosine similarities whatever
// the engine: identical vectors score ~1, orthogonal ~0, opposite ~−1, and `minScore` keeps hits
// scoring at least that much. Keyword candidates are BM25 over the text, title, heading path and
// file name; their scores are the engine's own, so the cases below assert only order and
// membership, never their values.

import { beforeEach, describe, expect, test } from '@jest/globals';
import type { Passage } from '../../shared/domain/passage.ts';
import {
  type CandidateQuery,
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

/** Every vector candidate, however far. */
const ALL = { k: 100, minScore: -1 };

/** Best first: each score at most the one before it. */
const descending = (hits: readonly Passage[]) =>
  hits.every((h, i) => i === 0 || h.score <= (hits[i - 1]?.score ?? 0));

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

    /** The vector candidates only (and the check that a query without text has no keyword ones). */
    const search = async (
      scope: IndexScope,
      vector: number[],
      options: Omit<CandidateQuery, 'vector' | 'text'>,
    ) => {
      const found = await index.candidates(scope, { vector, ...options });
      expect(found.keyword).toEqual([]);
      return found.vector;
    };
    /** The keyword candidates only. */
    const keyword = async (scope: IndexScope, text: string, k = 100) => {
      const found = await index.candidates(scope, { text, k, minScore: -1 });
      expect(found.vector).toEqual([]);
      expect(descending(found.keyword)).toBe(true);
      return found.keyword;
    };
    const ids = (hits: readonly Passage[]) => hits.map((h) => h.id);

    test('an empty index finds nothing, counts nothing and deletes without error', async () => {
      await index.ping();
      expect(await search(scopeA, v(1), ALL)).toEqual([]);
      expect(await index.candidates(scopeA, { vector: v(1), text: 'anything at all', ...ALL })).toEqual({
        vector: [],
        keyword: [],
      });
      expect(await keyword(scopeA, 'anything')).toEqual([]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(0);
      await index.deleteDocument(scopeA, 'doc');
      await index.deleteBot(scopeA);
      await index.deleteTenant(scopeA.tenantId);
      await index.upsert([]);
      expect(await search(scopeA, v(1), ALL)).toEqual([]);
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
      const hits = await search(scopeA, v(0.5), ALL);
      expect(hits.map((h) => h.ordinal)).toEqual([2, 3, 4, 0, 1]);
      const scores = hits.map((h) => h.score);
      expect(scores[0]).toBeCloseTo(1, 4);
      expect(scores[1]).toBeCloseTo(Math.SQRT1_2, 4);
      expect(scores[2]).toBeCloseTo(0.5, 4);
      expect(scores[3]).toBeCloseTo(0, 4);
      expect(scores[4]).toBeCloseTo(-1, 4);
      expect(hits[0]).toEqual({
        id: 'doc:2',
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
        const hits = await search(scope, v(1), ALL);
        expect(hits).toHaveLength(2);
        expect(new Set(hits.map((h) => h.text))).toEqual(new Set([`${scope.tenantId}/${scope.botId}`]));
        expect(new Set(hits.map((h) => h.documentId))).toEqual(new Set([`doc-${i}`]));
        expect(await index.countDocument(scope, `doc-${i}`)).toBe(2);
        // Another scope's document is not countable from here either.
        expect(await index.countDocument(scope, `doc-${(i + 1) % 3}`)).toBe(0);
      }
      // tenant-b has no bot-2: the filter is tenant AND bot, not either.
      expect(await search({ tenantId: 'tenant-b', botId: 'bot-2' }, v(1), ALL)).toEqual([]);
    });

    test('ids with quotes cannot widen the filter', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1)),
        chunk({ tenantId: "o'brien", botId: 'b' }, 'q', 0, v(1)),
      ]);
      expect(await search({ tenantId: "x' OR '1'='1", botId: "y' OR '1'='1" }, v(1), ALL)).toEqual([]);
      expect(await keyword({ tenantId: "x' OR '1'='1", botId: "y' OR '1'='1" }, 'text')).toEqual([]);
      const quoted = await search({ tenantId: "o'brien", botId: 'b' }, v(1), ALL);
      expect(quoted.map((h) => h.id)).toEqual(['q:0']);
      expect(ids(await keyword({ tenantId: "o'brien", botId: 'b' }, 'text'))).toEqual(['q:0']);
      await index.deleteTenant("o'brien");
      expect(await search({ tenantId: "o'brien", botId: 'b' }, v(1), ALL)).toEqual([]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(1);
    });

    test('writing the same ids again replaces the chunks instead of adding copies', async () => {
      const first = [0, 1, 2].map((n) => chunk(scopeA, 'doc', n, v(1, n)));
      await index.upsert(first);
      await index.upsert(first.map((c) => ({ ...c, text: `${c.text} (v2)`, vector: v(0, 0, 1) })));
      expect(await index.countDocument(scopeA, 'doc')).toBe(3);
      const hits = await search(scopeA, v(0, 0, 1), ALL);
      expect(hits).toHaveLength(3);
      for (const hit of hits) {
        expect(hit.text).toMatch(/\(v2\)$/);
        expect(hit.score).toBeCloseTo(1, 4);
      }
      // The keyword side sees the new text, not the old one.
      await index.upsert([chunk(scopeA, 'doc', 0, v(1), { text: 'a lighthouse keeper' })]);
      expect(ids(await keyword(scopeA, 'lighthouse'))).toEqual(['doc:0']);
      await index.upsert([chunk(scopeA, 'doc', 0, v(1), { text: 'a harbour master' })]);
      expect(await keyword(scopeA, 'lighthouse')).toEqual([]);
      expect(ids(await keyword(scopeA, 'harbour'))).toEqual(['doc:0']);
      expect(await index.countDocument(scopeA, 'doc')).toBe(3);
    });

    test('two chunks with one id in one batch leave one chunk', async () => {
      await index.upsert([chunk(scopeA, 'doc', 0, v(1)), chunk(scopeA, 'doc', 0, v(0, 1), { text: 'last' })]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(1);
      expect((await search(scopeA, v(1), ALL)).map((h) => h.text)).toEqual(['last']);
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
      expect(await search(scopeA, v(1), ALL)).toEqual([]);
      expect(await index.countDocument(scopeA2, 'doc-3')).toBe(1);
      expect(await index.countDocument(scopeB, 'doc-4')).toBe(1);

      await index.upsert([chunk(scopeA, 'doc-5', 0, v(1))]);
      await index.deleteTenant('tenant-a');
      expect(await search(scopeA, v(1), ALL)).toEqual([]);
      expect(await search(scopeA2, v(1), ALL)).toEqual([]);
      expect((await search(scopeB, v(1), ALL)).map((h) => h.id)).toEqual(['doc-4:0']);
    });

    test('title, page, heading and heading path round-trip in both lists, and absent ones stay absent', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1), {
          title: 'Customer handbook',
          page: 3,
          heading: 'Exceptions',
          headingPath: ['Refunds', 'Exceptions'],
        }),
        chunk(scopeA, 'doc', 1, v(1, 0.1), { page: 0 }),
        chunk(scopeA, 'doc', 2, v(1, 0.2), { heading: 'Only a heading' }),
        chunk(scopeA, 'doc', 3, v(1, 0.3), { title: 'Only a title' }),
        chunk(scopeA, 'doc', 4, v(1, 0.4)),
      ]);
      // Every chunk's text holds "text": the keyword list has them all too.
      const found = await index.candidates(scopeA, { vector: v(1), text: 'text', ...ALL });
      expect(found.vector).toHaveLength(5);
      expect(found.keyword).toHaveLength(5);
      for (const hits of [found.vector, found.keyword]) {
        const byOrdinal = new Map(hits.map((h) => [h.ordinal, h]));
        expect(byOrdinal.get(0)).toEqual({
          id: 'doc:0',
          documentId: 'doc',
          ordinal: 0,
          filename: 'doc.txt',
          text: 'text of doc #0',
          title: 'Customer handbook',
          page: 3,
          heading: 'Exceptions',
          headingPath: ['Refunds', 'Exceptions'],
          score: expect.any(Number),
        });
        expect(byOrdinal.get(1)?.page).toBe(0);
        expect(byOrdinal.get(1)).not.toHaveProperty('heading');
        expect(byOrdinal.get(2)?.heading).toBe('Only a heading');
        expect(byOrdinal.get(2)).not.toHaveProperty('page');
        expect(byOrdinal.get(2)).not.toHaveProperty('headingPath');
        expect(byOrdinal.get(3)?.title).toBe('Only a title');
        for (const field of ['title', 'page', 'heading', 'headingPath']) {
          expect(byOrdinal.get(4)).not.toHaveProperty(field);
        }
        expect(byOrdinal.get(1)).not.toHaveProperty('title');
      }
    });

    test('k bounds each list: the nearest vectors, the best keyword matches', async () => {
      // Angles from the query grow with n, so the nearest five are ordinals 0..4.
      await index.upsert(Array.from({ length: 12 }, (_, n) => chunk(scopeA, 'doc', n, v(1, n / 4))));
      const hits = await search(scopeA, v(1), { k: 5, minScore: -1 });
      expect(hits.map((h) => h.ordinal)).toEqual([0, 1, 2, 3, 4]);
      expect((await search(scopeA, v(1), { k: 1, minScore: -1 })).map((h) => h.ordinal)).toEqual([0]);
      // k bounds the keyword list too (every chunk's text matches).
      expect(await keyword(scopeA, 'text', 3)).toHaveLength(3);
      const both = await index.candidates(scopeA, { vector: v(1), text: 'text', k: 4, minScore: -1 });
      expect(both.vector).toHaveLength(4);
      expect(both.keyword).toHaveLength(4);
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
        (await search(scopeA, v(1), { k: 10, minScore })).map((h) => h.ordinal);
      expect(await ordinals(0.6)).toEqual([0, 1]);
      expect(await ordinals(0.25)).toEqual([0, 1, 2]);
      expect(await ordinals(-0.1)).toEqual([0, 1, 2, 3]);
      expect(await ordinals(-0.8)).toEqual([0, 1, 2, 3, 4]);
      expect(await ordinals(0.99)).toEqual([0]);
    });

    test('minScore gates vector candidates only: a keyword match far from the vector stays', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1), { text: 'The harbour gate closes at dusk.' }), // cosine 1
        chunk(scopeA, 'doc', 1, v(-1), { text: 'Moorings are booked at the harbour office.' }), // −1
        chunk(scopeA, 'doc', 2, v(0, 1), { text: 'Nothing about boats here.' }), // 0
      ]);
      const found = await index.candidates(scopeA, {
        vector: v(1),
        text: 'harbour moorings',
        k: 10,
        minScore: 0.5,
      });
      expect(ids(found.vector)).toEqual(['doc:0']);
      expect(new Set(ids(found.keyword))).toEqual(new Set(['doc:0', 'doc:1']));
      // The keyword ranking is its own: the chunk with both words first.
      expect(found.keyword[0]?.id).toBe('doc:1');
    });

    test('a keyword query for an exact identifier ranks the chunk holding it first', async () => {
      const texts = [
        'Add-on application software packages are installed under /opt, one directory per package.',
        'Host-specific configuration for add-on packages lives in /etc/opt, beside the files of /etc.',
        'Variable data of the packages in /opt is kept in /var/opt.',
        'A package that must be fully installed before another is unpacked is named in Pre-Depends.',
        'Whether an upgrade succeeds depends on the order in which packages are unpacked.',
        'Edit files in /etc only as root.',
      ];
      // The vectors say nothing (all alike): only the words rank.
      await index.upsert(texts.map((text, n) => chunk(scopeA, 'fhs', n, v(1), { text })));

      const etcOpt = await keyword(scopeA, '/etc/opt');
      expect(etcOpt[0]?.id).toBe('fhs:1');
      expect(etcOpt[0]?.text).toBe(texts[1]);
      expect(ids(etcOpt)).not.toContain('fhs:3'); // neither word

      const preDepends = await keyword(scopeA, 'Pre-Depends');
      expect(preDepends[0]?.id).toBe('fhs:3');
      expect(ids(preDepends)).not.toContain('fhs:5');
      // Case does not matter.
      expect((await keyword(scopeA, 'pre-depends'))[0]?.id).toBe('fhs:3');

      // Words no chunk holds find nothing (keyword candidates are matches, not neighbours).
      expect(await keyword(scopeA, 'zeppelin')).toEqual([]);
    });

    test("words only in a chunk's title, heading path or file name find it", async () => {
      await index.upsert([
        chunk(scopeA, 'timetable', 0, v(1), {
          title: 'Ferry timetable',
          text: 'Boats leave the north pier every hour from six.',
        }),
        chunk(scopeA, 'guide', 0, v(1), {
          title: 'Harbour guide',
          headingPath: ['Harbour guide', 'Tides and moorings'],
          heading: 'Tides and moorings',
          text: 'The gate closes two hours before low water.',
        }),
        chunk(scopeA, 'rules', 0, v(1), {
          filename: 'cycling-rules.pdf',
          text: 'Riders must dismount on the quay.',
        }),
        chunk(scopeA, 'other', 0, v(1), { text: 'The café on the quay opens at nine.' }),
      ]);
      expect(ids(await keyword(scopeA, 'ferry'))).toEqual(['timetable:0']);
      expect(ids(await keyword(scopeA, 'moorings'))).toEqual(['guide:0']);
      expect(ids(await keyword(scopeA, 'tides'))).toEqual(['guide:0']);
      expect(ids(await keyword(scopeA, 'rules'))).toEqual(['rules:0']);
      // A word of the text alongside: the chunk holding it still comes back.
      expect(new Set(ids(await keyword(scopeA, 'quay')))).toEqual(new Set(['rules:0', 'other:0']));
    });

    test('a vector and a text in one call return both lists, each ranked on its own', async () => {
      await index.upsert([
        chunk(scopeA, 'doc', 0, v(1), { text: 'Opening hours of the museum.' }), // nearest, no word
        chunk(scopeA, 'doc', 1, v(1, 1), { text: 'Tickets for the lighthouse tour are sold at the pier.' }),
        chunk(scopeA, 'doc', 2, v(0, 1), { text: 'The lighthouse was built in 1887.' }),
        chunk(scopeA, 'doc', 3, v(-1, 1), { text: 'Parking near the station.' }),
      ]);
      const found = await index.candidates(scopeA, {
        vector: v(1),
        text: 'lighthouse tickets',
        k: 10,
        minScore: -1,
      });
      expect(ids(found.vector)).toEqual(['doc:0', 'doc:1', 'doc:2', 'doc:3']);
      expect(found.vector[0]?.score).toBeCloseTo(1, 4);
      expect(ids(found.keyword)).toEqual(['doc:1', 'doc:2']);
      expect(descending(found.keyword)).toBe(true);
      for (const hit of found.keyword) expect(hit.score).toBeGreaterThan(0);
    });

    test('empty or blank text asks for no keyword candidates', async () => {
      await index.upsert([chunk(scopeA, 'doc', 0, v(1)), chunk(scopeA, 'doc', 1, v(1, 1))]);
      for (const text of ['', '   ', '\n\t']) {
        const found = await index.candidates(scopeA, { vector: v(1), text, ...ALL });
        expect(ids(found.vector)).toEqual(['doc:0', 'doc:1']);
        expect(found.keyword).toEqual([]);
        expect(await index.candidates(scopeA, { text, ...ALL })).toEqual({ vector: [], keyword: [] });
      }
      expect(await index.candidates(scopeA, ALL)).toEqual({ vector: [], keyword: [] });
    });

    test("neither list ever returns another bot's or another tenant's chunks", async () => {
      // The same chunks (text, title, heading path, file name, vectors) under 2 tenants × 2 bots.
      const scopes = [scopeA, scopeA2, scopeB, { tenantId: 'tenant-b', botId: 'bot-2' }];
      await index.upsert(
        scopes.flatMap((scope, i) =>
          [0, 1, 2].map((n) =>
            chunk(scope, `doc-${i}`, n, v(1, n), {
              filename: 'refund-policy.pdf',
              title: 'Refund policy',
              headingPath: ['Refunds', 'Exceptions'],
              text: `Refunds for damaged goods are paid within ${n + 5} days.`,
            }),
          ),
        ),
      );
      for (const [i, scope] of scopes.entries()) {
        const found = await index.candidates(scope, {
          vector: v(1),
          text: 'refund damaged goods exceptions',
          ...ALL,
        });
        expect(found.vector).toHaveLength(3);
        expect(found.keyword).toHaveLength(3);
        for (const hit of [...found.vector, ...found.keyword]) expect(hit.documentId).toBe(`doc-${i}`);
      }
      // A bot of neither tenant, and a tenant's bot under the other tenant's id, have nothing.
      for (const scope of [
        { tenantId: 'tenant-c', botId: 'bot-1' },
        { tenantId: 'tenant-a', botId: 'bot-3' },
      ]) {
        expect(await index.candidates(scope, { vector: v(1), text: 'refund', ...ALL })).toEqual({
          vector: [],
          keyword: [],
        });
      }
    });

    test('deletes remove chunks from the keyword candidates too', async () => {
      const text = 'The night ferry carries cars.';
      await index.upsert([
        chunk(scopeA, 'doc-1', 0, v(1), { text }),
        chunk(scopeA, 'doc-2', 0, v(1), { text }),
        chunk(scopeA2, 'doc-3', 0, v(1), { text }),
        chunk(scopeB, 'doc-4', 0, v(1), { text }),
      ]);
      const documents = async (scope: IndexScope) => (await keyword(scope, 'ferry')).map((h) => h.documentId);
      expect(new Set(await documents(scopeA))).toEqual(new Set(['doc-1', 'doc-2']));

      await index.deleteDocument(scopeA, 'doc-1');
      expect(await documents(scopeA)).toEqual(['doc-2']);
      await index.deleteBot(scopeA);
      expect(await documents(scopeA)).toEqual([]);
      expect(await documents(scopeA2)).toEqual(['doc-3']);
      await index.deleteTenant('tenant-a');
      expect(await documents(scopeA2)).toEqual([]);
      expect(await documents(scopeB)).toEqual(['doc-4']);
    });

    test('rejects vectors of another dimension', async () => {
      await expect(index.upsert([chunk(scopeA, 'doc', 0, [1, 0, 0])])).rejects.toThrow(/dimension/);
      await expect(index.candidates(scopeA, { vector: [1, 0], ...ALL })).rejects.toThrow(/dimension/);
      await expect(index.candidates(scopeA, { vector: [1, 0], text: 'words', ...ALL })).rejects.toThrow(
        /dimension/,
      );
    });

    test('concurrent upserts of the same ids leave one copy each', async () => {
      const batch = (text: string) =>
        Array.from({ length: 20 }, (_, n) => chunk(scopeA, 'doc', n, v(1, n / 10), { text }));
      await Promise.all([index.upsert(batch('a')), index.upsert(batch('b')), index.upsert(batch('c'))]);
      expect(await index.countDocument(scopeA, 'doc')).toBe(20);
      expect(await search(scopeA, v(1), ALL)).toHaveLength(20);
    });
  });
}
