// A passage: one chunk of a bot's knowledge on its way from the index to an answer. The index
// returns it as a candidate (its own score), retrieval fuses, gates and maybe reranks it (the
// fused or reranked score, its ranks, its cosine, whether it may be cited), the prompt shows it,
// the answer cites it and an evaluation judges it. One type for every stage: the fields a stage
// adds are optional, and a consumer that needs fewer fields takes a `Pick` of it.

/** Where a passage ranked (1-based) in each list it came from. */
export interface PassageRanks {
  readonly vector?: number;
  readonly keyword?: number;
  readonly rerank?: number;
}

export interface Passage {
  /** The chunk id (`<documentId>:<ordinal>`). */
  readonly id: string;
  readonly documentId: string;
  /** The chunk's position in its document. */
  readonly ordinal: number;
  readonly filename: string;
  /** The document's title (PDF metadata, HTML <title>, first heading…), when it has one. */
  readonly title?: string;
  readonly page?: number;
  /** The nearest heading above the chunk (the last entry of `headingPath`). */
  readonly heading?: string;
  /** The headings above the chunk, outermost first. */
  readonly headingPath?: readonly string[];
  /** The chunk's own text, as citations and prompts show it. */
  readonly text: string;
  /**
   * Higher is better. From the index: a vector candidate's cosine in [-1, 1] (whatever the engine,
   * so a bot's `minScore` means the same everywhere), a keyword candidate's BM25 score (which only
   * orders its own list). After retrieval: the fused score, or the reranker's relevance.
   */
  readonly score: number;
  /** Retrieval: where it ranked in the vector, keyword and rerank lists. */
  readonly ranks?: PassageRanks;
  /** Retrieval: its cosine with the query, when known. */
  readonly similarity?: number;
  /** Retrieval: whether it passed the relevance gate (only passing candidates may be cited). */
  readonly relevant?: boolean;
}
