// npm run eval: how well a bot's search finds the passage that answers a question, measured on the
// labelled set in set.ts (real documents from ../shared/corpus, questions written by reading them).
//
// The documents go through the platform's own ingestion code (extract → chunk → embed the
// searchable text → the LanceDB index), into one bot, offline (the local embedder). Then every
// question is asked through the retrieval use-case the chat and search use, once per mode —
// vector, keyword, hybrid — side by side in this one run, and the figures printed:
//   recall@1, recall@5   share of answerable questions whose answering passage is cited first / in the top 5
//   MRR@5, nDCG@5        rank quality of the cited passages (binary relevance)
//   abstention P / R     on the unanswerable questions: precision and recall of "found nothing relevant"
//   p50 / p99 ms         time of one retrieval (query embedding and index calls)
//
//   npm run eval                     (EVAL_MODES=hybrid,vector EVAL_VERBOSE=1 to list the misses)
//
// EVAL_CACHE_DIR=dir keeps every embedding on disk, keyed by a hash of the model id and the text,
// so a run that changes only retrieval does not re-embed the corpus (ingestion then times only
// extraction, chunking and indexing). EVAL_DUMP=file writes each question's fused candidates
// (ranks, cosine, answer or not) as JSON, for looking at score distributions.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalEmbedder } from '../../shared/adapters/embedders/local.ts';
import { createLanceVectorIndex } from '../../shared/adapters/vector/lancedb.ts';
import { type Bot, DEFAULT_BOT_SETTINGS } from '../../shared/domain/bot.ts';
import { documentTypeOf } from '../../shared/domain/document.ts';
import type { Passage } from '../../shared/domain/passage.ts';
import { chunkDocument } from '../../shared/ingestion/chunker.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import type { ChatMessage } from '../../shared/ports/chat-model.ts';
import type { Embedder } from '../../shared/ports/embedder.ts';
import { chunkId, type IndexedChunk, searchableText } from '../../shared/ports/vector-index.ts';
import type { RetrievalDeps } from '../../shared/usecases/deps.ts';
import { type Fusion, type RetrievalMode, retrieve } from '../../shared/usecases/retrieve.ts';
import { percentile } from '../support.ts';
import { DOCUMENTS, type EvalQuestion, type EvalSource, QUESTIONS } from './set.ts';

const CORPUS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
/** What is compared: each mode, and hybrid with reciprocal rank fusion as the fusion baseline. */
const VARIANTS: Record<string, { mode: RetrievalMode; fusion?: Fusion }> = {
  vector: { mode: 'vector' },
  keyword: { mode: 'keyword' },
  'hybrid-rrf': { mode: 'hybrid', fusion: 'rrf' },
  hybrid: { mode: 'hybrid' },
};
const MODES = (process.env.EVAL_MODES ?? Object.keys(VARIANTS).join(',')).split(',');
const VERBOSE = process.env.EVAL_VERBOSE === '1';
const CACHE_DIR = process.env.EVAL_CACHE_DIR;
const DUMP = process.env.EVAL_DUMP;
const dump: Record<string, unknown[]> = {};
const K = 5;

const scope = { tenantId: 'tnt_eval', botId: 'bot_eval' };

interface IndexedSource {
  documentId: string;
  page?: number;
  heading?: string;
  headingPath?: readonly string[];
}

const matches = (chunk: IndexedSource, source: EvalSource) =>
  chunk.documentId === source.doc &&
  (source.pages === undefined || (chunk.page !== undefined && source.pages.includes(chunk.page))) &&
  (source.headings === undefined ||
    source.headings.some((h) => chunk.heading === h || (chunk.headingPath ?? []).includes(h)));

const isAnswer = (chunk: IndexedSource, q: EvalQuestion) => q.expect.some((s) => matches(chunk, s));

/** The embedder with an on-disk cache (EVAL_CACHE_DIR): vectors keyed by model id and text. */
function cached(embedder: Embedder, dir: string): Embedder & { save(): void } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${embedder.modelId}-${embedder.dimension}.json`);
  const store: Record<string, number[]> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  let dirty = false;
  const key = (text: string) => createHash('sha256').update(`${embedder.modelId}\u0000${text}`).digest('hex');
  return {
    modelId: embedder.modelId,
    dimension: embedder.dimension,
    maxBatch: embedder.maxBatch,
    async embed(texts) {
      const missing = [...new Set(texts.filter((t) => !store[key(t)]))];
      let tokens = 0;
      if (missing.length) {
        const embedded = await embedder.embed(missing);
        tokens = embedded.tokens;
        missing.forEach((t, i) => {
          store[key(t)] = embedded.vectors[i] ?? [];
        });
        dirty = true;
      }
      return { vectors: texts.map((t) => store[key(t)] ?? []), tokens };
    },
    save() {
      if (dirty) writeFileSync(file, JSON.stringify(store));
      dirty = false;
    },
  };
}

async function ingest(index: ReturnType<typeof createLanceVectorIndex>, embedder: Embedder) {
  const chunks: (IndexedChunk & { vector: number[] })[] = [];
  const started = performance.now();
  for (const doc of DOCUMENTS) {
    const typed = documentTypeOf(doc.filename, doc.contentType);
    if (!('type' in typed)) throw new Error(`${doc.filename}: ${typed.problem.message}`);
    const extracted = await extractDocument(new Uint8Array(readFileSync(join(CORPUS, doc.path))), typed.type);
    const chunking = process.env.EVAL_CHUNKING
      ? {
          size: Number(process.env.EVAL_CHUNKING.split('/')[0]),
          overlap: Number(process.env.EVAL_CHUNKING.split('/')[1]),
        }
      : DEFAULT_BOT_SETTINGS.chunking;
    const pieces = chunkDocument(extracted, chunking);
    const own = pieces.map((c) => ({
      ...scope,
      id: chunkId(doc.id, c.ordinal),
      documentId: doc.id,
      ordinal: c.ordinal,
      filename: doc.filename,
      ...(extracted.title !== undefined && { title: extracted.title }),
      text: c.text,
      ...(c.page !== undefined && { page: c.page }),
      ...(c.heading !== undefined && { heading: c.heading }),
      ...(c.headingPath !== undefined && { headingPath: c.headingPath }),
      vector: [] as number[],
    }));
    for (let i = 0; i < own.length; i += embedder.maxBatch) {
      const batch = own.slice(i, i + embedder.maxBatch);
      const { vectors } = await embedder.embed(batch.map((c) => searchableText(c)));
      batch.forEach((c, j) => {
        c.vector = vectors[j] ?? [];
      });
    }
    await index.upsert(own);
    chunks.push(...own);
    console.log(
      `  ${doc.filename.padEnd(28)} ${String(pieces.length).padStart(4)} chunks  title: ${extracted.title ?? '—'}`,
    );
  }
  console.log(`  ${chunks.length} chunks indexed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return chunks;
}

interface ModeResult {
  mode: string;
  recall1: number;
  recall5: number;
  mrr: number;
  ndcg: number;
  abstainPrecision: number;
  abstainRecall: number;
  p50: number;
  p99: number;
  byKind: Map<string, { n: number; recall5: number }>;
}

/** What a variant's run adds up, question by question. */
interface Tally {
  hits1: number;
  hits5: number;
  rr: number;
  ndcg: number;
  abstainedRight: number;
  abstainedWrong: number;
  latencies: number[];
  byKind: Map<string, { n: number; recall5: number }>;
  misses: string[];
}

async function evaluate(
  variant: string,
  deps: RetrievalDeps,
  chunks: readonly IndexedSource[],
): Promise<ModeResult> {
  const { mode, fusion } = VARIANTS[variant] ?? { mode: variant as RetrievalMode };
  const bot: Pick<Bot, 'id' | 'tenantId' | 'retrieval'> = {
    id: scope.botId,
    tenantId: scope.tenantId,
    retrieval: { ...DEFAULT_BOT_SETTINGS.retrieval, mode },
  };
  const tally: Tally = {
    hits1: 0,
    hits5: 0,
    rr: 0,
    ndcg: 0,
    abstainedRight: 0,
    abstainedWrong: 0,
    latencies: [],
    byKind: new Map(),
    misses: [],
  };
  for (const q of QUESTIONS) {
    const history: ChatMessage[] = (q.history ?? []).map((content) => ({ role: 'user', content }));
    const started = performance.now();
    const { passages, candidates } = await retrieve(deps, bot, q.question, history, {
      topK: K,
      ...(fusion && { fusion }),
    });
    tally.latencies.push(performance.now() - started);
    if (DUMP) dumpCandidates(mode, q, candidates);
    countQuestion(tally, q, passages, chunks);
  }
  if (VERBOSE && tally.misses.length) console.log(`\n${mode}:\n${tally.misses.join('\n')}`);
  return resultOf(variant, tally);
}

function dumpCandidates(mode: string, q: EvalQuestion, candidates: readonly Passage[]): void {
  const entries = dump[mode] ?? [];
  dump[mode] = entries;
  entries.push({
    id: q.id,
    kind: q.kind,
    question: q.question,
    history: q.history,
    candidates: candidates.map((c) => ({
      id: c.id,
      page: c.page ?? c.heading,
      score: c.score,
      ranks: c.ranks,
      similarity: c.similarity,
      relevant: c.relevant,
      answer: isAnswer(c, q),
    })),
  });
}

/** Scores one question's passages: abstention, rank of the first answer, nDCG@K. */
function countQuestion(
  tally: Tally,
  q: EvalQuestion,
  passages: readonly Passage[],
  chunks: readonly IndexedSource[],
): void {
  if (q.kind === 'unanswerable') {
    if (passages.length === 0) tally.abstainedRight++;
    else if (VERBOSE) tally.misses.push(`  answered ${q.id}: ${describe(passages[0])}`);
    return;
  }
  if (passages.length === 0) tally.abstainedWrong++;
  const relevant = passages.map((p) => isAnswer(p, q));
  const first = relevant.indexOf(true);
  const kind = tally.byKind.get(q.kind) ?? { n: 0, recall5: 0 };
  kind.n++;
  if (first === 0) tally.hits1++;
  if (first >= 0) {
    tally.hits5++;
    kind.recall5++;
    tally.rr += 1 / (first + 1);
  } else if (VERBOSE) {
    tally.misses.push(
      `  missed ${q.id} (${q.kind}): "${q.question}" → ${passages.length ? describe(passages[0]) : 'nothing'}`,
    );
  }
  tally.byKind.set(q.kind, kind);
  const ideal = Math.min(K, chunks.filter((c) => isAnswer(c, q)).length);
  const dcg = relevant.reduce((sum, r, i) => sum + (r ? 1 / Math.log2(i + 2) : 0), 0);
  const idcg = Array.from({ length: ideal }, (_, i) => 1 / Math.log2(i + 2)).reduce((a, b) => a + b, 0);
  tally.ndcg += idcg > 0 ? dcg / idcg : 0;
}

function resultOf(variant: string, tally: Tally): ModeResult {
  const answerable = QUESTIONS.filter((q) => q.kind !== 'unanswerable').length;
  const unanswerable = QUESTIONS.length - answerable;
  const latencies = [...tally.latencies].sort((a, b) => a - b);
  const abstained = tally.abstainedRight + tally.abstainedWrong;
  return {
    mode: variant,
    recall1: tally.hits1 / answerable,
    recall5: tally.hits5 / answerable,
    mrr: tally.rr / answerable,
    ndcg: tally.ndcg / answerable,
    abstainPrecision: abstained ? tally.abstainedRight / abstained : Number.NaN,
    abstainRecall: unanswerable ? tally.abstainedRight / unanswerable : Number.NaN,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    byKind: tally.byKind,
  };
}

const describe = (p: Passage | undefined) =>
  p ? `${p.documentId} ${p.page !== undefined ? `p.${p.page}` : (p.heading ?? '')}`.trim() : 'nothing';

async function main() {
  if (!existsSync(CORPUS)) {
    console.error(`npm run eval needs the corpus folder beside the checkout: ${CORPUS}`);
    process.exit(1);
  }
  const counts = new Map<string, number>();
  for (const q of QUESTIONS) counts.set(q.kind, (counts.get(q.kind) ?? 0) + 1);
  console.log(
    `Evaluation set: ${QUESTIONS.length} questions over ${DOCUMENTS.length} documents (${[...counts]
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ')})`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'parley-eval-'));
  try {
    const local = createLocalEmbedder();
    const cache = CACHE_DIR ? cached(local, CACHE_DIR) : undefined;
    const embedder: Embedder = cache ?? local;
    const index = createLanceVectorIndex({ dir, modelId: embedder.modelId, dimension: embedder.dimension });
    const chunks = await ingest(index, embedder);
    cache?.save();
    await retrieve(
      { index, embedder },
      { id: scope.botId, tenantId: scope.tenantId, retrieval: DEFAULT_BOT_SETTINGS.retrieval },
      'warm up',
    );
    const results: ModeResult[] = [];
    for (const mode of MODES) results.push(await evaluate(mode, { index, embedder }, chunks));
    cache?.save();
    if (DUMP)
      writeFileSync(DUMP, JSON.stringify({ ...dump, chunks: chunks.map((c) => [c.id, searchableText(c)]) }));

    const pct = (x: number) => (Number.isNaN(x) ? '   —' : x.toFixed(3));
    console.log(
      `\nRetrieval (top ${K}, offline embedder ${embedder.modelId}, default settings: minScore ${DEFAULT_BOT_SETTINGS.retrieval.minScore}, keywordCoverage ${DEFAULT_BOT_SETTINGS.retrieval.keywordCoverage})`,
    );
    console.log('  mode        recall@1  recall@5  MRR@5   nDCG@5  abstain P  abstain R   p50 ms   p99 ms');
    for (const r of results) {
      console.log(
        `  ${r.mode.padEnd(10)}  ${pct(r.recall1).padStart(8)}  ${pct(r.recall5).padStart(8)}  ${pct(r.mrr).padStart(6)}  ${pct(r.ndcg).padStart(6)}  ${pct(r.abstainPrecision).padStart(9)}  ${pct(r.abstainRecall).padStart(9)}  ${r.p50.toFixed(1).padStart(7)}  ${r.p99.toFixed(1).padStart(7)}`,
      );
    }
    console.log('\n  recall@5 by kind');
    for (const r of results) {
      console.log(
        `  ${r.mode.padEnd(10)}  ${[...r.byKind].map(([kind, v]) => `${kind} ${(v.recall5 / v.n).toFixed(3)} (${v.n})`).join('   ')}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
