// Retries with capped exponential backoff and full jitter, for throttled or failing providers.
// Shared by the hosted embedders and the chat model adapters: the caller says which errors are
// worth another try and, where the provider says so (`retry-after`), how long to wait.

export interface RetryOptions {
  /** Retries after the first attempt (so at most `retries + 1` attempts). */
  readonly retries: number;
  /** The first backoff's upper bound; each later one doubles, up to `maxMs`. */
  readonly baseMs: number;
  /** The largest backoff drawn from the jitter (a provider's `retry-after` may ask for more). */
  readonly maxMs: number;
  /**
   * A time budget in milliseconds from the first attempt: no retry starts whose wait would end
   * after it (the last error is thrown instead). Unbounded when absent.
   */
  readonly deadlineMs?: number;
  /** Whether this error is worth another attempt (throttling, 5xx, a dropped connection). */
  readonly isRetryable: (error: unknown) => boolean;
  /** How long the provider asked to wait before the next attempt (e.g. from `retry-after`). */
  readonly retryAfterMs?: (error: unknown) => number | undefined;
  /** Called before each wait, e.g. to log or count retries. */
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Aborts the waiting (and is passed to `fn`). */
  readonly signal?: AbortSignal;
  /** For tests: the randomness of the jitter (default `Math.random`). */
  readonly random?: () => number;
  /** For tests: the clock (default `Date.now`). */
  readonly now?: () => number;
}

/** The backoff before retry number `attempt` (1-based): full jitter, uniform in [0, min(max, base·2^(n−1))]. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'baseMs' | 'maxMs' | 'random'>) {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor((options.random ?? Math.random)() * ceiling);
}

/**
 * Runs `fn` until it succeeds, it throws an error that is not retryable, the retries are used up,
 * or the next wait would overrun the deadline; then throws the last error as it was.
 */
export async function withRetry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const now = options.now ?? Date.now;
  const started = now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt, options.signal);
    } catch (error) {
      if (attempt >= options.retries || !options.isRetryable(error) || options.signal?.aborted) throw error;
      const jitter = backoffDelay(attempt + 1, options);
      const asked = options.retryAfterMs?.(error);
      const delayMs =
        asked !== undefined && Number.isFinite(asked) && asked > 0 ? Math.max(asked, jitter) : jitter;
      if (options.deadlineMs !== undefined && now() + delayMs - started > options.deadlineMs) throw error;
      options.onRetry?.({ attempt: attempt + 1, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Parses an HTTP `retry-after` (seconds or an HTTP date) or `retry-after-ms` header into milliseconds. */
export function parseRetryAfter(
  header: string | null | undefined,
  headerMs?: string | null,
  now: () => number = Date.now,
): number | undefined {
  if (headerMs) {
    const ms = Number(headerMs);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}

/** Maps over `items` with at most `limit` calls of `fn` in flight; results keep the input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
