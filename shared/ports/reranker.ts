// Reorders retrieved texts by their relevance to a query with a cross-encoder (a model that reads
// the query and each text together), after the index's vector and keyword candidates are fused.
// The model is a deployment setting; whether a bot's retrieval reranks is the bot's.

export interface RerankOptions {
  /** How many results to return at most (fewer when fewer texts were given). */
  readonly topN: number;
  /** Cancels the call (retries and backoff waits included). */
  readonly signal?: AbortSignal;
}

export interface RerankedDocument {
  /** Position of the text in the `documents` given to `rerank`. */
  readonly index: number;
  /** The model's relevance of the text to the query, in [0, 1] (higher is more relevant). */
  readonly score: number;
}

export interface Reranker {
  /** The reranking model, e.g. `cohere.rerank-v3-5:0`. */
  readonly modelId: string;
  /**
   * The `topN` most relevant of `documents`, best first, each named by its index into
   * `documents`. Blank texts are never sent and never returned; an empty list answers `[]`.
   */
  rerank(query: string, documents: readonly string[], options: RerankOptions): Promise<RerankedDocument[]>;
}

/**
 * A rerank call that failed after the adapter's own retries (or was cancelled). `retryable` says
 * whether the same call later may succeed (throttling, an outage, a timeout) or not (the provider
 * refused the input, the model or the caller's access, or answered with something that makes no
 * sense). Either way a retrieval can go on with the order it had. The message names the model and
 * the provider's error type, never the query, the texts or a credential.
 */
export class RerankError extends Error {
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'RerankError';
    this.retryable = options.retryable;
  }
}
