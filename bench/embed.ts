// bench/embed: the local ingestion path's two costs, each against a baseline in the same run.
//
// 1. The local embedder (USE lite, WebAssembly) in chunks per second over ~150-word passages at
//    batch sizes 1, 8, 32 and 64, one call at a time on one worker. Baseline: batch size 1; the
//    ratios show what batching buys.
// 2. Its pool: one embed call of all the passages (the default batch of 8, spread over the workers)
//    on one worker per core, against one worker — the embedder before the pool, which ran one
//    model call at a time. Beside each, the CPU cores the process kept busy (its CPU time over the
//    wall time): about 1 for one worker says the WebAssembly backend itself runs on one thread.
// 3. LanceDB at 10k rows of 512-d vectors: write throughput in ingestion's batches of 16 with the
//    full-text index against a plain table without it (and what that does to ingestion's chunks/s
//    with the local embedder), and vector and hybrid (vector + BM25) search latency p50/p99 for a
//    bot holding 1k of the rows and for one holding all 10k. Baseline: a brute-force cosine scan
//    in plain JS over the same rows held in memory (Float32Array).
//
//   node --import tsx bench/embed.ts        (BENCH_PASSAGES=300 BENCH_ROWS=10000 BENCH_QUERIES=200)

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeLocalEmbedders, createLocalEmbedder } from '../shared/adapters/embedders/local.ts';
import { chunkSchema, createLanceVectorIndex } from '../shared/adapters/vector/lancedb.ts';
import type { IndexedChunk } from '../shared/ports/vector-index.ts';
import { percentile } from './support.ts';

const PASSAGES = Number(process.env.BENCH_PASSAGES ?? 300);
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const BATCHES = [1, 8, 32, 64];
const DIM = 512;
const TOP_K = 5;

/** A small deterministic PRNG (mulberry32), so every run embeds the same passages. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SENTENCES = [
  'Customers can return most items within thirty days of delivery for a full refund to the original payment method.',
  'Refunds are processed within five business days once the returned item has been inspected at our warehouse.',
  'To reset your password, open the sign-in page, choose "Forgot password" and follow the link we email you.',
  'Two-factor authentication adds a one-time code from your phone to every sign-in from a new device.',
  'Standard shipping takes three to five business days; express orders placed before noon ship the same day.',
  'International orders may be subject to import duties and taxes, which are collected by the carrier on delivery.',
  'Our support team is available Monday to Friday from eight in the morning until six in the evening.',
  'Warranty claims require the order number, a short description of the fault and, where possible, a photo.',
  'Subscriptions renew automatically at the end of each billing period unless they are cancelled beforehand.',
  'You can change the delivery address of an order until it has been handed over to the carrier.',
  'Gift cards never expire and can be combined with any other payment method at checkout.',
  'Damaged parcels should be refused at the door or reported within forty-eight hours with pictures of the packaging.',
  'The mobile app lets you track orders, manage returns and chat with an agent without signing in again.',
  'Business customers can request invoices with their tax number from the billing section of their account.',
  'Loyalty points are credited once the return window has closed and can be redeemed on the next order.',
];

function passages(count: number): string[] {
  const random = prng(42);
  return Array.from({ length: count }, () => {
    const words: string[] = [];
    while (words.length < 150) {
      const sentence = SENTENCES[Math.floor(random() * SENTENCES.length)] ?? '';
      words.push(...sentence.split(' '));
    }
    return words.slice(0, 150).join(' ');
  });
}

const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(8);

async function benchEmbedder(texts: string[]) {
  const words = texts.reduce((sum, t) => sum + t.split(' ').length, 0) / texts.length;
  console.log(
    `\nLocal embedder (USE lite, wasm), one worker: ${texts.length} passages of ~${Math.round(words)} words`,
  );
  // Load the model and warm the kernels outside the timings.
  const loadStart = performance.now();
  await createLocalEmbedder({ workers: 1 }).embed(texts.slice(0, 2));
  console.log(`  model load + first call: ${(performance.now() - loadStart).toFixed(0)} ms`);

  const results: { batch: number; perSecond: number }[] = [];
  for (const batch of BATCHES) {
    const embedder = createLocalEmbedder({ workers: 1, maxBatch: batch });
    const start = performance.now();
    for (let i = 0; i < texts.length; i += batch) await embedder.embed(texts.slice(i, i + batch));
    const seconds = (performance.now() - start) / 1000;
    results.push({ batch, perSecond: texts.length / seconds });
  }
  const baseline = results[0]?.perSecond ?? Number.NaN;
  console.log('  batch   chunks/s   ms/chunk   vs batch 1');
  for (const { batch, perSecond } of results) {
    console.log(
      `  ${String(batch).padStart(5)} ${fmt(perSecond)} ${fmt(1000 / perSecond)}   ${fmt(perSecond / baseline, 2)}x`,
    );
  }
}

/** One call of all the texts on a pool of one worker, then of one per core (same run, same texts). */
async function benchPool(texts: string[]) {
  const cores = availableParallelism();
  console.log(`\nLocal embedder pool: one call of ${texts.length} passages, batches of 8, ${cores} cores`);
  console.log('  workers   chunks/s   ms/chunk   CPU cores busy   vs 1 worker');
  let single = Number.NaN;
  for (const workers of [1, cores]) {
    const embedder = createLocalEmbedder({ workers });
    // Every worker loads its model outside the timing.
    await embedder.embed(texts.slice(0, workers * embedder.maxBatch));
    const cpu = process.cpuUsage();
    const start = performance.now();
    const { vectors } = await embedder.embed(texts);
    const seconds = (performance.now() - start) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    if (vectors.length !== texts.length)
      throw new Error(`expected ${texts.length} vectors, got ${vectors.length}`);
    const perSecond = texts.length / seconds;
    if (workers === 1) single = perSecond;
    console.log(
      `  ${String(workers).padStart(7)} ${fmt(perSecond)}   ${fmt(1000 / perSecond)}   ${fmt((user + system) / 1e6 / seconds, 2)}         ${fmt(perSecond / single, 2)}x`,
    );
  }
  console.log(`  target: ≥ 1.80x with a worker per core on 2 cores (load average now ${loadAverage()})`);
}

/** The machine's 1-minute load average: other work on it takes cores from the pool. */
const loadAverage = () => (loadavg()[0] ?? 0).toFixed(1);

function unitVector(random: () => number): number[] {
  const v = Array.from({ length: DIM }, () => random() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

type Query = { vector: number[]; text: string };
type LanceIndex = ReturnType<typeof createLanceVectorIndex>;

async function benchLance() {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-lance-'));
  try {
    const { texts, chunks, queries } = lanceRows();
    console.log(
      `\nLanceDB: ${ROWS} rows of ${DIM}-d, ~150-word texts, top-${TOP_K}, exact vector search + BM25`,
    );
    const index = createLanceVectorIndex({ dir, modelId: 'bench', dimension: DIM });
    await benchLanceWrites(dir, index, chunks.slice(0, ROWS / 10), texts);
    for (let i = ROWS / 10; i < chunks.length; i += 500) await index.upsert(chunks.slice(i, i + 500));

    const allInOne = createLanceVectorIndex({ dir, modelId: 'bench-one-bot', dimension: DIM });
    for (let i = 0; i < chunks.length; i += 500) {
      await allInOne.upsert(chunks.slice(i, i + 500).map((c) => ({ ...c, tenantId: 't0', botId: 'all' })));
    }
    await new Promise((r) => setTimeout(r, 1_500)); // the adapter optimises shortly after the last write

    await benchLanceSearch(chunks, queries, [
      { name: 'bot with 1k of 10k rows', index, scope: { tenantId: 't0', botId: 'big' }, filter: 'big' },
      {
        name: 'bot with all 10k rows  ',
        index: allInOne,
        scope: { tenantId: 't0', botId: 'all' },
        filter: undefined,
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * 10k rows: bot "big" holds 1k of tenant t0's rows, the rest spread over 9 more tenants' bots (a
 * second index holds every row under one bot); and the queries, a vector and a few words each.
 */
function lanceRows(): { texts: string[]; chunks: IndexedChunk[]; queries: Query[] } {
  const random = prng(7);
  const texts = passages(ROWS / 10);
  const scopeOf = (i: number) =>
    i < ROWS / 10 ? { tenantId: 't0', botId: 'big' } : { tenantId: `t${1 + (i % 9)}`, botId: `b${i % 4}` };
  const chunks: IndexedChunk[] = Array.from({ length: ROWS }, (_, i) => ({
    ...scopeOf(i),
    id: `doc-${Math.floor(i / 50)}:${i % 50}`,
    documentId: `doc-${Math.floor(i / 50)}`,
    ordinal: i % 50,
    filename: 'bench.txt',
    text: texts[i % texts.length] ?? '',
    vector: unitVector(random),
  }));
  const queries = Array.from({ length: QUERIES }, (_, i) => ({
    vector: unitVector(random),
    text: (SENTENCES[i % SENTENCES.length] ?? '').split(' ').slice(0, 8).join(' '),
  }));
  return { texts, chunks, queries };
}

/**
 * Writes as ingestion makes them: batches of 16 chunks (one embed message). Baseline: the same
 * rows into a plain LanceDB table with no full-text index (what the adapter wrote before).
 */
async function benchLanceWrites(dir: string, index: LanceIndex, rows: IndexedChunk[], texts: string[]) {
  let started = performance.now();
  for (let i = 0; i < rows.length; i += 16) await index.upsert(rows.slice(i, i + 16));
  const withFts = rows.length / ((performance.now() - started) / 1000);
  const { connect } = await import('@lancedb/lancedb');
  const plain = await (await connect(join(dir, 'plain'))).createEmptyTable('plain', await chunkSchema(DIM));
  started = performance.now();
  for (let i = 0; i < rows.length; i += 16) {
    await plain
      .mergeInsert('id')
      .whenMatchedUpdateAll()
      .whenNotMatchedInsertAll()
      .execute(
        rows.slice(i, i + 16).map((c) => ({
          ...c,
          title: null,
          page: null,
          heading: null,
          headingPath: null,
          searchText: c.text,
        })),
      );
  }
  const withoutFts = rows.length / ((performance.now() - started) / 1000);
  // Ingestion is embedding plus index writes, one after the other: chunks/s for the whole path.
  const embedPerSecond = await localEmbeddingRate(texts.slice(0, 32));
  const ingest = (write: number) => 1 / (1 / embedPerSecond + 1 / write);
  console.log('  writes (batches of 16)          rows/s   ingestion chunks/s (local embedder included)');
  console.log(`  no full-text index (baseline) ${fmt(withoutFts, 0)}   ${fmt(ingest(withoutFts), 1)}`);
  console.log(
    `  with full-text index          ${fmt(withFts, 0)}   ${fmt(ingest(withFts), 1)}   (${fmt((ingest(withFts) / ingest(withoutFts) - 1) * 100, 1)} % vs baseline)`,
  );
}

/** Baseline: the same rows in memory, filtered and scanned in plain JS (vectors only). */
function bruteForceScan(chunks: IndexedChunk[]) {
  const matrix = new Float32Array(ROWS * DIM);
  for (const [i, c] of chunks.entries()) matrix.set(c.vector, i * DIM);
  const tenants = chunks.map((c) => c.tenantId);
  const bots = chunks.map((c) => c.botId);
  return (tenantId: string, botId: string | undefined, q: readonly number[]) => {
    const best: { i: number; s: number }[] = [];
    for (let i = 0; i < ROWS; i++) {
      if (botId !== undefined && (tenants[i] !== tenantId || bots[i] !== botId)) continue;
      let s = 0;
      const o = i * DIM;
      for (let d = 0; d < DIM; d++) s += (matrix[o + d] ?? 0) * (q[d] ?? 0);
      if (best.length < TOP_K || s > (best[best.length - 1]?.s ?? -2)) {
        best.push({ i, s });
        best.sort((a, b) => b.s - a.s);
        if (best.length > TOP_K) best.pop();
      }
    }
    return best;
  };
}

/** Each query's latency in ms, sorted, after ten warm-up queries. */
async function timeQueries(queries: Query[], fn: (q: Query) => unknown): Promise<number[]> {
  for (const q of queries.slice(0, 10)) await fn(q); // warm-up
  const samples: number[] = [];
  for (const q of queries) {
    const start = performance.now();
    await fn(q);
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}

/** Vector and hybrid search latency for each case, against the JS scan over the same rows. */
async function benchLanceSearch(
  chunks: IndexedChunk[],
  queries: Query[],
  cases: { name: string; index: LanceIndex; scope: { tenantId: string; botId: string }; filter?: string }[],
) {
  const bruteForce = bruteForceScan(chunks);
  console.log(
    '  search                               p50 ms   p99 ms   JS scan p50   JS scan p99   p50 vs JS scan',
  );
  for (const c of cases) {
    const js = await timeQueries(queries, (q) => bruteForce(c.scope.tenantId, c.filter, q.vector));
    for (const kind of ['vector', 'hybrid'] as const) {
      const ask = (q: Query) =>
        c.index.candidates(c.scope, {
          vector: q.vector,
          ...(kind === 'hybrid' && { text: q.text }),
          k: TOP_K,
          minScore: -1,
        });
      const first = await ask(queries[0] ?? { vector: [], text: '' });
      if (first.vector.length !== TOP_K || (kind === 'hybrid' && first.keyword.length === 0)) {
        throw new Error(
          `expected ${TOP_K} vector hits and keyword hits, got ${first.vector.length}/${first.keyword.length}`,
        );
      }
      const lance = await timeQueries(queries, ask);
      const ratio = percentile(lance, 50) / percentile(js, 50);
      console.log(
        `  ${c.name} ${kind.padEnd(7)}   ${fmt(percentile(lance, 50), 2)} ${fmt(percentile(lance, 99), 2)}      ${fmt(percentile(js, 50), 2)}      ${fmt(percentile(js, 99), 2)}        ${fmt(ratio, 2)}x`,
      );
    }
  }
}

/** Chunks per second the local embedder (its default pool) manages on these passages. */
async function localEmbeddingRate(texts: string[]): Promise<number> {
  const embedder = createLocalEmbedder();
  await embedder.embed(texts);
  const start = performance.now();
  await embedder.embed(texts);
  return texts.length / ((performance.now() - start) / 1000);
}

console.log(`Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
const texts = passages(PASSAGES);
await benchEmbedder(texts);
await benchPool(texts);
await benchLance();
await closeLocalEmbedders();
