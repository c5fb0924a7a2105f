// The vector index: one shared index per embedding model and dimension, every chunk tagged with
// its tenant and bot. No method can read without both: the filter is part of every query.

import type { Passage } from '../domain/passage.ts';

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
  /** The document's title (PDF metadata, HTML <title>, first heading…), when it has one. */
  readonly title?: string;
  /** The chunk's own text, as citations and prompts show it. */
  readonly text: string;
  readonly page?: number;
  /** The nearest heading above the chunk (the last entry of `headingPath`). */
  readonly heading?: string;
  /** The headings above the chunk, outermost first. */
  readonly headingPath?: readonly string[];
  /** The embedding of `searchableText(chunk)`: title › heading path, then the text. */
  readonly vector: readonly number[];
}

/** What to look for: a vector, a text, or both (hybrid). Each list is ranked on its own. */
export interface CandidateQuery {
  /** The query's embedding: nearest chunks with a cosine of at least `minScore`. */
  readonly vector?: readonly number[];
  /** The query's words: BM25 over the chunk's text, title, heading path and filename. */
  readonly text?: string;
  /** How many candidates each list returns at most. */
  readonly k: number;
  /** The cosine gate for vector candidates (keyword candidates pass on their own rank). */
  readonly minScore: number;
}

/**
 * Each list best first; a list not asked for is empty. A candidate's `score` is the cosine in a
 * vector list, the engine's BM25 score in a keyword list; it carries no retrieval fields.
 */
export interface Candidates {
  readonly vector: Passage[];
  readonly keyword: Passage[];
  /**
   * For a query with both a vector and a text, when the engine can tell at no extra round trip
   * (LanceDB does; absent otherwise): each keyword hit's cosine with the vector, in list order.
   * Lets fusion weigh every candidate by meaning, not only those the vector list returned.
   */
  readonly keywordSimilarity?: readonly number[];
}

export interface VectorIndex {
  /** Inserts or replaces chunks by id. */
  upsert(chunks: readonly IndexedChunk[]): Promise<void>;
  /**
   * Candidates from this tenant's bot only, in one round trip where the engine allows: the
   * nearest chunks to `vector` and the best BM25 matches for `text`. Fusion is the caller's
   * (the retrieval use-case), so every engine ranks alike.
   */
  candidates(scope: IndexScope, query: CandidateQuery): Promise<Candidates>;
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

/** The line that tells a chunk where it sits: `title › heading › subheading` (may be empty). */
export function contextLine(chunk: Pick<IndexedChunk, 'title' | 'headingPath' | 'heading'>): string {
  const path = chunk.headingPath?.length ? chunk.headingPath : chunk.heading ? [chunk.heading] : [];
  const parts = [chunk.title, ...path].map((part) => part?.trim()).filter((part): part is string => !!part);
  // A title that is also the first heading is said once.
  const unique = parts.filter((part, i) => i === 0 || part !== parts[i - 1]);
  return unique.join(' › ');
}

/** What is embedded and keyword-indexed for a chunk: its context line, then its text. */
export function searchableText(
  chunk: Pick<IndexedChunk, 'title' | 'headingPath' | 'heading' | 'text'>,
): string {
  const context = contextLine(chunk);
  return context ? `${context}\n\n${chunk.text}` : chunk.text;
}
