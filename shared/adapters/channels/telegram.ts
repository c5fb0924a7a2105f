// Telegram's Bot API over plain HTTPS (the global `fetch`): replies and the webhook set-up.
// - `send`: the reply split at 4096 characters and converted to HTML parse mode (format.ts), one
//   `sendMessage` per part, in order. A part whose HTML Telegram refuses (400 "can't parse
//   entities") is sent again once as plain text, so a formatting slip never loses a reply.
// - Retries with backoff and jitter (retry.ts) on 429 (waiting at least the `retry_after` Telegram
//   asks for), 5xx, dropped connections and attempts that time out; inside one time budget per
//   call of `send`, `verify`, `setWebhook` or `deleteWebhook`. Anything else (400, 401, 403, 404)
//   is `rejected` at once.
// - The bot token is in every URL (`/bot<token>/<method>`): no URL, and no error text that could
//   quote one, reaches an error message. Failures carry Telegram's description and status only.

import { formatReply, type ReplyPart } from '../../channels/format.ts';
import {
  type ChannelClient,
  type ChannelFailure,
  ChannelSendError,
  type TelegramAdmin,
} from '../../ports/channel-client.ts';
import { withRetry } from '../retry.ts';

export const DEFAULT_TELEGRAM_API_BASE_URL = 'https://api.telegram.org';

export interface TelegramClientOptions {
  /** The Bot API's origin (default https://api.telegram.org; tests point it at a local server). */
  readonly baseUrl?: string;
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
  /** Called before each retry's wait (to log or count retries); never given the token. */
  readonly onRetry?: (info: {
    method: string;
    attempt: number;
    delayMs: number;
    status?: number;
    description: string;
  }) => void;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

const DEFAULTS = { retries: 5, baseMs: 500, maxMs: 8_000, deadlineMs: 30_000, attemptTimeoutMs: 10_000 };

/** An attempt is not worth starting with less time than this (or than `attemptTimeoutMs`). */
const MIN_ATTEMPT_MS = 250;

/** `<bot id>:<secret>`; anything else could change the URL's path, so it is refused unsent. */
const TOKEN_SHAPE = /^\d{1,20}:[A-Za-z0-9_-]{1,200}$/;

/** One failed Bot API request, described without its URL. */
export class TelegramRequestError extends Error {
  /** Telegram's `error_code` (or the HTTP status); absent when no answer came. */
  readonly status?: number;
  readonly retryable: boolean;
  /** Telegram's `parameters.retry_after`, in milliseconds. */
  readonly retryAfterMs?: number;
  readonly timedOut: boolean;
  constructor(
    description: string,
    options: { status?: number; retryable: boolean; retryAfterMs?: number; timedOut?: boolean },
  ) {
    super(description);
    this.name = 'TelegramRequestError';
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.timedOut = options.timedOut ?? false;
  }
}

interface BotApiAnswer<T> {
  ok?: boolean;
  result?: T;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

interface TelegramMessage {
  message_id: number;
}

interface TelegramUser {
  id: number;
  username?: string;
}

export function createTelegramClient(
  options: TelegramClientOptions = {},
): ChannelClient<'telegram'> & TelegramAdmin {
  const settings = { ...DEFAULTS, ...withoutUndefined(options) };
  const baseUrl = (options.baseUrl ?? DEFAULT_TELEGRAM_API_BASE_URL).replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch;

  /** One request, no retries. */
  async function request<T>(
    token: string,
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<T> {
    const mask = (text: string) => text.split(token).join('<token>');
    let status: number;
    let answer: BotApiAnswer<T> | undefined;
    try {
      const response = await doFetch(`${baseUrl}/bot${token}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(params),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      const body = await response.text();
      try {
        answer = JSON.parse(body) as BotApiAnswer<T>;
      } catch {
        answer = undefined; // a proxy's HTML error page, a cut body
      }
    } catch (error) {
      throw connectionError(error, timeoutMs, mask);
    }
    if (answer?.ok === true && status >= 200 && status < 300) return answer.result as T;
    const code = typeof answer?.error_code === 'number' ? answer.error_code : status;
    const retryAfter = answer?.parameters?.retry_after;
    throw new TelegramRequestError(mask(answer?.description ?? `HTTP ${status} without a Bot API answer`), {
      status: code,
      retryable: code === 429 || code >= 500 || status >= 500,
      retryAfterMs: typeof retryAfter === 'number' && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    });
  }

  /** A budget shared by the requests of one call. */
  const budget = () => {
    const started = Date.now();
    return { left: () => settings.deadlineMs - (Date.now() - started) };
  };

  /** One request with retries inside what is left of the budget; the last error escapes. */
  function retrying<T>(
    token: string,
    method: string,
    params: Record<string, unknown>,
    clock: { left: () => number },
    counter: { attempts: number },
  ): Promise<T> {
    const minAttemptMs = Math.min(MIN_ATTEMPT_MS, settings.attemptTimeoutMs);
    return withRetry(
      () => {
        counter.attempts++;
        const timeoutMs = Math.max(minAttemptMs, Math.min(settings.attemptTimeoutMs, clock.left()));
        return request<T>(token, method, params, timeoutMs);
      },
      {
        retries: settings.retries,
        baseMs: settings.baseMs,
        maxMs: settings.maxMs,
        deadlineMs: Math.max(0, clock.left()),
        random: settings.random,
        isRetryable: (error) =>
          error instanceof TelegramRequestError && error.retryable && clock.left() >= minAttemptMs,
        retryAfterMs: (error) => (error instanceof TelegramRequestError ? error.retryAfterMs : undefined),
        onRetry: settings.onRetry
          ? ({ attempt, delayMs, error }) =>
              settings.onRetry?.({
                method,
                attempt,
                delayMs,
                status: error instanceof TelegramRequestError ? error.status : undefined,
                description: error instanceof Error ? error.message : 'failed',
              })
          : undefined,
      },
    );
  }

  /** A request of the admin calls, its failure as the port's error. */
  async function call<T>(token: string, method: string, params: Record<string, unknown>): Promise<T> {
    checkToken(token, method);
    const counter = { attempts: 0 };
    try {
      return await retrying<T>(token, method, params, budget(), counter);
    } catch (error) {
      throw sendError(error, method, counter.attempts, 0);
    }
  }

  async function sendPart(
    token: string,
    to: string,
    part: ReplyPart,
    clock: { left: () => number },
    delivered: number,
  ): Promise<TelegramMessage> {
    const counter = { attempts: 0 };
    try {
      return await retrying<TelegramMessage>(
        token,
        'sendMessage',
        { chat_id: to, text: part.text, parse_mode: 'HTML' },
        clock,
        counter,
      );
    } catch (error) {
      if (!isEntityError(error)) throw sendError(error, 'sendMessage', counter.attempts, delivered);
    }
    // Telegram refused the HTML: the same part as plain text, once.
    try {
      return await retrying<TelegramMessage>(
        token,
        'sendMessage',
        { chat_id: to, text: part.plain },
        clock,
        counter,
      );
    } catch (error) {
      throw sendError(error, 'sendMessage', counter.attempts, delivered);
    }
  }

  return {
    channel: 'telegram',

    async send(credentials, to, text) {
      const token = credentials.botToken;
      checkToken(token, 'sendMessage');
      const clock = budget();
      const messageIds: string[] = [];
      for (const part of formatReply('telegram', text)) {
        const message = await sendPart(token, to, part, clock, messageIds.length);
        messageIds.push(String(message?.message_id ?? ''));
      }
      return { messageIds };
    },

    async verify(botToken) {
      const me = await call<TelegramUser>(botToken, 'getMe', {});
      if (typeof me?.id !== 'number' || typeof me.username !== 'string') {
        throw new ChannelSendError('Telegram getMe answered without the bot', {
          channel: 'telegram',
          failure: 'unavailable',
        });
      }
      return { id: me.id, username: me.username };
    },

    async setWebhook(botToken, url, secretToken) {
      await call<boolean>(botToken, 'setWebhook', {
        url,
        secret_token: secretToken,
        allowed_updates: ['message', 'edited_message'],
        drop_pending_updates: false,
      });
    },

    async deleteWebhook(botToken) {
      await call<boolean>(botToken, 'deleteWebhook', { drop_pending_updates: true });
    },
  };
}

function checkToken(token: string, method: string): void {
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) {
    throw new ChannelSendError(`Telegram ${method}: refused: the bot token is not a Bot API token`, {
      channel: 'telegram',
      failure: 'rejected',
    });
  }
}

/** Telegram could not read the HTML of a part (the plain text will do). */
const isEntityError = (error: unknown) =>
  error instanceof TelegramRequestError &&
  error.status === 400 &&
  /can't parse entities/i.test(error.message);

/**
 * A request that got no answer. The original error is not kept as the cause: fetch's errors can
 * quote the URL (an unparsable base URL does), and with it the token.
 */
function connectionError(error: unknown, timeoutMs: number, mask: (text: string) => string) {
  // Duck-typed: fetch's errors (a DOMException for timeouts) may come from another realm.
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new TelegramRequestError(`no answer within ${timeoutMs} ms`, { retryable: true, timedOut: true });
  }
  const { code, message: causeMessage } = (cause ?? {}) as { code?: unknown; message?: unknown };
  const detail =
    typeof code === 'string' ? code : typeof causeMessage === 'string' ? causeMessage : undefined;
  const what = typeof message === 'string' ? `${message}${detail ? ` (${detail})` : ''}` : String(error);
  return new TelegramRequestError(mask(`the request failed: ${what}`), { retryable: true });
}

function sendError(error: unknown, method: string, attempts: number, delivered: number): ChannelSendError {
  if (error instanceof ChannelSendError) return error;
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  if (error instanceof TelegramRequestError) {
    const failure: ChannelFailure = error.retryable ? 'unavailable' : rejectedOrUnavailable(error.status);
    const status = error.status === undefined ? '' : ` (${error.status})`;
    const outcome = failure === 'rejected' ? 'refused' : `gave up after ${tries}`;
    return new ChannelSendError(`Telegram ${method}: ${outcome}: ${error.message}${status}`, {
      channel: 'telegram',
      failure,
      status: error.status,
      delivered,
      cause: error,
    });
  }
  return new ChannelSendError(`Telegram ${method}: failed after ${tries}`, {
    channel: 'telegram',
    failure: 'unavailable',
    delivered,
  });
}

/** A 4xx is the request's fault; an answer that is not the Bot API's (a 200 without `ok`) is not. */
const rejectedOrUnavailable = (status: number | undefined): ChannelFailure =>
  status !== undefined && status >= 400 && status < 500 ? 'rejected' : 'unavailable';

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
