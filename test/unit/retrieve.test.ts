// The retrieval use-case on its own: fusion by ranks, the modes, follow-up queries, reranking, and
// the chat turn's citation filter. The index here is a small in-memory VectorIndex that answers
// fixed candidate lists and records what it was asked (the adapters have their own contract suite).

import { describe, expect, test } from '@jest/globals';
import { DEFAULT_BOT_SETTINGS } from '../../shared/domain/bot.ts';
import type { Passage } from '../../shared/domain/passage.ts';
import type { Embedder } from '../../shared/ports/embedder.ts';
import type { Reranker } from '../../shared/ports/reranker.ts';
import type { CandidateQuery, VectorIndex } from '../../shared/ports/vector-index.ts';
import { citedPassages } from '../../shared/usecases/chat.ts';
import { fuse, type RetrievalMode, retrieve, VECTOR_WEIGHT } from '../../shared/usecases/retrieve.ts';

const hit = (id: string, score: number, text = `text of ${id}`): Passage => ({
  id,
  documentId: id.split(':')[0] ?? id,
  ordinal: 0,
  filename: `${id}.md`,
  text,
  score,
});

function fixedIndex(vector: Passage[], keyword: Passage[]) {
  const asked: CandidateQuery[] = [];
  const index: VectorIndex = {
    async candidates(_scope, query) {
      asked.push(query);
      return { vector: query.vector ? vector : [], keyword: query.text ? keyword : [] };
    },
    upsert: async () => {},
    countDocument: async () => 0,
    deleteDocument: async () => {},
    deleteBot: async () => {},
    deleteTenant: async () => {},
    ping: async () => {},
  };
  return { index, asked };
}

const embedder: Embedder & { texts: string[] } = {
  modelId: 'fixed',
  dimension: 2,
  maxBatch: 16,
  texts: [],
  async embed(texts) {
    this.texts.push(...texts);
    return { vectors: texts.map(() => [1, 0]), tokens: texts.length };
  },
};

const bot = (mode: RetrievalMode = 'hybrid', extra: Partial<typeof DEFAULT_BOT_SETTINGS.retrieval> = {}) => ({
  id: 'bot',
  tenantId: 'tenant',
  retrieval: { ...DEFAULT_BOT_SETTINGS.retrieval, mode, ...extra },
});

describe('score fusion', () => {
  test('a chunk high in both lists beats one at the top of a single list; each keeps its ranks', () => {
    const fused = fuse([[hit('a:0', 0.9), hit('b:0', 0.8)]], [[hit('b:0', 12), hit('c:0', 9)]]);
    expect(fused.map((f) => f.hit.id)).toEqual(['b:0', 'c:0', 'a:0']);
    expect(fused[0]).toMatchObject({ ranks: { vector: 2, keyword: 1 }, similarity: 0.8 });
    expect(fused[0]?.score).toBeCloseTo(VECTOR_WEIGHT * 0.8 + (1 - VECTOR_WEIGHT) * 1, 12);
    // c:0 has no cosine of its own: it takes the vector list's last one (0.8), an upper bound.
    expect(fused[1]?.score).toBeCloseTo(VECTOR_WEIGHT * 0.8 + (1 - VECTOR_WEIGHT) * 0.75, 12);
    expect(fused[1]?.similarity).toBeUndefined();
  });

  test('a keyword hit that carries its cosine is scored with it', () => {
    const fused = fuse([[hit('a:0', 0.9)]], [[{ ...hit('k:0', 4), similarity: 0.2 }]]);
    expect(fused.map((f) => [f.hit.id, f.similarity])).toEqual([
      ['k:0', 0.2],
      ['a:0', 0.9],
    ]);
  });

  test('ties go to the better vector rank, then the chunk id (deterministic)', () => {
    const fused = fuse([[hit('v:0', 0.5)]], [[hit('k:0', 3)]]);
    expect(fused.map((f) => f.hit.id)).toEqual(['k:0', 'v:0']);
    const tied = fuse([[hit('v:0', 0.5), hit('w:0', 0.5)]], []);
    expect(tied.map((f) => f.hit.id)).toEqual(['v:0', 'w:0']);
  });
});

describe('retrieve', () => {
  test('hybrid asks both lists in one call per query; keyword mode embeds nothing; vector mode sends no text', async () => {
    for (const mode of ['hybrid', 'keyword', 'vector'] as const) {
      const text = 'Logs go to /var/log.';
      const { index, asked } = fixedIndex([hit('a:0', 0.9, text)], [hit('a:0', 5, text)]);
      embedder.texts = [];
      const result = await retrieve({ index, embedder }, bot(mode), 'where do logs go?');
      expect(asked).toHaveLength(1);
      expect(asked[0]?.vector !== undefined).toBe(mode !== 'keyword');
      expect(asked[0]?.text !== undefined).toBe(mode !== 'vector');
      expect(embedder.texts).toEqual(mode === 'keyword' ? [] : ['where do logs go?']);
      expect(result.passages.map((p) => p.id)).toEqual(['a:0']);
    }
  });

  test('a follow-up without a model is also searched with the previous user turn (offline rule)', async () => {
    const { index, asked } = fixedIndex([], []);
    const history = [
      { role: 'user' as const, content: 'What is /var/log for?' },
      { role: 'assistant' as const, content: 'Log files.' },
    ];
    const result = await retrieve({ index, embedder }, bot(), 'Who may write there?', history);
    expect(result.queries).toEqual(['Who may write there?', 'What is /var/log for?\nWho may write there?']);
    expect(asked.map((q) => q.text)).toEqual(result.queries);
  });

  test('a follow-up with a model is searched with its rewrite, whose tokens are counted; a failed rewrite falls back', async () => {
    const { index } = fixedIndex([], []);
    const history = [{ role: 'user' as const, content: 'What is /var/log for?' }];
    const rewritten = await retrieve(
      {
        index,
        embedder,
        rewrite: async () => ({ query: 'who may write to /var/log', inputTokens: 30, outputTokens: 6 }),
      },
      bot(),
      'Who may write there?',
      history,
    );
    expect(rewritten.queries).toEqual(['Who may write there?', 'who may write to /var/log']);
    expect(rewritten.usage).toMatchObject({ inputTokens: 30, outputTokens: 6 });
    const failed = await retrieve(
      { index, embedder, rewrite: async () => Promise.reject(new Error('model down')) },
      bot(),
      'Who may write there?',
      history,
    );
    expect(failed.queries[1]).toBe('What is /var/log for?\nWho may write there?');
    // No history: one query, no rewrite call.
    let calls = 0;
    await retrieve(
      { index, embedder, rewrite: async () => ({ query: 'x', inputTokens: 1, outputTokens: 1 }) },
      bot(),
      'q',
      [],
    );
    await retrieve(
      {
        index,
        embedder,
        rewrite: async () => {
          calls++;
          return { query: 'x', inputTokens: 1, outputTokens: 1 };
        },
      },
      bot(),
      'q',
    );
    expect(calls).toBe(0);
  });

  test('a reranker reorders the fused candidates when the bot turns it on, and only then', async () => {
    const { index } = fixedIndex([hit('a:0', 0.9), hit('b:0', 0.8), hit('c:0', 0.7)], []);
    const seen: string[][] = [];
    const reranker: Reranker = {
      modelId: 'test-rerank',
      async rerank(_query, documents) {
        seen.push([...documents]);
        return [
          { index: 2, score: 0.9 },
          { index: 0, score: 0.5 },
          { index: 1, score: 0.1 },
        ];
      },
    };
    const off = await retrieve({ index, embedder, reranker }, bot('hybrid', { minScore: 0 }), 'q');
    expect(off.passages.map((p) => p.id)).toEqual(['a:0', 'b:0', 'c:0']);
    expect(seen).toHaveLength(0);
    const on = await retrieve(
      { index, embedder, reranker },
      bot('hybrid', { minScore: 0, rerank: true }),
      'q',
    );
    expect(on.passages.map((p) => [p.id, p.score, p.ranks?.rerank])).toEqual([
      ['c:0', 0.9, 1],
      ['a:0', 0.5, 2],
      ['b:0', 0.1, 3],
    ]);
    expect(seen[0]).toHaveLength(3);
  });

  test('nothing retrieved: no passages (the chat turn then abstains)', async () => {
    const { index } = fixedIndex([], []);
    expect((await retrieve({ index, embedder }, bot(), 'anything?')).passages).toEqual([]);
  });
});

describe('citations of an answer', () => {
  const passages: Passage[] = [1, 2, 3].map((n) => ({
    id: `d${n}:0`,
    documentId: `d${n}`,
    ordinal: 0,
    filename: `d${n}.md`,
    text: `passage ${n}`,
    score: 1 / n,
  }));

  test('only the passages the answer references, in the order first referenced, each with its number', () => {
    expect(citedPassages('See [3], and also [1][3].', passages).map((c) => [c.n, c.documentId])).toEqual([
      [3, 'd3'],
      [1, 'd1'],
    ]);
    expect(citedPassages('Both [1, 2].', passages).map((c) => c.n)).toEqual([1, 2]);
  });

  test('markers out of range are ignored; an answer with no marker cites every passage', () => {
    expect(citedPassages('Nothing [7] here [0].', passages).map((c) => c.n)).toEqual([1, 2, 3]);
    expect(citedPassages('No markers at all.', passages).map((c) => c.n)).toEqual([1, 2, 3]);
  });
});
