// The HTTPS plumbing the channel clients share (the Bot API's client and graph.ts for the Graph
// API): their options and defaults, one JSON POST per attempt with its own timeout, retries with
// backoff and jitter (retry.ts) inside one time budget per call, and errors that never keep what
// was sent (a URL or a header may hold a token). What each platform answers, and which of its
// failures are worth a retry, stays in its client.

import { type ChannelFailure, ChannelSendError } from '../../ports/channel-client.ts';
import { withRetry } from '../retry.ts';

/** What `onRetry` is told about every retry, besides what the client adds (its method, channel…). */
export interface ChannelRetryInfo {
  attempt: number;
  delayMs: number;
  status?: number;
  description: string;
}

export interface ChannelHttpOptions<RetryExtra extends object> {
  readonly fetch?: typeof globalThis.fetch;
  /** Most retries of one request after its first attempt (default 5). */
  readonly retries?: number;
  /** The first backoff's upper bound (default 500 ms); it doubles up to `maxMs` (default 8 s). */
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** Time budget of one call (`send` with all its parts, `verify`, …), retries included (default 30 s). */
  readonly deadlineMs?: number;
  /** Longest single request (default 10 s). */
  readonly attemptTimeoutMs?: number;
  /** Called before each retry's wait (to log or count retries); never given a token. */
  readonly onRetry?: (info: RetryExtra & ChannelRetryInfo) => void;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

const DEFAULTS = { retries: 5, baseMs: 500, maxMs: 8_000, deadlineMs: 30_000, attemptTimeoutMs: 10_000 };

/** An attempt is not worth starting with less time than this (or than `attemptTimeoutMs`). */
const MIN_ATTEMPT_MS = 250;

/** One failed request, described without its URL or token. */
export class ChannelRequestError extends Error {
  /** The HTTP status (or the platform's own code for it); absent when no answer came. */
  readonly status?: number;
  readonly retryable: boolean;
  /** How long the platform asked to wait, in milliseconds. */
  readonly retryAfterMs?: number;
  readonly timedOut: boolean;
  /** No answer came, but the request may have reached the platform (a timeout, a dropped connection). */
  readonly maybeDelivered: boolean;
  constructor(description: string, options: ChannelRequestErrorOptions) {
    super(description);
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.timedOut = options.timedOut ?? false;
    this.maybeDelivered = options.maybeDelivered ?? false;
  }
}

export interface ChannelRequestErrorOptions {
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  timedOut?: boolean;
  maybeDelivered?: boolean;
}

/** What is left of one call's time budget, shared by its requests. */
export interface Budget {
  left(): number;
}

/** The answer to one request: its status and headers, and its body as JSON (undefined when it is not JSON). */
export interface JsonAnswer<T> {
  status: number;
  headers: Headers;
  answer: T | undefined;
}

export interface ChannelHttp<RetryExtra extends object> {
  /** A budget for the requests of one call. */
  budget(): Budget;
  /**
   * One POST of `body` as JSON, no retries. A request that gets no answer (a dropped connection,
   * the timeout) throws the client's error, retryable, its text masked by `mask`.
   */
  postJson<T>(
    url: string,
    headers: Record<string, string>,
    body: unknown,
    timeoutMs: number,
    mask: (text: string) => string,
  ): Promise<JsonAnswer<T>>;
  /**
   * `attempt` with retries inside what is left of `clock`, each given its timeout; the last error
   * escapes. `counter` counts the attempts; `retryExtra` is what `onRetry` is told besides.
   * `idempotent: false` (sending a message): a request that may have arrived is not repeated.
   */
  retrying<T>(
    attempt: (timeoutMs: number) => Promise<T>,
    clock: Budget,
    counter: { attempts: number },
    retryExtra: (error: unknown) => RetryExtra,
    options?: { idempotent: boolean },
  ): Promise<T>;
}

/**
 * The shared plumbing of a client with these options; `newError` makes the client's own request
 * error (a ChannelRequestError) for requests that got no answer.
 */
export function channelHttp<RetryExtra extends object>(
  options: ChannelHttpOptions<RetryExtra>,
  newError: (description: string, options: ChannelRequestErrorOptions) => ChannelRequestError,
): ChannelHttp<RetryExtra> {
  const settings = { ...DEFAULTS, ...withoutUndefined(options) };
  const doFetch = options.fetch ?? globalThis.fetch;
  const minAttemptMs = Math.min(MIN_ATTEMPT_MS, settings.attemptTimeoutMs);

  return {
    budget() {
      const started = Date.now();
      return { left: () => settings.deadlineMs - (Date.now() - started) };
    },

    async postJson<T>(
      url: string,
      headers: Record<string, string>,
      body: unknown,
      timeoutMs: number,
      mask: (text: string) => string,
    ): Promise<JsonAnswer<T>> {
      try {
        const response = await doFetch(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const raw = await response.text();
        let answer: T | undefined;
        try {
          answer = JSON.parse(raw) as T;
        } catch {
          answer = undefined; // a proxy's HTML error page, a cut body
        }
        return { status: response.status, headers: response.headers, answer };
      } catch (error) {
        throw connectionError(error, timeoutMs, mask, newError);
      }
    },

    retrying<T>(
      attempt: (timeoutMs: number) => Promise<T>,
      clock: Budget,
      counter: { attempts: number },
      retryExtra: (error: unknown) => RetryExtra,
      { idempotent } = { idempotent: true },
    ): Promise<T> {
      return withRetry(
        () => {
          counter.attempts++;
          return attempt(Math.max(minAttemptMs, Math.min(settings.attemptTimeoutMs, clock.left())));
        },
        {
          retries: settings.retries,
          baseMs: settings.baseMs,
          maxMs: settings.maxMs,
          deadlineMs: Math.max(0, clock.left()),
          random: settings.random,
          isRetryable: (error) =>
            error instanceof ChannelRequestError &&
            error.retryable &&
            (idempotent || !error.maybeDelivered) &&
            clock.left() >= minAttemptMs,
          retryAfterMs: (error) => (error instanceof ChannelRequestError ? error.retryAfterMs : undefined),
          onRetry: settings.onRetry
            ? ({ attempt, delayMs, error }) =>
                settings.onRetry?.({
                  ...retryExtra(error),
                  attempt,
                  delayMs,
                  status: error instanceof ChannelRequestError ? error.status : undefined,
                  description: error instanceof Error ? error.message : 'failed',
                })
            : undefined,
        },
      );
    },
  };
}

/** The API's origin without trailing slashes. */
export const trimBaseUrl = (baseUrl: string) => baseUrl.replace(/\/+$/, '');

/** Replaces a token wherever a text quotes it. */
export const tokenMask = (token: string) => (text: string) =>
  token ? text.split(token).join('<token>') : text;

/**
 * A call's last error as the port's error: `<label>: refused: …` when the client's request error
 * is `rejected`, `<label>: gave up after N attempts: …` otherwise, with the platform's description
 * and the client's `details` (status, codes); anything else as `failed after N attempts`.
 */
export function channelSendError<E extends ChannelRequestError>(
  error: unknown,
  call: { label: string; channel: string; attempts: number; delivered: number },
  requestError: {
    type: abstract new (...args: never[]) => E;
    failure: (error: E) => ChannelFailure;
    details: (error: E) => string;
    credentialsRefused: (error: E) => boolean;
  },
): ChannelSendError {
  if (error instanceof ChannelSendError) return error;
  const { label, channel, attempts, delivered } = call;
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  if (error instanceof requestError.type) {
    const failure = error.maybeDelivered ? 'unknown' : requestError.failure(error);
    const outcome =
      failure === 'rejected'
        ? 'refused'
        : failure === 'unknown'
          ? `no answer (it may have been delivered) after ${tries}`
          : `gave up after ${tries}`;
    return new ChannelSendError(`${label}: ${outcome}: ${error.message}${requestError.details(error)}`, {
      channel,
      failure,
      status: error.status,
      delivered,
      credentialsRefused: requestError.credentialsRefused(error),
      cause: error,
    });
  }
  return new ChannelSendError(`${label}: failed after ${tries}`, {
    channel,
    failure: 'unavailable',
    delivered,
  });
}

/**
 * A request that got no answer. The original error is not kept as the cause: fetch's errors can
 * quote what was sent (an unparsable base URL quotes the URL, and with it a token in its path).
 */
function connectionError(
  error: unknown,
  timeoutMs: number,
  mask: (text: string) => string,
  newError: (description: string, options: ChannelRequestErrorOptions) => ChannelRequestError,
) {
  // Duck-typed: fetch's errors (a DOMException for timeouts) may come from another realm.
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') {
    return newError(`no answer within ${timeoutMs} ms`, {
      retryable: true,
      timedOut: true,
      maybeDelivered: true,
    });
  }
  const { code, message: causeMessage } = (cause ?? {}) as { code?: unknown; message?: unknown };
  const detail =
    typeof code === 'string' ? code : typeof causeMessage === 'string' ? causeMessage : undefined;
  const what = typeof message === 'string' ? `${message}${detail ? ` (${detail})` : ''}` : String(error);
  return newError(mask(`the request failed: ${what}`), {
    retryable: true,
    maybeDelivered: !(typeof code === 'string' && NEVER_SENT.has(code)),
  });
}

/**
 * Connection failures that prove the request never left (no connection, no name, a URL that does
 * not parse, a certificate refused before any byte of the request): safe to repeat even a send.
 * Anything else (a reset, a socket closed mid-answer) may have delivered it.
 */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_INVALID_URL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
