// Telegram's Bot API over plain HTTPS (the global `fetch`): replies and the webhook set-up.
// - `send`: the reply split at 4096 characters and converted to HTML parse mode (`format`), one
//   `sendMessage` per part, in order. A part whose HTML Telegram refuses (400 "can't parse
//   entities") is sent again once as plain text, so a formatting slip never loses a reply.
// - Retries with backoff and jitter (retry.ts) on 429 (waiting at least the `retry_after` Telegram
//   asks for), 5xx, refused connections, and (for the idempotent calls, not `sendMessage`) dropped
//   connections and attempts that time out; inside one time budget per call of `send`, `verify`,
//   `setWebhook` or `deleteWebhook`. Anything else (400, 401, 403, 404) is `rejected` at once.
// - The bot token is in every URL (`/bot<token>/<method>`): no URL, and no error text that could
//   quote one, reaches an error message. Failures carry Telegram's description and status only.

import type { ReplyPart } from '../../channels/markdown.ts';
import {
  type ChannelClient,
  type ChannelFailure,
  ChannelSendError,
  type TelegramAdmin,
} from '../../ports/channel-client.ts';
import {
  type Budget,
  type ChannelHttp,
  type ChannelHttpOptions,
  ChannelRequestError,
  type ChannelRequestErrorOptions,
  channelHttp,
  channelSendError,
  tokenMask,
  trimBaseUrl,
} from './http.ts';

export const DEFAULT_TELEGRAM_API_BASE_URL = 'https://api.telegram.org';

/** Retries, budgets, timeouts and `fetch` as http.ts has them; `onRetry` is told the Bot API method too. */
export interface TelegramClientOptions extends ChannelHttpOptions<{ method: string }> {
  /** The Bot API's origin (default https://api.telegram.org; tests point it at a local server). */
  readonly baseUrl?: string;
  /** The reply as the parts to send, in HTML parse mode (the Telegram kind's `format`). */
  readonly format: (markdown: string) => ReplyPart[];
}

/** `<bot id>:<secret>`; anything else could change the URL's path, so it is refused unsent. */
const TOKEN_SHAPE = /^\d{1,20}:[A-Za-z0-9_-]{1,200}$/;

/**
 * One failed Bot API request, described without its URL: `status` is Telegram's `error_code` (or
 * the HTTP status), `retryAfterMs` its `parameters.retry_after`.
 */
export class TelegramRequestError extends ChannelRequestError {
  constructor(description: string, options: ChannelRequestErrorOptions) {
    super(description, options);
    this.name = 'TelegramRequestError';
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

/** What the client's functions share: the plumbing, the API's origin and the reply formatter. */
interface BotApi {
  http: ChannelHttp<{ method: string }>;
  baseUrl: string;
  format: (markdown: string) => ReplyPart[];
}

export function createTelegramClient(
  options: TelegramClientOptions,
): ChannelClient<{ botToken: string }> & TelegramAdmin {
  const api: BotApi = {
    http: channelHttp(options, (description, o) => new TelegramRequestError(description, o)),
    baseUrl: trimBaseUrl(options.baseUrl ?? DEFAULT_TELEGRAM_API_BASE_URL),
    format: options.format,
  };
  return {
    channel: 'telegram',
    send: (credentials, to, text, { fromPart = 0 } = {}) =>
      send(api, credentials.botToken, to, text, fromPart),
    verify: (botToken) => getMe(api, botToken),
    async setWebhook(botToken, url, secretToken) {
      await call<boolean>(api, botToken, 'setWebhook', {
        url,
        secret_token: secretToken,
        allowed_updates: ['message', 'edited_message'],
        drop_pending_updates: false,
      });
    },
    async deleteWebhook(botToken) {
      await call<boolean>(api, botToken, 'deleteWebhook', { drop_pending_updates: true });
    },
  };
}

/** One request, no retries. */
async function request<T>(
  api: BotApi,
  token: string,
  method: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<T> {
  const mask = tokenMask(token);
  const { status, answer } = await api.http.postJson<BotApiAnswer<T>>(
    `${api.baseUrl}/bot${token}/${method}`,
    {},
    params,
    timeoutMs,
    mask,
  );
  if (answer?.ok === true && status >= 200 && status < 300) return answer.result as T;
  const code = typeof answer?.error_code === 'number' ? answer.error_code : status;
  const retryAfter = answer?.parameters?.retry_after;
  throw new TelegramRequestError(mask(answer?.description ?? `HTTP ${status} without a Bot API answer`), {
    status: code,
    retryable: code === 429 || code >= 500 || status >= 500,
    retryAfterMs: typeof retryAfter === 'number' && retryAfter >= 0 ? retryAfter * 1000 : undefined,
  });
}

/**
 * One request with retries inside what is left of the budget; the last error escapes.
 * `sendMessage` is not idempotent: one that may have arrived is not repeated.
 */
function retrying<T>(
  api: BotApi,
  token: string,
  method: string,
  params: Record<string, unknown>,
  clock: Budget,
  counter: { attempts: number },
): Promise<T> {
  return api.http.retrying(
    (timeoutMs) => request<T>(api, token, method, params, timeoutMs),
    clock,
    counter,
    () => ({ method }),
    { idempotent: method !== 'sendMessage' },
  );
}

/** A request of the admin calls, its failure as the port's error. */
async function call<T>(
  api: BotApi,
  token: string,
  method: string,
  params: Record<string, unknown>,
): Promise<T> {
  checkToken(token, method);
  const counter = { attempts: 0 };
  try {
    return await retrying<T>(api, token, method, params, api.http.budget(), counter);
  } catch (error) {
    throw sendError(error, method, counter.attempts, 0);
  }
}

async function getMe(api: BotApi, botToken: string): Promise<{ id: number; username: string }> {
  const me = await call<TelegramUser>(api, botToken, 'getMe', {});
  if (typeof me?.id !== 'number' || typeof me.username !== 'string') {
    throw new ChannelSendError('Telegram getMe answered without the bot', {
      channel: 'telegram',
      failure: 'unavailable',
    });
  }
  return { id: me.id, username: me.username };
}

async function send(
  api: BotApi,
  token: string,
  to: string,
  text: string,
  fromPart: number,
): Promise<{ messageIds: string[] }> {
  checkToken(token, 'sendMessage');
  const clock = api.http.budget();
  const messageIds: string[] = [];
  for (const part of api.format(text).slice(fromPart)) {
    const message = await sendPart(api, token, to, part, clock, messageIds.length);
    messageIds.push(String(message?.message_id ?? ''));
  }
  return { messageIds };
}

async function sendPart(
  api: BotApi,
  token: string,
  to: string,
  part: ReplyPart,
  clock: Budget,
  delivered: number,
): Promise<TelegramMessage> {
  const counter = { attempts: 0 };
  try {
    return await retrying<TelegramMessage>(
      api,
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
      api,
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

function sendError(error: unknown, method: string, attempts: number, delivered: number): ChannelSendError {
  return channelSendError(
    error,
    { label: `Telegram ${method}`, channel: 'telegram', attempts, delivered },
    {
      type: TelegramRequestError,
      failure: (e) => (e.retryable ? 'unavailable' : rejectedOrUnavailable(e.status)),
      details: (e) => (e.status === undefined ? '' : ` (${e.status})`),
      // The Bot API answers 401 Unauthorized to a revoked or unknown token.
      credentialsRefused: (e) => e.status === 401,
    },
  );
}

/** A 4xx is the request's fault; an answer that is not the Bot API's (a 200 without `ok`) is not. */
const rejectedOrUnavailable = (status: number | undefined): ChannelFailure =>
  status !== undefined && status >= 400 && status < 500 ? 'rejected' : 'unavailable';
