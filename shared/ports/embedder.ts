// Turns texts into vectors. The model is a deployment setting (documents are indexed with it),
// not a bot's: every bot of a deployment searches the same index.

export interface Embedding {
  /** One unit-length vector per input text, in input order. */
  readonly vectors: number[][];
  /** Tokens the provider counted (or an estimate where it reports none), for usage records. */
  readonly tokens: number;
}

export interface Embedder {
  /** Names the index: chunks embedded by different models never share one. */
  readonly modelId: string;
  readonly dimension: number;
  /** How many texts one `embed` call should carry at most. */
  readonly maxBatch: number;
  embed(texts: readonly string[]): Promise<Embedding>;
}

/**
 * An embedding call that failed after the adapter's own retries. `retryable` says whether trying
 * the same texts later may succeed (throttling, an outage) or not (the provider refused the input,
 * or its answer made no sense), so a worker can let its queue retry or mark the document failed.
 */
export class EmbeddingError extends Error {
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'EmbeddingError';
    this.retryable = options.retryable;
  }
}
