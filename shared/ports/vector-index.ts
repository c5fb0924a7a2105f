// The vector index: one shared index per embedding model and dimension, every chunk tagged with
// its tenant and bot. No method can read without both: the filter is part of every query.

export interface IndexScope {
  readonly tenantId: string;
  readonly botId: string;
}

export interface IndexedChunk extends IndexScope {
  /** Deterministic (`<documentId>:<ordinal>`): writing a chunk twice replaces it. */
  readonly id: string;
  readonly documentId: string;
  readonly ordinal: number;
  readonly filename: string;
  readonly text: string;
  readonly page?: number;
  readonly heading?: string;
  readonly vector: readonly number[];
}

export interface SearchHit {
  readonly chunkId: string;
  readonly documentId: string;
  readonly ordinal: number;
  readonly filename: string;
  readonly text: string;
  readonly page?: number;
  readonly heading?: string;
  /** Cosine similarity in [-1, 1], whatever the engine: a bot's `minScore` means the same everywhere. */
  readonly score: number;
}

export interface VectorIndex {
  /** Inserts or replaces chunks by id. */
  upsert(chunks: readonly IndexedChunk[]): Promise<void>;
  /** The `topK` nearest chunks of this tenant's bot with a score of at least `minScore`, best first. */
  search(
    scope: IndexScope,
    vector: readonly number[],
    options: { topK: number; minScore: number },
  ): Promise<SearchHit[]>;
  /** How many chunks of a document are indexed (for checks and tests). */
  countDocument(scope: IndexScope, documentId: string): Promise<number>;
  deleteDocument(scope: IndexScope, documentId: string): Promise<void>;
  deleteBot(scope: IndexScope): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
  /** Throws when the index cannot be reached (for /health). */
  ping(): Promise<void>;
}

/** The chunk id for a document's n-th chunk: the same on every delivery of the same batch. */
export const chunkId = (documentId: string, ordinal: number) => `${documentId}:${ordinal}`;
