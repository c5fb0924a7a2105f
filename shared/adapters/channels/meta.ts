// Replies on Meta's platforms through the Graph API over plain HTTPS (the global `fetch`), one
// `POST /{version}/{node}/messages` per part of the reply, in order, with `Authorization: Bearer`:
// - WhatsApp Cloud API: node = the business phone number id; `{messaging_product: "whatsapp",
//   recipient_type: "individual", to, type: "text", text: {body, preview_url: false}}` → the id in
//   `messages[0].id`. Replies in WhatsApp's own formatting, split at 4096 characters.
// - Messenger Send API: node = the Page id; `{recipient: {id: PSID}, messaging_type: "RESPONSE",
//   message: {text}}` → `message_id`. Plain text, split at 2000 characters.
// - Messenger API for Instagram (through the linked Facebook Page): node = `me`, which the Page
//   access token resolves to the Page, as Meta documents it; `{recipient: {id: IGSID}, message:
//   {text}}` → `message_id`. Plain text, split at 1000 UTF-8 bytes.
// Retries with backoff and jitter (retry.ts) on 429, 5xx, dropped connections, timeouts, errors
// Meta marks `is_transient`, and its throttling codes (META_THROTTLING_CODES), which arrive under
// HTTP 400 as well; any other 4xx is `rejected` at once. Tokens never reach an error message.

import { formatReply } from '../../channels/format.ts';
import {
  type ChannelCredentials,
  DEFAULT_GRAPH_API_VERSION,
  META_THROTTLING_CODES,
} from '../../domain/channel.ts';
import { type ChannelClient, type ChannelFailure, ChannelSendError } from '../../ports/channel-client.ts';
import { parseRetryAfter, withRetry } from '../retry.ts';

export const DEFAULT_META_GRAPH_BASE_URL = 'https://graph.facebook.com';

export type MetaChannel = 'whatsapp' | 'messenger' | 'instagram';

export interface MetaClientOptions {
  /** The Graph API's origin (default https://graph.facebook.com; tests point it at a local server). */
  readonly baseUrl?: string;
  /** The Graph API version in the path (default DEFAULT_GRAPH_API_VERSION). */
  readonly graphVersion?: string;
  readonly fetch?: typeof globalThis.fetch;
  /** Most retries of one request after its first attempt (default 5). */
  readonly retries?: number;
  /** The first backoff's upper bound (default 500 ms); it doubles up to `maxMs` (default 8 s). */
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** Time budget of one `send` (all its parts), retries included (default 30 s). */
  readonly deadlineMs?: number;
  /** Longest single request (default 10 s). */
  readonly attemptTimeoutMs?: number;
  /** Called before each retry's wait (to log or count retries); never given a token. */
  readonly onRetry?: (info: {
    channel: MetaChannel;
    attempt: number;
    delayMs: number;
    status?: number;
    code?: number;
    description: string;
  }) => void;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

const DEFAULTS = { retries: 5, baseMs: 500, maxMs: 8_000, deadlineMs: 30_000, attemptTimeoutMs: 10_000 };
const MIN_ATTEMPT_MS = 250;

const NAMES: Record<MetaChannel, string> = {
  whatsapp: 'WhatsApp',
  messenger: 'Messenger',
  instagram: 'Instagram',
};

/** One failed Graph API request, described without its token. */
export class GraphRequestError extends Error {
  /** The HTTP status; absent when no answer came. */
  readonly status?: number;
  /** Graph's `error.code` and `error.error_subcode`, when it answered with an error body. */
  readonly code?: number;
  readonly subcode?: number;
  readonly fbtraceId?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly timedOut: boolean;
  constructor(
    description: string,
    options: {
      status?: number;
      code?: number;
      subcode?: number;
      fbtraceId?: string;
      retryable: boolean;
      retryAfterMs?: number;
      timedOut?: boolean;
    },
  ) {
    super(description);
    this.name = 'GraphRequestError';
    this.status = options.status;
    this.code = options.code;
    this.subcode = options.subcode;
    this.fbtraceId = options.fbtraceId;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.timedOut = options.timedOut ?? false;
  }
}

interface GraphErrorBody {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    is_transient?: boolean;
    fbtrace_id?: string;
  };
}

interface GraphSendAnswer extends GraphErrorBody {
  message_id?: string;
  messages?: { id?: string }[];
}

/** Where and what to post for one part. */
function messageRequest<C extends MetaChannel>(
  channel: C,
  credentials: ChannelCredentials[C],
  to: string,
  text: string,
): { node: string; token: string; body: Record<string, unknown> } {
  switch (channel) {
    case 'whatsapp': {
      const c = credentials as ChannelCredentials['whatsapp'];
      return {
        node: c.phoneNumberId,
        token: c.accessToken,
        body: {
          messaging_product: 'whatsapp',
          recipient_type: 'individual',
          to,
          type: 'text',
          text: { body: text, preview_url: false },
        },
      };
    }
    case 'messenger': {
      const c = credentials as ChannelCredentials['messenger'];
      return {
        node: c.pageId,
        token: c.pageAccessToken,
        body: { recipient: { id: to }, messaging_type: 'RESPONSE', message: { text } },
      };
    }
    default: {
      const c = credentials as ChannelCredentials['instagram'];
      return { node: 'me', token: c.pageAccessToken, body: { recipient: { id: to }, message: { text } } };
    }
  }
}

export function createMetaClient<C extends MetaChannel>(
  channel: C,
  options: MetaClientOptions = {},
): ChannelClient<C> {
  const settings = { ...DEFAULTS, ...withoutUndefined(options) };
  const baseUrl = (options.baseUrl ?? DEFAULT_META_GRAPH_BASE_URL).replace(/\/+$/, '');
  const version = options.graphVersion ?? DEFAULT_GRAPH_API_VERSION;
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new RangeError(`graphVersion must look like v23.0, not ${JSON.stringify(version)}`);
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  const name = NAMES[channel];

  /** One request, no retries. */
  async function request(
    node: string,
    token: string,
    body: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<GraphSendAnswer> {
    const mask = (text: string) => (token ? text.split(token).join('<token>') : text);
    let response: Response;
    let answer: GraphSendAnswer | undefined;
    try {
      response = await doFetch(`${baseUrl}/${version}/${encodeURIComponent(node)}/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const raw = await response.text();
      try {
        answer = JSON.parse(raw) as GraphSendAnswer;
      } catch {
        answer = undefined; // an HTML error page, a cut body
      }
    } catch (error) {
      throw connectionError(error, timeoutMs, mask);
    }
    const { status } = response;
    if (status >= 200 && status < 300) return answer ?? {};
    const error = answer?.error;
    const code = typeof error?.code === 'number' ? error.code : undefined;
    const retryable =
      status === 429 ||
      status >= 500 ||
      error?.is_transient === true ||
      (code !== undefined && META_THROTTLING_CODES.includes(code));
    const description = error?.message ?? `HTTP ${status} without a Graph API error`;
    throw new GraphRequestError(mask(description), {
      status,
      code,
      subcode: typeof error?.error_subcode === 'number' ? error.error_subcode : undefined,
      fbtraceId: error?.fbtrace_id,
      retryable,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    });
  }

  return {
    channel,

    async send(credentials, to, text) {
      const started = Date.now();
      const left = () => settings.deadlineMs - (Date.now() - started);
      const minAttemptMs = Math.min(MIN_ATTEMPT_MS, settings.attemptTimeoutMs);
      const messageIds: string[] = [];
      for (const part of formatReply(channel, text)) {
        const { node, token, body } = messageRequest(channel, credentials, to, part.text);
        let attempts = 0;
        let answer: GraphSendAnswer;
        try {
          answer = await withRetry(
            () => {
              attempts++;
              return request(
                node,
                token,
                body,
                Math.max(minAttemptMs, Math.min(settings.attemptTimeoutMs, left())),
              );
            },
            {
              retries: settings.retries,
              baseMs: settings.baseMs,
              maxMs: settings.maxMs,
              deadlineMs: Math.max(0, left()),
              random: settings.random,
              isRetryable: (error) =>
                error instanceof GraphRequestError && error.retryable && left() >= minAttemptMs,
              retryAfterMs: (error) => (error instanceof GraphRequestError ? error.retryAfterMs : undefined),
              onRetry: settings.onRetry
                ? ({ attempt, delayMs, error }) =>
                    settings.onRetry?.({
                      channel,
                      attempt,
                      delayMs,
                      status: error instanceof GraphRequestError ? error.status : undefined,
                      code: error instanceof GraphRequestError ? error.code : undefined,
                      description: error instanceof Error ? error.message : 'failed',
                    })
                : undefined,
            },
          );
        } catch (error) {
          throw sendError(name, channel, error, attempts, messageIds.length);
        }
        messageIds.push(answer.message_id ?? answer.messages?.[0]?.id ?? '');
      }
      return { messageIds };
    },
  };
}

/**
 * A request that got no answer. The original error is not kept as the cause: fetch's errors can
 * quote what was sent.
 */
function connectionError(error: unknown, timeoutMs: number, mask: (text: string) => string) {
  // Duck-typed: fetch's errors (a DOMException for timeouts) may come from another realm.
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new GraphRequestError(`no answer within ${timeoutMs} ms`, { retryable: true, timedOut: true });
  }
  const { code, message: causeMessage } = (cause ?? {}) as { code?: unknown; message?: unknown };
  const detail =
    typeof code === 'string' ? code : typeof causeMessage === 'string' ? causeMessage : undefined;
  const what = typeof message === 'string' ? `${message}${detail ? ` (${detail})` : ''}` : String(error);
  return new GraphRequestError(mask(`the request failed: ${what}`), { retryable: true });
}

function sendError(
  name: string,
  channel: MetaChannel,
  error: unknown,
  attempts: number,
  delivered: number,
): ChannelSendError {
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  if (error instanceof GraphRequestError) {
    const failure: ChannelFailure =
      error.retryable || error.status === undefined || error.status >= 500 ? 'unavailable' : 'rejected';
    const details = [
      error.status === undefined ? undefined : `HTTP ${error.status}`,
      error.code === undefined ? undefined : `code ${error.code}`,
      error.subcode === undefined ? undefined : `subcode ${error.subcode}`,
    ].filter(Boolean);
    const outcome = failure === 'rejected' ? 'refused' : `gave up after ${tries}`;
    return new ChannelSendError(
      `${name} send: ${outcome}: ${error.message}${details.length > 0 ? ` (${details.join(', ')})` : ''}`,
      { channel, failure, status: error.status, delivered, cause: error },
    );
  }
  return new ChannelSendError(`${name} send: failed after ${tries}`, {
    channel,
    failure: 'unavailable',
    delivered,
  });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
