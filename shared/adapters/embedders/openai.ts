// OpenAI embeddings (`text-embedding-3-small` by default; any OpenAI-compatible server through the
// client's base URL): batched `embeddings.create` calls, retried with backoff and jitter on 429
// and 5xx — honouring `retry-after` — with the SDK's own retries off for these requests, so this
// is the only retry layer.

import OpenAI from 'openai';
import { type Embedder, EmbeddingError } from '../../ports/embedder.ts';
import { parseRetryAfter, type RetryOptions, withRetry } from '../retry.ts';
import { normalize } from '../vector/index-name.ts';
import { clipChars, clipUtf8 } from './text.ts';

export const OPENAI_EMBED_SMALL = 'text-embedding-3-small';
/** The embedding models read at most 8,191 tokens an input. */
const MAX_TOKENS = 8_191;
/** A first cut at three characters a token (English averages about four). */
const MAX_CHARS = MAX_TOKENS * 3;
/** Characters per request: keeps a request well under the API's 300,000 tokens. */
const MAX_REQUEST_CHARS = 600_000;

export interface OpenAIEmbedderOptions {
  readonly client: OpenAI;
  readonly model?: string;
  /** 1536 is text-embedding-3-small's full size; the v3 models can return fewer (`dimensions`). */
  readonly dimension: number;
  /** Inputs per request (default 96; the API takes up to 2048). */
  readonly maxBatch?: number;
  /** Backoff settings (defaults: 6 retries, 500 ms base, 20 s cap, 60 s budget per request). */
  readonly retry?: Partial<Omit<RetryOptions, 'isRetryable' | 'retryAfterMs'>>;
}

export function isRetryableOpenAIError(error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) return true; // includes timeouts
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    return status === 408 || status === 409 || status === 429 || status >= 500;
  }
  return false;
}

function retryAfterOf(error: unknown): number | undefined {
  if (!(error instanceof OpenAI.APIError) || !error.headers) return undefined;
  return parseRetryAfter(error.headers.get('retry-after'), error.headers.get('retry-after-ms'));
}

const isContextTooLong = (error: unknown) =>
  error instanceof OpenAI.APIError &&
  error.status === 400 &&
  /context length|maximum.*tokens|too (long|many tokens)/i.test(error.message);

export function createOpenAIEmbedder(options: OpenAIEmbedderOptions): Embedder {
  const { client, dimension } = options;
  const model = options.model ?? OPENAI_EMBED_SMALL;
  const maxBatch = options.maxBatch ?? 96;
  const retry = { retries: 6, baseMs: 500, maxMs: 20_000, deadlineMs: 60_000, ...options.retry };
  // Only the v3 models take `dimensions`; other (and OpenAI-compatible) models answer at their size.
  const sendDimensions = model.startsWith('text-embedding-3');

  const request = async (input: string[]) => {
    const response = await withRetry(
      () =>
        client.embeddings.create(
          { model, input, ...(sendDimensions ? { dimensions: dimension } : {}) },
          { maxRetries: 0 },
        ),
      { ...retry, isRetryable: isRetryableOpenAIError, retryAfterMs: retryAfterOf },
    );
    const vectors = readVectors(response, input.length, dimension, model);
    const usage = (response as { usage?: { total_tokens?: unknown } }).usage;
    return { vectors, tokens: typeof usage?.total_tokens === 'number' ? usage.total_tokens : 0 };
  };

  const embedBatch = async (texts: string[]) => {
    try {
      return await request(texts);
    } catch (error) {
      // The character cut can still exceed 8,191 tokens (digits, CJK): cut the long inputs to a
      // byte length that cannot, and try once more.
      const shorter = texts.map((t) => clipUtf8(t, MAX_TOKENS));
      if (isContextTooLong(error) && shorter.some((t, i) => t !== texts[i])) return request(shorter);
      throw error;
    }
  };

  return {
    modelId: model,
    dimension,
    maxBatch,
    async embed(texts) {
      if (texts.some((t) => t.trim() === '')) {
        throw new EmbeddingError('Cannot embed an empty text', { retryable: false });
      }
      const inputs = texts.map((t) => clipChars(t, MAX_CHARS));
      const vectors: number[][] = [];
      let tokens = 0;
      try {
        for (const batch of batches(inputs, maxBatch, MAX_REQUEST_CHARS)) {
          const result = await embedBatch(batch);
          vectors.push(...result.vectors);
          tokens += result.tokens;
        }
      } catch (error) {
        if (error instanceof EmbeddingError) throw error;
        if (error instanceof OpenAI.APIError || error instanceof Error) {
          throw new EmbeddingError(`OpenAI ${model} embedding failed: ${error.message}`, {
            retryable: isRetryableOpenAIError(error),
            cause: error,
          });
        }
        throw error;
      }
      return { vectors, tokens };
    },
  };
}

/**
 * The response's vectors in input order, normalised: one `dimension`-long finite vector for each
 * of `count` inputs, or an EmbeddingError (not retryable: the same request would answer the same).
 */
function readVectors(response: unknown, count: number, dimension: number, model: string): number[][] {
  const data = (response as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length !== count) {
    throw new EmbeddingError(
      `OpenAI ${model} answered with ${Array.isArray(data) ? data.length : 'no'} embeddings for ${count} inputs`,
      { retryable: false },
    );
  }
  const vectors = new Array<number[]>(count);
  for (const item of data as { index?: unknown; embedding?: unknown }[]) {
    const index = typeof item?.index === 'number' ? item.index : -1;
    const embedding = item?.embedding;
    const values =
      embedding instanceof Float32Array || Array.isArray(embedding)
        ? Array.from(embedding as ArrayLike<number>)
        : undefined;
    if (
      index < 0 ||
      index >= count ||
      !values ||
      values.length !== dimension ||
      !values.every(Number.isFinite)
    ) {
      throw new EmbeddingError(
        `OpenAI ${model} answered without a ${dimension}-dimensional embedding for input ${index}`,
        { retryable: false },
      );
    }
    vectors[index] = normalize(values);
  }
  if (vectors.some((v) => v === undefined)) {
    throw new EmbeddingError(`OpenAI ${model} left inputs without an embedding`, { retryable: false });
  }
  return vectors;
}

/** Consecutive groups of at most `maxItems` texts and (unless one text alone is longer) `maxChars` characters. */
function* batches(texts: readonly string[], maxItems: number, maxChars: number): Generator<string[]> {
  let batch: string[] = [];
  let chars = 0;
  for (const text of texts) {
    if (batch.length > 0 && (batch.length >= maxItems || chars + text.length > maxChars)) {
      yield batch;
      batch = [];
      chars = 0;
    }
    batch.push(text);
    chars += text.length;
  }
  if (batch.length > 0) yield batch;
}
