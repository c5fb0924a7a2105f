// What the hosted chat adapters (Bedrock, OpenAI) share: retries with backoff and jitter inside a
// total budget, a timeout on every attempt, and the streaming rules. A provider only says how to
// make one request (buffered or streamed) and which of its errors are refusals; this module
// decides when to try again and turns every failure into `ChatModelUnavailableError`.
//
// Timing:
// - `complete`: each attempt gets min(attemptTimeoutMs, what is left of deadlineMs); retries wait
//   with full jitter (or as long as the provider's `retry-after` asks) and none starts that would
//   end after the deadline. So a buffered call ends within about `deadlineMs` (default 25 s, under
//   API Gateway's 29 s).
// - `stream`: the same, until the first text arrives. After that nothing is retried (the client
//   has part of the answer): a silence longer than `idleTimeoutMs`, an error, or a stream that ends
//   without the provider's final events ends the stream with `partial: true`.
// Every wait is a race against an AbortSignal that is also handed to the SDK, so a request whose
// SDK ignores the abort still cannot hold the caller.

import type {
  ChatModel,
  ChatProvider,
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
} from '../../ports/chat-model.ts';
import { withRetry } from '../retry.ts';
import { AttemptTimeoutError, StreamCutError, unavailable } from './errors.ts';

export interface HostedChatOptions {
  /** Total time for a buffered answer, retries included; for a stream, until its first text (default 25 s). */
  readonly deadlineMs?: number;
  /** Longest single attempt (for a stream: until its first text) (default 12 s). */
  readonly attemptTimeoutMs?: number;
  /** Longest silence between a stream's events once text has arrived (default 20 s). */
  readonly idleTimeoutMs?: number;
  /** Most retries after the first attempt (default 6; the deadline usually binds first). */
  readonly retries?: number;
  /** The first backoff's upper bound (default 250 ms); it doubles up to `maxMs` (default 4 s). */
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** Called before each retry's wait (to log or count retries). */
  readonly onRetry?: (info: {
    provider: ChatProvider;
    modelId: string;
    attempt: number;
    delayMs: number;
    error: unknown;
  }) => void;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

/** One provider's requests, without retries: the hosted model calls these once per attempt. */
export interface ChatProviderDriver {
  readonly provider: Exclude<ChatProvider, 'local'>;
  /** One buffered request. */
  complete(request: ChatRequest, signal: AbortSignal): Promise<ChatResult>;
  /**
   * One streamed request: its text as `delta` events, then `done` only if the provider finished
   * the answer (ending without `done` means the stream was cut).
   */
  stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatStreamEvent>;
  /** The provider refused this request for good (a bad model id, input, key): no retry. */
  isRejection(error: unknown): boolean;
  /** How long the provider asked to wait (`retry-after`), if it did. */
  retryAfterMs?(error: unknown): number | undefined;
}

const DEFAULTS = {
  deadlineMs: 25_000,
  attemptTimeoutMs: 12_000,
  idleTimeoutMs: 20_000,
  retries: 6,
  baseMs: 250,
  maxMs: 4_000,
};

/** A retry is not worth starting with less time than this left in the budget. */
const MIN_ATTEMPT_MS = 250;

export function createHostedChatModel(
  driver: ChatProviderDriver,
  options: HostedChatOptions = {},
): ChatModel {
  const hosted: Hosted = { driver, settings: { ...DEFAULTS, ...options } };
  return {
    provider: driver.provider,
    complete: (request) => complete(hosted, request),
    stream: (request) => stream(hosted, request),
  };
}

/** One model's driver and settings, which the functions below share. */
interface Hosted {
  readonly driver: ChatProviderDriver;
  readonly settings: typeof DEFAULTS & HostedChatOptions;
}

/** Runs `attempt` with retries inside the budget; the last error escapes as it was. */
function retrying<T>(
  { driver, settings }: Hosted,
  request: ChatRequest,
  run: (attempt: Attempt, budgetMs: number) => Promise<T>,
  counter: { attempts: number },
): Promise<T> {
  const started = Date.now();
  const left = () => settings.deadlineMs - (Date.now() - started);
  const minAttemptMs = Math.min(MIN_ATTEMPT_MS, settings.attemptTimeoutMs);
  return withRetry(
    async () => {
      if (request.signal?.aborted) throw request.signal.reason;
      counter.attempts++;
      const budgetMs = Math.max(minAttemptMs, Math.min(settings.attemptTimeoutMs, left()));
      return run(new Attempt(request.signal), budgetMs);
    },
    {
      retries: settings.retries,
      baseMs: settings.baseMs,
      maxMs: settings.maxMs,
      deadlineMs: settings.deadlineMs,
      random: settings.random,
      signal: request.signal,
      isRetryable: (error) =>
        !request.signal?.aborted && !driver.isRejection(error) && left() >= minAttemptMs,
      retryAfterMs: driver.retryAfterMs ? (error) => driver.retryAfterMs?.(error) : undefined,
      onRetry: settings.onRetry
        ? (info) => settings.onRetry?.({ provider: driver.provider, modelId: request.modelId, ...info })
        : undefined,
    },
  );
}

const failure = (
  { driver }: Hosted,
  error: unknown,
  request: ChatRequest,
  attempts: number,
  partial: boolean,
) =>
  unavailable(error, {
    provider: driver.provider,
    modelId: request.modelId,
    attempts,
    partial,
    signal: request.signal,
    isRejection: (e) => driver.isRejection(e),
  });

async function complete(hosted: Hosted, request: ChatRequest): Promise<ChatResult> {
  const counter = { attempts: 0 };
  try {
    return await retrying(
      hosted,
      request,
      async (attempt, budgetMs) => {
        attempt.arm(budgetMs, 'answer');
        try {
          return await attempt.race(hosted.driver.complete(request, attempt.signal));
        } finally {
          attempt.dispose();
        }
      },
      counter,
    );
  } catch (error) {
    throw failure(hosted, error, request, counter.attempts, false);
  }
}

/** A stream that has produced its first event, with the attempt that holds it open. */
interface OpenStream {
  attempt: Attempt;
  iterator: AsyncIterator<ChatStreamEvent>;
  first: ChatStreamEvent;
}

/** Until the first text, a failed attempt is closed and tried again. */
const openStream = (hosted: Hosted, request: ChatRequest, counter: { attempts: number }) =>
  retrying(
    hosted,
    request,
    async (attempt, budgetMs): Promise<OpenStream> => {
      attempt.arm(budgetMs, 'text');
      let iterator: AsyncIterator<ChatStreamEvent> | undefined;
      try {
        iterator = hosted.driver.stream(request, attempt.signal)[Symbol.asyncIterator]();
        const next = await attempt.race(iterator.next());
        if (next.done) throw new StreamCutError('the stream ended before any text');
        attempt.disarm();
        return { attempt, iterator, first: next.value };
      } catch (error) {
        attempt.close(iterator);
        throw error;
      }
    },
    counter,
  );

async function* stream(hosted: Hosted, request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
  const counter = { attempts: 0 };
  let yielded = false;
  let open: OpenStream | undefined;
  let finished = false;
  try {
    open = await openStream(hosted, request, counter);
    const { attempt, iterator } = open;
    let event = open.first;
    for (;;) {
      if (event.type === 'done') {
        finished = true;
        yield event;
        return;
      }
      if (event.text !== '') {
        yielded = true;
        yield event;
      }
      attempt.arm(hosted.settings.idleTimeoutMs, 'stream event');
      const next = await attempt.race(iterator.next());
      attempt.disarm();
      if (next.done) throw new StreamCutError();
      event = next.value;
    }
  } catch (error) {
    throw failure(hosted, error, request, counter.attempts, yielded);
  } finally {
    // Also reached when the consumer stops early: cancel the provider's request.
    if (open) {
      if (finished) open.attempt.dispose();
      else open.attempt.close(open.iterator);
    }
  }
}

/** One attempt's AbortSignal: aborted by its timer, by the caller's signal, or when closed. */
class Attempt {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly unlink: () => void;

  constructor(caller?: AbortSignal) {
    if (!caller) {
      this.unlink = () => {};
      return;
    }
    const onAbort = () => this.controller.abort(caller.reason);
    if (caller.aborted) onAbort();
    else caller.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => caller.removeEventListener('abort', onAbort);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts the attempt with an `AttemptTimeoutError` unless disarmed within `ms`. */
  arm(ms: number, waitingFor: string): void {
    this.disarm();
    this.timer = setTimeout(() => this.controller.abort(new AttemptTimeoutError(ms, waitingFor)), ms);
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Settles like `promise`, or rejects with the abort reason as soon as the attempt aborts. */
  race<T>(promise: Promise<T>): Promise<T> {
    const { signal } = this;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(signal.aborted ? signal.reason : error);
        },
      );
    });
  }

  /** Cancels the provider's request and its stream (without waiting for either). */
  close(iterator?: AsyncIterator<unknown>): void {
    this.dispose();
    if (!this.controller.signal.aborted) this.controller.abort();
    iterator?.return?.().catch(() => {});
  }

  dispose(): void {
    this.disarm();
    this.unlink();
  }
}
