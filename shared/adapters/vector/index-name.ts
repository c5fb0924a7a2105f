// One index (OpenSearch) or table (LanceDB) per embedding model and dimension, shared by every
// tenant and bot of a deployment: `chunks-<model-slug>-<dimension>`. Chunks embedded by different
// models, or by one model at different dimensions, never share an index, so a vector is only ever
// compared with vectors of the same space.

import { createHash } from 'node:crypto';
import type { Passage } from '../../domain/passage.ts';

const MAX_SLUG = 100;

/** A lowercase slug of a model id that OpenSearch index names and LanceDB table names both accept. */
export function modelSlug(modelId: string): string {
  const slug = modelId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0) throw new Error(`Cannot name an index for the model id ${JSON.stringify(modelId)}`);
  if (slug.length <= MAX_SLUG) return slug;
  // Over-long ids keep a readable prefix and a hash of the whole id, so two of them cannot collide.
  const hash = createHash('sha256').update(modelId).digest('hex').slice(0, 8);
  return `${slug.slice(0, MAX_SLUG - 9).replace(/-+$/, '')}-${hash}`;
}

/** The index or table name for a model and dimension, e.g. `chunks-amazon-titan-embed-text-v2-0-1024`. */
export function chunkIndexName(modelId: string, dimension: number): string {
  if (!Number.isInteger(dimension) || dimension <= 0) {
    throw new Error(`An embedding dimension must be a positive integer, got ${dimension}`);
  }
  return `chunks-${modelSlug(modelId)}-${dimension}`;
}

/** Scales a vector to unit length (a zero vector stays zero), as a fresh array. */
export function normalize(vector: readonly number[]): number[] {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm === 0 || !Number.isFinite(norm)) return Array.from(vector);
  return vector.map((x) => x / norm);
}

/** Throws unless the vector has the index's dimension and only finite numbers. */
export function checkVector(vector: readonly number[], dimension: number, what: string): void {
  if (vector.length !== dimension) {
    throw new Error(`${what} has ${vector.length} dimensions, the index has ${dimension}`);
  }
  for (const x of vector) {
    if (!Number.isFinite(x)) throw new Error(`${what} contains a non-finite number`);
  }
}

/**
 * A stored chunk as an engine returns it: absent title, page, heading and heading path may come
 * back as null (and an absent heading path as an empty list).
 */
export interface StoredChunk {
  readonly documentId: string;
  readonly ordinal: number;
  readonly filename: string;
  readonly title?: string | null;
  readonly text: string;
  readonly page?: number | null;
  readonly heading?: string | null;
  /** Any iterable of strings (an engine may hand back its own list type). */
  readonly headingPath?: Iterable<string> | null;
}

/**
 * The port's candidate from a stored chunk and its score (the cosine for vector candidates, the
 * engine's BM25 score for keyword ones). Nulls and an empty heading path become absent fields.
 */
export function toPassage(chunkId: string, stored: StoredChunk, score: number): Passage {
  const headingPath = stored.headingPath ? Array.from(stored.headingPath) : [];
  return {
    id: chunkId,
    documentId: stored.documentId,
    ordinal: stored.ordinal,
    filename: stored.filename,
    text: stored.text,
    ...(stored.title === null || stored.title === undefined ? {} : { title: stored.title }),
    ...(stored.page === null || stored.page === undefined ? {} : { page: stored.page }),
    ...(stored.heading === null || stored.heading === undefined ? {} : { heading: stored.heading }),
    ...(headingPath.length === 0 ? {} : { headingPath }),
    score,
  };
}
