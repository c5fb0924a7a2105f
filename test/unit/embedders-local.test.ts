// The offline embedder (Universal Sentence Encoder lite, WebAssembly backend, weights in the package),
// run in a pool of worker threads.

import { afterAll, describe, expect, jest, test } from '@jest/globals';
import {
  closeLocalEmbedders,
  createLocalEmbedder,
  LOCAL_EMBEDDING_DIMENSION,
  localEmbeddingWorkers,
} from '../../shared/adapters/embedders/local.ts';

const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

afterAll(closeLocalEmbedders);

describe('local embedder', () => {
  test('returns unit vectors of 512 and ranks a paraphrase above unrelated text, printing nothing', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation(() => undefined),
    );
    try {
      const embedder = createLocalEmbedder();
      expect(embedder).toMatchObject({ modelId: 'universal-sentence-encoder-lite', dimension: 512 });
      const query = 'How can I get my money back for a purchase?';
      const { vectors, tokens } = await embedder.embed([
        query,
        'Our refund policy: customers may return items within 30 days for a full refund.',
        'The museum is closed on Mondays and public holidays.',
        'Photosynthesis converts light energy into chemical energy in plants.',
      ]);
      expect(vectors).toHaveLength(4);
      for (const v of vectors) {
        expect(v).toHaveLength(LOCAL_EMBEDDING_DIMENSION);
        expect(Math.hypot(...v)).toBeCloseTo(1, 6);
      }
      const [q, paraphrase, museum, plants] = vectors as [number[], number[], number[], number[]];
      expect(dot(q, paraphrase)).toBeGreaterThan(dot(q, museum) + 0.1);
      expect(dot(q, paraphrase)).toBeGreaterThan(dot(q, plants) + 0.1);
      expect(tokens).toBeGreaterThan(0);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  test('batches give the same vectors as single calls, in input order; empty input is harmless', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => `Passage number ${i} about topic ${i % 3}.`);
    const batched = await createLocalEmbedder({ maxBatch: 3 }).embed(texts);
    const single = await createLocalEmbedder({ maxBatch: 1 }).embed(texts);
    expect(batched.vectors).toHaveLength(7);
    batched.vectors.forEach((v, i) => {
      expect(dot(v, single.vectors[i] ?? [])).toBeCloseTo(1, 4);
    });
    expect(await createLocalEmbedder().embed([])).toEqual({ vectors: [], tokens: 0 });
    const [blank] = (await createLocalEmbedder().embed(['   '])).vectors;
    expect(blank?.every(Number.isFinite)).toBe(true);
  });
});

describe('local embedder pool', () => {
  const texts = [
    'How do I reset my password?',
    'Refunds take five business days.',
    'The museum is closed on Mondays.',
    'Express orders ship the same day.',
    'Gift cards never expire.',
    'Photosynthesis needs light.',
  ];

  test("spreads a call's batches over its workers and returns the vectors in input order", async () => {
    await closeLocalEmbedders(); // no pool left from the tests above: the workers below start here
    const single = createLocalEmbedder({ workers: 1, maxBatch: 1 });
    const alone: number[][] = [];
    for (const text of texts) alone.push(...(await single.embed([text])).vectors);

    const spread = await createLocalEmbedder({ workers: 2, maxBatch: 1 }).embed(texts);
    // Six batches at once started both workers; each vector is the one that text gets on its own.
    expect(localEmbeddingWorkers(2)).toHaveLength(2);
    expect(spread.vectors).toEqual(alone);
  });

  test('a worker that stops mid-call fails that call (retryable), and a new worker serves the next', async () => {
    const embedder = createLocalEmbedder({ workers: 2, maxBatch: 1 });
    const before = await embedder.embed(texts);
    const [victim, other] = localEmbeddingWorkers(2);
    if (!victim || !other) throw new Error('expected two workers');

    const call = embedder.embed(texts); // both workers hold one of its batches now
    await victim.terminate(); // to the pool, as a crash: the thread ends without an answer
    await expect(call).rejects.toMatchObject({
      name: 'EmbeddingError',
      retryable: true,
      message: expect.stringContaining('The local embedding worker stopped'),
    });

    const after = await embedder.embed(texts);
    expect(after.vectors).toEqual(before.vectors);
    const workers = localEmbeddingWorkers(2);
    expect(workers).toHaveLength(2);
    expect(workers).toContain(other);
    expect(workers).not.toContain(victim);
  });
});
