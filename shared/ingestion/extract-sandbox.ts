// Extraction of an uploaded document in a worker thread, under a deadline and a memory ceiling, so
// a hostile or broken file (a decompression bomb, a parser's worst case) fails that document with a
// reason instead of stalling or crashing the ingest function. The worker's `resourceLimits` cap
// its JavaScript heap; they do not cap ArrayBuffers, where decoded streams live, so inside the
// worker no single typed array may be larger than `MAX_ALLOCATION_BYTES` either (the PDF extractor
// bounds what its streams inflate to before pdf.js sees them; this catches what that scan cannot
// see, such as a stream behind another filter or inside an encrypted file).
//
// The worker runs this very module: from source (jest, the local platform) it is this .ts file,
// loaded through tsx; in a Lambda bundle, `import.meta.url` is the bundle itself, which holds this
// module too. Either way the module starts serving when it finds itself in a worker started here.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type ExtractLimits, extractDocument } from './extract.ts';
import { type DocumentType, type ExtractedDocument, ExtractionError } from './types.ts';

/** Well under the ingest function's 300 s timeout, leaving time to chunk and queue the result. */
export const EXTRACTION_DEADLINE_MS = 120_000;
/** The worker's heap; the ingest function has 2 GiB, and decoded streams live outside the heap. */
export const EXTRACTION_HEAP_MB = 1024;
/** The largest typed array the worker may allocate (twice a stream's limit: pdf.js doubles buffers). */
export const MAX_ALLOCATION_BYTES = 256 * 1024 * 1024;

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
  readonly role: typeof ROLE;
  readonly bytes: Uint8Array;
  readonly type: DocumentType;
  readonly limits: ExtractLimits;
}

type Reply =
  | { readonly ok: ExtractedDocument }
  | { readonly refused: string }
  | { readonly crashed: { readonly message: string; readonly stack?: string } };

const seconds = (ms: number) => `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} s`;

/**
 * The node options a worker running this module needs: from a .ts file, tsx's loader (inherited
 * when the process itself runs under tsx, as the local platform does; added under jest, whose own
 * transform does not reach worker threads).
 */
function workerExecArgv(url: URL): string[] {
  const inherited = process.execArgv;
  if (!url.pathname.endsWith('.ts') || inherited.some((arg) => arg.includes('tsx'))) return inherited;
  return [...inherited, '--import', 'tsx'];
}

/**
 * Extracts the document in a fresh worker thread, which is ended at the deadline. A deadline hit,
 * the worker running out of memory, and everything `extractDocument` refuses become an
 * `ExtractionError` with a reason for the admin; anything else (a bug) is thrown as it is.
 */
export function extractInSandbox(
  bytes: Uint8Array,
  type: DocumentType,
  options: SandboxOptions = {},
): Promise<ExtractedDocument> {
  const deadlineMs = options.deadlineMs ?? EXTRACTION_DEADLINE_MS;
  const heapMb = options.heapMb ?? EXTRACTION_HEAP_MB;
  const url = options.workerUrl ?? new URL(import.meta.url);
  // A copy the worker owns: transferred, not copied again, and the caller's bytes stay intact.
  const copy = bytes.slice();
  const job: Job = { role: ROLE, bytes: copy, type, limits: options.limits ?? {} };
  const worker = new Worker(url, {
    workerData: job,
    transferList: [copy.buffer],
    execArgv: workerExecArgv(url),
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
    stdout: false,
    stderr: false,
  });
  return new Promise<ExtractedDocument>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      outcome();
    };
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(
            new ExtractionError(
              `Extraction took longer than ${seconds(deadlineMs)}; the file may be malformed or too complex`,
            ),
          ),
        ),
      deadlineMs,
    );
    worker.on('message', (reply: Reply) =>
      settle(() => {
        try {
          resolve(outcomeOf(reply));
        } catch (error) {
          reject(error);
        }
      }),
    );
    worker.on('error', (error: Error & { code?: string }) =>
      settle(() => reject(workerFailure(error, heapMb))),
    );
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`The extraction worker exited (code ${code}) without an answer`))),
    );
  });
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
  guardAllocations();
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
  parentPort?.postMessage(reply);
}

if (!isMainThread && (workerData as Partial<Job> | null)?.role === ROLE) {
  void serve(workerData as Job);
}
