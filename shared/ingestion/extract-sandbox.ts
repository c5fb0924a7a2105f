// Extraction of an uploaded document in a worker thread, under a deadline and a memory ceiling, so
// a hostile or broken file (a decompression bomb, a parser's worst case) fails that document with a
// reason instead of stalling or crashing the ingest function. The worker's `resourceLimits` cap
// its JavaScript heap; they do not cap ArrayBuffers, where decoded streams live, so inside the
// worker no single typed array may be larger than `MAX_ALLOCATION_BYTES` either (the PDF extractor
// bounds what its streams inflate to before pdf.js sees them; this catches what that scan cannot
// see, such as a stream behind another filter or inside an encrypted file).
//
// Starting a worker (loading tsx, pdf.js and the extractors) costs far more than extracting a small
// file, so a worker stays warm between documents and serves them one at a time. It is replaced
// whenever a document may have left it in a bad state: a deadline hit, running out of memory, a
// refused allocation (its heap may hold what a hostile file built), a crash or an exit. A document
// extracted, or refused by the extractor's own checks, leaves it as it was.
//
// The worker runs this very module: from source (jest, the local platform) it is this .ts file,
// loaded through tsx; in a Lambda bundle, `import.meta.url` is the bundle itself, which holds this
// module too. Either way the module starts serving when it finds itself in a worker started here.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workerExecArgv } from '../worker-exec-argv.ts';
import { type ExtractLimits, extractDocument } from './extract.ts';
import { type DocumentType, type ExtractedDocument, ExtractionError } from './types.ts';

/** Well under the ingest function's 300 s timeout, leaving time to chunk and queue the result. */
export const EXTRACTION_DEADLINE_MS = 120_000;
/** The worker's heap; the ingest function has 2 GiB, and decoded streams live outside the heap. */
export const EXTRACTION_HEAP_MB = 1024;
/** The largest typed array the worker may allocate (twice a stream's limit: pdf.js doubles buffers). */
export const MAX_ALLOCATION_BYTES = 256 * 1024 * 1024;

/**
 * Documents one worker extracts before it is replaced: caches and a fragmented heap grow with the
 * documents seen, and must not creep towards the ceiling and fail an innocent document for memory.
 * A fresh start every 200 documents costs little next to what the warm ones save.
 */
const DOCUMENTS_PER_WORKER = 200;
/**
 * Idle workers kept warm (per worker module and heap). Each document gets a worker of its own,
 * idle or new, so documents extracted at once never wait for one another and each deadline counts
 * from its own start. Lambda runs one document per instance, needing one; the local platform runs
 * several ingests at once, but extraction is a short part of each, so two cover most overlaps
 * while bounding the memory idle workers hold.
 */
const MAX_IDLE_WORKERS = 2;

export interface SandboxOptions {
  readonly deadlineMs?: number;
  readonly heapMb?: number;
  readonly limits?: ExtractLimits;
  /** The module the worker runs: this one (default), or a bundle holding it. */
  readonly workerUrl?: URL;
}

/** Marks a worker started by `extractInSandbox`, so the module serves only there. */
const ROLE = 'parley-extraction';

interface Job {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly type: DocumentType;
  readonly limits: ExtractLimits;
}

type Reply =
  | { readonly ok: ExtractedDocument }
  | { readonly refused: string }
  | { readonly crashed: { readonly message: string; readonly stack?: string } };

/** What the worker posts back for a job. */
interface Answer {
  readonly id: number;
  readonly reply: Reply;
  /** An allocation was refused during the job: the worker is not to be trusted with another. */
  readonly refusedAllocation: boolean;
}

type WorkerEvent =
  | { readonly answer: Answer }
  | { readonly error: Error & { code?: string } }
  | { readonly exit: number };

/** A worker started here, and where its events go: to the job it runs, or nowhere while idle. */
interface SandboxWorker {
  readonly worker: Worker;
  /** Workers of one kind (module and heap) serve one another's jobs. */
  readonly kind: string;
  served: number;
  onEvent: ((event: WorkerEvent) => void) | undefined;
}

const idleWorkers = new Map<string, SandboxWorker[]>();
let workersStarted = 0;
let lastJobId = 0;

/** How many extraction workers this process has started (tests check that workers are reused). */
export function extractionWorkersStarted(): number {
  return workersStarted;
}

/** Ends the idle workers (a test's afterAll); the next extraction starts a fresh one. */
export async function closeExtractionWorkers(): Promise<void> {
  const idle = [...idleWorkers.values()].flat();
  idleWorkers.clear();
  await Promise.all(idle.map(({ worker }) => worker.terminate()));
}

const seconds = (ms: number) => `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} s`;

function startWorker(url: URL, heapMb: number, kind: string): SandboxWorker {
  const worker = new Worker(url, {
    workerData: { role: ROLE },
    execArgv: workerExecArgv(url),
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
    stdout: false,
    stderr: false,
  });
  workersStarted++;
  const started: SandboxWorker = { worker, kind, served: 0, onEvent: undefined };
  // Listened to for the worker's whole life: an 'error' with no listener would throw here.
  worker.on('message', (answer: Answer) => started.onEvent?.({ answer }));
  worker.on('error', (error: Error & { code?: string }) => started.onEvent?.({ error }));
  worker.on('exit', (code) => {
    const idle = idleWorkers.get(kind);
    if (idle?.includes(started)) idle.splice(idle.indexOf(started), 1);
    started.onEvent?.({ exit: code });
  });
  return started;
}

/** An idle worker of the kind, or a new one. */
function takeWorker(url: URL, heapMb: number): SandboxWorker {
  const kind = `${heapMb} MB ${url.href}`;
  const sandbox = idleWorkers.get(kind)?.pop() ?? startWorker(url, heapMb, kind);
  sandbox.worker.ref();
  return sandbox;
}

/**
 * After a job: kept for the next one if it may serve another, else ended. An idle worker does not
 * keep the process alive (jest, the local platform and Lambda's freeze must not wait for it).
 */
function release(sandbox: SandboxWorker, reusable: boolean): void {
  sandbox.onEvent = undefined;
  sandbox.served++;
  const idle = idleWorkers.get(sandbox.kind) ?? [];
  if (reusable && sandbox.served < DOCUMENTS_PER_WORKER && idle.length < MAX_IDLE_WORKERS) {
    sandbox.worker.unref();
    idle.push(sandbox);
    idleWorkers.set(sandbox.kind, idle);
  } else {
    void sandbox.worker.terminate();
  }
}

/**
 * Extracts the document in a worker thread of its own (a warm one if idle), which is ended at the
 * deadline. A deadline hit, the worker running out of memory, and everything `extractDocument`
 * refuses become an `ExtractionError` with a reason for the admin; anything else (a bug) is thrown
 * as it is.
 */
export function extractInSandbox(
  bytes: Uint8Array,
  type: DocumentType,
  options: SandboxOptions = {},
): Promise<ExtractedDocument> {
  const deadlineMs = options.deadlineMs ?? EXTRACTION_DEADLINE_MS;
  const heapMb = options.heapMb ?? EXTRACTION_HEAP_MB;
  // A copy the worker owns: transferred, not copied again, and the caller's bytes stay intact.
  const copy = bytes.slice();
  const job: Job = { id: ++lastJobId, bytes: copy, type, limits: options.limits ?? {} };
  const sandbox = takeWorker(options.workerUrl ?? new URL(import.meta.url), heapMb);
  return new Promise<ExtractedDocument>((resolve, reject) => {
    // Once settled, the worker's events no longer reach this job and the timer is cleared.
    const settle = (settlement: Settlement) => {
      clearTimeout(timer);
      release(sandbox, settlement.reusable);
      if ('document' in settlement) resolve(settlement.document);
      else reject(settlement.error);
    };
    const timer = setTimeout(() => {
      const reason = `Extraction took longer than ${seconds(deadlineMs)}; the file may be malformed or too complex`;
      settle({ reusable: false, error: new ExtractionError(reason) });
    }, deadlineMs);
    sandbox.onEvent = (event) => {
      if ('answer' in event && event.answer.id !== job.id) return;
      settle(settlementOf(event, heapMb));
    };
    sandbox.worker.postMessage(job, [copy.buffer]);
  });
}

/** How a job ended: its document or error, and whether its worker may serve another job. */
type Settlement = { readonly reusable: boolean } & (
  | { readonly document: ExtractedDocument }
  | { readonly error: unknown }
);

function settlementOf(event: WorkerEvent, heapMb: number): Settlement {
  if ('answer' in event) {
    const { reply, refusedAllocation } = event.answer;
    const reusable = !('crashed' in reply) && !refusedAllocation;
    try {
      return { reusable, document: outcomeOf(reply) };
    } catch (error) {
      return { reusable, error };
    }
  }
  if ('error' in event) return { reusable: false, error: workerFailure(event.error, heapMb) };
  const exited = new Error(`The extraction worker exited (code ${event.exit}) without an answer`);
  return { reusable: false, error: exited };
}

/** The worker's answer as a result, or thrown as what it was. */
function outcomeOf(reply: Reply): ExtractedDocument {
  if ('ok' in reply) return reply.ok;
  if ('refused' in reply) throw new ExtractionError(reply.refused);
  const error = new Error(reply.crashed.message);
  if (reply.crashed.stack) error.stack = reply.crashed.stack;
  throw error;
}

function workerFailure(error: Error & { code?: string }, heapMb: number): Error {
  if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new ExtractionError(
      `Extraction needed more than ${heapMb.toLocaleString('en-US')} MB of memory; the file may be malformed or too complex`,
      { cause: error },
    );
  }
  return error;
}

// ---- In the worker ----

/** Set when an allocation was refused: the extractor may have caught the error and gone on. */
let refusedAllocation = false;

/**
 * Replaces the typed array and ArrayBuffer constructors of this worker's global scope with proxies
 * that refuse an allocation above `MAX_ALLOCATION_BYTES`. Proxies, not subclasses: `instanceof`,
 * the prototypes and the static methods stay those of the real constructors.
 */
function guardAllocations(): void {
  const constructors = [
    'ArrayBuffer',
    'SharedArrayBuffer',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int8Array',
    'Uint16Array',
    'Int16Array',
    'Uint32Array',
    'Int32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
  ] as const;
  const global = globalThis as unknown as Record<string, unknown>;
  for (const name of constructors) {
    const real = global[name] as (new (...args: unknown[]) => object) & { BYTES_PER_ELEMENT?: number };
    if (typeof real !== 'function') continue;
    const width = real.BYTES_PER_ELEMENT ?? 1;
    global[name] = new Proxy(real, {
      construct(target, args, newTarget) {
        const [first] = args;
        const length =
          typeof first === 'number' ? first : ((first as { length?: unknown } | null)?.length ?? 0);
        if (typeof length === 'number' && length * width > MAX_ALLOCATION_BYTES) {
          refusedAllocation = true;
          throw new RangeError(`Refused to allocate ${length * width} bytes`);
        }
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
}

const TOO_LARGE = `The document cannot be read safely: a part of it decodes to more than ${Math.round(MAX_ALLOCATION_BYTES / 1024 / 1024)} MB (it may be a decompression bomb)`;

async function serve(job: Job): Promise<void> {
  refusedAllocation = false;
  let reply: Reply;
  try {
    const document = await extractDocument(job.bytes, job.type, job.limits);
    reply = refusedAllocation ? { refused: TOO_LARGE } : { ok: document };
  } catch (error) {
    if (refusedAllocation) reply = { refused: TOO_LARGE };
    else if (error instanceof ExtractionError) reply = { refused: error.reason };
    else {
      const { message, stack } = error instanceof Error ? error : new Error(String(error));
      reply = { crashed: stack === undefined ? { message } : { message, stack } };
    }
  }
  const answer: Answer = { id: job.id, reply, refusedAllocation };
  parentPort?.postMessage(answer);
}

// The main thread posts a job only once the previous one is answered, so jobs never overlap here.
if (!isMainThread && (workerData as { role?: unknown } | null)?.role === ROLE) {
  guardAllocations();
  parentPort?.on('message', (job: Job) => void serve(job));
}
