// Reranking through Amazon Bedrock's Rerank API (Agents for Amazon Bedrock runtime, `POST /rerank`):
// one call per `rerank` with the query and the texts inline, the model named by its foundation-model
// ARN. The SDK's own retries are off (`createBedrockAgentRuntimeClient` sets `maxAttempts: 1`):
// `withRetry` retries throttling, 5xx, timeouts and dropped connections with capped backoff and
// full jitter (honouring `retry-after`), each attempt with its own timeout, all inside a deadline.
//
// Models and regions (Bedrock user guide, "Supported Regions and models for reranking"):
//   amazon.rerank-v1:0    ap-northeast-1, ca-central-1, eu-central-1, us-west-2 (not us-east-1)
//   cohere.rerank-v3-5:0  ap-northeast-1, ca-central-1, eu-central-1, us-east-1, us-west-2
// The caller needs `bedrock:Rerank` (no resource-level permissions: Resource "*") and
// `bedrock:InvokeModel` on the model's foundation-model ARN.
//
// Input limits: the API takes 1 to 1,000 sources and 1 to 32,000 characters per text (the query
// too). Cohere Rerank 3.5 reads 4,096 tokens of query and document together and splits a longer
// document into several inferences; so the query is cut to 4,000 characters and each document to
// 12,000 (about 1,000 and 3,000 tokens of English), far inside the API's limit and close to one
// inference per document. Only the first 1,000 non-blank documents are sent (the caller's order is
// its best guess, so the tail is what goes).

import {
  BedrockAgentRuntimeClient,
  type BedrockAgentRuntimeClientConfig,
  RerankCommand,
  type RerankCommandInput,
  type RerankCommandOutput,
} from '@aws-sdk/client-bedrock-agent-runtime';
import {
  RerankError,
  type RerankedDocument,
  type Reranker,
  type RerankOptions,
} from '../../ports/reranker.ts';
import { traced } from '../../tracing.ts';
import { BEDROCK_REFUSALS } from '../bedrock-errors.ts';
import { AttemptTimeoutError, isConnectionError } from '../chat/errors.ts';
import { clipChars } from '../embedders/text.ts';
import { parseRetryAfter, withRetry } from '../retry.ts';

export const COHERE_RERANK_V3_5 = 'cohere.rerank-v3-5:0';
export const AMAZON_RERANK_V1 = 'amazon.rerank-v1:0';

/** The API's limit on sources per call. */
export const MAX_RERANK_DOCUMENTS = 1_000;
/** What this adapter sends of each document and of the query, in UTF-16 code units. */
export const MAX_RERANK_DOCUMENT_CHARS = 12_000;
export const MAX_RERANK_QUERY_CHARS = 4_000;

export interface BedrockRerankerOptions {
  /** Build it with `createBedrockAgentRuntimeClient` (SDK retries off: this adapter retries itself). */
  readonly client: BedrockAgentRuntimeClient;
  /** A Bedrock reranking model id (default `cohere.rerank-v3-5:0`). */
  readonly modelId?: string;
  /** The region in the model's ARN (default: the client's region). */
  readonly region?: string;
  /** Total time for a call, retries and waits included (default 4 s: it runs before the chat model). */
  readonly deadlineMs?: number;
  /** Longest single attempt (default 2 s). */
  readonly attemptTimeoutMs?: number;
  /** Most retries after the first attempt (default 3; the deadline usually binds first). */
  readonly retries?: number;
  /** The first backoff's upper bound (default 100 ms); it doubles up to `maxMs` (default 1 s). */
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** Called before each retry's wait (to log or count retries). */
  readonly onRetry?: (info: { modelId: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

/** A Bedrock Agent Runtime client whose own retries are off, so `withRetry` is the only retry layer. */
export function createBedrockAgentRuntimeClient(
  config: BedrockAgentRuntimeClientConfig = {},
): BedrockAgentRuntimeClient {
  return traced(new BedrockAgentRuntimeClient({ maxAttempts: 1, ...config }));
}

/** The ARN the Rerank API wants for a foundation model: `arn:<partition>:bedrock:<region>::foundation-model/<id>`. */
export function rerankModelArn(region: string, modelId: string): string {
  const partition = region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return `arn:${partition}:bedrock:${region}::foundation-model/${modelId}`;
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** Worth another try: the service or the model, not the call, failed. */
const RETRYABLE = new Set([
  'ThrottlingException',
  'InternalServerException',
  'BadGatewayException',
  'DependencyFailedException',
  'ServiceUnavailableException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AttemptTimeoutError',
]);

/** Throttling, 5xx, timeouts and dropped connections are worth another try; a refused call is not. */
export function isRetryableRerankError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { name, $metadata } = error as SdkError;
  if (name && BEDROCK_REFUSALS.has(name)) return false;
  if (name && RETRYABLE.has(name)) return true;
  const status = $metadata?.httpStatusCode;
  if (status !== undefined) return status === 429 || status >= 500;
  return isConnectionError(error);
}

const DEFAULTS = { deadlineMs: 4_000, attemptTimeoutMs: 2_000, retries: 3, baseMs: 100, maxMs: 1_000 };
/** A retry is not worth starting with less time than this left in the budget. */
const MIN_ATTEMPT_MS = 100;

/** One reranker's client, model and retry settings, which the functions below share. */
interface BedrockRerank {
  readonly client: BedrockAgentRuntimeClient;
  readonly modelId: string;
  readonly settings: typeof DEFAULTS;
  readonly options: BedrockRerankerOptions;
  /** The model's ARN, from the client's region (resolved once: it may come from the environment or a profile). */
  readonly modelArn: () => Promise<string>;
}

export function createBedrockReranker(options: BedrockRerankerOptions): Reranker {
  const { client } = options;
  const modelId = options.modelId ?? COHERE_RERANK_V3_5;
  let arn: Promise<string> | undefined;
  const reranker: BedrockRerank = {
    client,
    modelId,
    options,
    settings: {
      deadlineMs: options.deadlineMs ?? DEFAULTS.deadlineMs,
      attemptTimeoutMs: options.attemptTimeoutMs ?? DEFAULTS.attemptTimeoutMs,
      retries: options.retries ?? DEFAULTS.retries,
      baseMs: options.baseMs ?? DEFAULTS.baseMs,
      maxMs: options.maxMs ?? DEFAULTS.maxMs,
    },
    modelArn: () => {
      if (!arn) {
        arn = (async () => rerankModelArn(options.region ?? (await client.config.region()), modelId))();
        arn.catch(() => {
          arn = undefined;
        });
      }
      return arn;
    },
  };
  return {
    modelId,
    rerank: (query, documents, rerankOptions) => rerank(reranker, query, documents, rerankOptions),
  };
}

async function rerank(
  reranker: BedrockRerank,
  query: string,
  documents: readonly string[],
  { topN, signal }: RerankOptions,
): Promise<RerankedDocument[]> {
  const { modelId } = reranker;
  if (!Number.isInteger(topN) || topN < 1) {
    throw new RerankError(`topN must be a positive whole number, not ${topN}`, { retryable: false });
  }
  if (query.trim() === '') {
    throw new RerankError('Cannot rerank for an empty query', { retryable: false });
  }
  // Blank texts cannot be sent (the API wants at least one character); `sent[i]` is the
  // caller's index of the i-th source sent.
  const sent: number[] = [];
  for (let i = 0; i < documents.length && sent.length < MAX_RERANK_DOCUMENTS; i++) {
    if ((documents[i] ?? '').trim() !== '') sent.push(i);
  }
  if (sent.length === 0) return [];
  const numberOfResults = Math.min(topN, sent.length);
  const input: RerankCommandInput = {
    queries: [{ type: 'TEXT', textQuery: { text: clipChars(query, MAX_RERANK_QUERY_CHARS) } }],
    sources: sent.map((i) => ({
      type: 'INLINE',
      inlineDocumentSource: {
        type: 'TEXT',
        textDocument: { text: clipChars(documents[i] ?? '', MAX_RERANK_DOCUMENT_CHARS) },
      },
    })),
    rerankingConfiguration: {
      type: 'BEDROCK_RERANKING_MODEL',
      bedrockRerankingConfiguration: {
        numberOfResults,
        modelConfiguration: {
          modelArn: await reranker.modelArn().catch((cause: unknown) => {
            throw new RerankError(`Bedrock rerank ${modelId}: no region for the model's ARN`, {
              retryable: false,
              cause,
            });
          }),
        },
      },
    },
  };
  const { output, attempts } = await send(reranker, input, signal);
  return readResults(output, sent, numberOfResults, modelId, attempts);
}

/** The call with retries inside the deadline; a failure escapes as a RerankError. */
async function send(
  { client, modelId, settings, options }: BedrockRerank,
  input: RerankCommandInput,
  signal?: AbortSignal,
) {
  const started = Date.now();
  const left = () => settings.deadlineMs - (Date.now() - started);
  const minAttemptMs = Math.min(MIN_ATTEMPT_MS, settings.attemptTimeoutMs);
  let attempts = 0;
  try {
    const output = await withRetry(
      async () => {
        if (signal?.aborted) throw signal.reason;
        attempts++;
        const budgetMs = Math.max(minAttemptMs, Math.min(settings.attemptTimeoutMs, left()));
        return attempt(client, input, budgetMs, signal);
      },
      {
        retries: settings.retries,
        baseMs: settings.baseMs,
        maxMs: settings.maxMs,
        deadlineMs: settings.deadlineMs,
        random: options.random,
        signal,
        isRetryable: (error) => !signal?.aborted && isRetryableRerankError(error) && left() >= minAttemptMs,
        retryAfterMs: (error) => {
          const headers = (error as SdkError)?.$response?.headers ?? {};
          return parseRetryAfter(headers['retry-after'], headers['retry-after-ms']);
        },
        onRetry: options.onRetry ? (info) => options.onRetry?.({ modelId, ...info }) : undefined,
      },
    );
    return { output, attempts };
  } catch (error) {
    throw failure(error, modelId, attempts, signal);
  }
}

/** One Rerank call that gives up after `budgetMs` (an `AttemptTimeoutError`) or when the caller aborts. */
async function attempt(
  client: BedrockAgentRuntimeClient,
  input: RerankCommandInput,
  budgetMs: number,
  caller?: AbortSignal,
): Promise<RerankCommandOutput> {
  const controller = new AbortController();
  const { signal } = controller;
  const onCallerAbort = () => controller.abort(caller?.reason);
  caller?.addEventListener('abort', onCallerAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new AttemptTimeoutError(budgetMs, 'rerank answer')),
    budgetMs,
  );
  let onAbort: (() => void) | undefined;
  try {
    // The race makes sure neither a timeout nor an abort waits for the SDK to notice it.
    return await new Promise<RerankCommandOutput>((resolve, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      client.send(new RerankCommand(input), { abortSignal: signal }).then(resolve, reject);
    });
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onCallerAbort);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** The answer's results as the port's, best first; anything that does not read as one is malformed. */
function readResults(
  output: RerankCommandOutput,
  sent: readonly number[],
  numberOfResults: number,
  modelId: string,
  attempts: number,
): RerankedDocument[] {
  const malformed = (what: string) =>
    new RerankError(`Bedrock rerank ${modelId}: the answer ${what} (${tries(attempts)})`, {
      retryable: false,
    });
  const { results } = output;
  if (!Array.isArray(results)) throw malformed('had no results');
  const seen = new Set<number>();
  const ranked: RerankedDocument[] = [];
  for (const result of results) {
    const { index, relevanceScore } = result ?? {};
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= sent.length) {
      throw malformed('named a document that was not sent');
    }
    if (seen.has(index)) throw malformed('named a document twice');
    if (typeof relevanceScore !== 'number' || !Number.isFinite(relevanceScore)) {
      throw malformed('had a result without a relevance score');
    }
    seen.add(index);
    ranked.push({ index: sent[index] as number, score: Math.min(1, Math.max(0, relevanceScore)) });
  }
  // Stable: equal scores keep the service's order.
  return ranked.sort((a, b) => b.score - a.score).slice(0, numberOfResults);
}

const tries = (attempts: number) => `${attempts} attempt${attempts === 1 ? '' : 's'}`;

/**
 * The port's error for a call that got no answer. The message names the error's type and HTTP
 * status only: the service's own message may quote the input (validation errors do), so it stays
 * in `cause`.
 */
function failure(error: unknown, modelId: string, attempts: number, signal?: AbortSignal): RerankError {
  if (error instanceof RerankError) return error;
  if (signal?.aborted && error === signal.reason) {
    return new RerankError(`Bedrock rerank ${modelId}: cancelled by the caller`, {
      retryable: false,
      cause: error,
    });
  }
  const { name, $metadata } = (error ?? {}) as SdkError;
  const status = $metadata?.httpStatusCode;
  const what =
    error instanceof AttemptTimeoutError
      ? `no answer within ${error.timeoutMs} ms`
      : status !== undefined && status >= 200 && status < 300
        ? `an answer that could not be read (HTTP ${status})`
        : `${name && name !== 'Error' ? name : 'error'}${status !== undefined ? ` (HTTP ${status})` : ''}`;
  return new RerankError(`Bedrock rerank ${modelId} failed: ${what} after ${tries(attempts)}`, {
    retryable: isRetryableRerankError(error),
    cause: error,
  });
}
