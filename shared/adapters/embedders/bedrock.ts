// Titan Text Embeddings v2 on Amazon Bedrock: one InvokeModel call per text (the model takes a
// single `inputText`), up to `concurrency` calls in flight, each retried with backoff and jitter
// on throttling and server errors. Titan normalises the vectors itself (`normalize: true`) and
// reports the tokens it read (`inputTextTokenCount`).

import {
  BedrockRuntimeClient,
  type BedrockRuntimeClientConfig,
  InvokeModelCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { type Embedder, EmbeddingError } from '../../ports/embedder.ts';
import { traced } from '../../tracing.ts';
import { mapWithConcurrency, type RetryOptions, withRetry } from '../retry.ts';
import { normalize } from '../vector/index-name.ts';
import { clipChars, clipUtf8 } from './text.ts';

export const TITAN_EMBED_V2 = 'amazon.titan-embed-text-v2:0';
/** Titan v2 reads at most 8,192 tokens and 50,000 characters. */
const MAX_CHARS = 50_000;
const MAX_TOKENS = 8_192;

export interface BedrockEmbedderOptions {
  /** Build it with `createBedrockRuntimeClient` (SDK retries off: this adapter retries itself). */
  readonly client: BedrockRuntimeClient;
  readonly modelId?: string;
  /** Titan v2 answers in 1024, 512 or 256 dimensions. */
  readonly dimension: number;
  /** InvokeModel calls in flight at once (default 8). */
  readonly concurrency?: number;
  /** Texts per `embed` call that the caller should send (default 64). */
  readonly maxBatch?: number;
  /** Backoff settings (defaults: 6 retries, 250 ms base, 8 s cap, 60 s budget per text). */
  readonly retry?: Partial<Omit<RetryOptions, 'isRetryable'>>;
}

/** A Bedrock runtime client whose own retries are off, so `withRetry` is the only retry layer. */
export function createBedrockRuntimeClient(config: BedrockRuntimeClientConfig = {}): BedrockRuntimeClient {
  return traced(new BedrockRuntimeClient({ maxAttempts: 1, ...config }));
}

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'TimeoutError',
  'RequestTimeout',
]);

/** Throttling, 5xx, timeouts and dropped connections are worth another try; a refused input is not. */
export function isRetryableBedrockError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as SdkError;
  if (e.name === 'ValidationException' || e.name === 'AccessDeniedException') return false;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status === 429 || status >= 500;
  // No HTTP status at all: the request never got an answer (reset, refused, DNS).
  const code = (error as { code?: string }).code;
  return (
    code !== undefined && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_SOCKET)$/.test(code)
  );
}

const isInputTooLong = (error: unknown) =>
  error instanceof Error &&
  (error as SdkError).name === 'ValidationException' &&
  /token|too long|length|characters/i.test(error.message);

/** Titan's answer: a `dimension`-long finite vector (normalised again) and the tokens it read. */
function readEmbedding(
  body: Uint8Array | undefined,
  modelId: string,
  dimension: number,
): { vector: number[]; tokens: number } {
  let parsed: { embedding?: unknown; inputTextTokenCount?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (cause) {
    throw new EmbeddingError(`Bedrock ${modelId} answered with a body that is not JSON`, {
      retryable: false,
      cause,
    });
  }
  const { embedding, inputTextTokenCount } = parsed;
  if (
    !Array.isArray(embedding) ||
    embedding.length !== dimension ||
    !embedding.every((x) => typeof x === 'number' && Number.isFinite(x))
  ) {
    throw new EmbeddingError(`Bedrock ${modelId} answered without a ${dimension}-dimensional embedding`, {
      retryable: false,
    });
  }
  return {
    vector: normalize(embedding as number[]),
    tokens: typeof inputTextTokenCount === 'number' ? inputTextTokenCount : 0,
  };
}

export const TITAN_V2_DIMENSIONS: readonly number[] = [1024, 512, 256];

export function createBedrockEmbedder(options: BedrockEmbedderOptions): Embedder {
  const { client, dimension } = options;
  if (!TITAN_V2_DIMENSIONS.includes(dimension)) {
    throw new Error(`Titan Text Embeddings v2 answers in 1024, 512 or 256 dimensions, not ${dimension}`);
  }
  const modelId = options.modelId ?? TITAN_EMBED_V2;
  const concurrency = options.concurrency ?? 8;
  const retry = { retries: 6, baseMs: 250, maxMs: 8_000, deadlineMs: 60_000, ...options.retry };

  const invoke = async (inputText: string) => {
    const response = await withRetry(
      () =>
        client.send(
          new InvokeModelCommand({
            modelId,
            contentType: 'application/json',
            accept: 'application/json',
            body: JSON.stringify({ inputText, dimensions: dimension, normalize: true }),
          }),
        ),
      { ...retry, isRetryable: isRetryableBedrockError },
    );
    return readEmbedding(response.body, modelId, dimension);
  };

  const embedOne = async (text: string) => {
    if (text.trim() === '') throw new EmbeddingError('Cannot embed an empty text', { retryable: false });
    const input = clipChars(text, MAX_CHARS);
    try {
      return await invoke(input);
    } catch (error) {
      // 50,000 characters can still be more than 8,192 tokens (digits, CJK): cut to a length
      // that cannot be, and try once more.
      const shorter = clipUtf8(input, MAX_TOKENS);
      if (isInputTooLong(error) && shorter.length < input.length) return invoke(shorter);
      throw error;
    }
  };

  return {
    modelId,
    dimension,
    maxBatch: options.maxBatch ?? 64,
    async embed(texts) {
      try {
        const results = await mapWithConcurrency(texts, concurrency, embedOne);
        return {
          vectors: results.map((r) => r.vector),
          tokens: results.reduce((sum, r) => sum + r.tokens, 0),
        };
      } catch (error) {
        if (error instanceof EmbeddingError) throw error;
        const name = (error as SdkError)?.name ?? 'Error';
        throw new EmbeddingError(
          `Bedrock ${modelId} embedding failed: ${name}: ${(error as Error)?.message}`,
          {
            retryable: isRetryableBedrockError(error),
            cause: error,
          },
        );
      }
    },
  };
}
