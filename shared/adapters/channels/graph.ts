// Replies on Meta's platforms through the Graph API over plain HTTPS (the global `fetch`), one
// `POST /{version}/{node}/messages` per part of the reply, in order, with `Authorization: Bearer`.
// Each product (WhatsApp Cloud API, Messenger Send API, Messenger API for Instagram) is a
// `GraphProduct` its ChannelKind gives: the node, token and body of a message, and the reply's
// parts. The answer's id is `message_id`, or WhatsApp's `messages[0].id`.
// Retries with backoff and jitter (retry.ts) on 429, 5xx, refused connections, errors Meta marks
// `is_transient`, and its throttling codes (META_THROTTLING_CODES), which arrive under HTTP 400 as
// well; any other 4xx is `rejected` at once. A request that may have arrived (a timeout, a dropped
// connection) is not repeated: `unknown`. Tokens never reach an error message.

import type { ReplyPart } from '../../channels/markdown.ts';
import type { ChannelClient, ChannelSendError } from '../../ports/channel-client.ts';
import { parseRetryAfter } from '../retry.ts';
import {
  type ChannelHttp,
  type ChannelHttpOptions,
  ChannelRequestError,
  type ChannelRequestErrorOptions,
  channelHttp,
  channelSendError,
  tokenMask,
  trimBaseUrl,
} from './http.ts';

/** Meta's throttling error codes, which arrive under HTTP 400 as well as 429: retry on them. */
export const META_THROTTLING_CODES: readonly number[] = [4, 17, 32, 613, 130429];

export const DEFAULT_GRAPH_API_VERSION = 'v23.0';

export const DEFAULT_META_GRAPH_BASE_URL = 'https://graph.facebook.com';

/** One Meta product's messages, as its ChannelKind writes them; `C` is its credentials. */
export interface GraphProduct<C> {
  readonly channel: string;
  /** For error messages: `WhatsApp send: refused: …`. */
  readonly name: string;
  /** The reply as the parts to send, in the product's formatting and within its limit. */
  format(markdown: string): ReplyPart[];
  /** Where and what to post for one part. */
  message(
    credentials: C,
    to: string,
    text: string,
  ): { node: string; token: string; body: Record<string, unknown> };
}

/**
 * Retries, the budget of one `send` (all its parts), timeouts and `fetch` as http.ts has them;
 * `onRetry` is told the channel and Graph's error code too.
 */
export interface GraphClientOptions extends ChannelHttpOptions<{ channel: string; code?: number }> {
  /** The Graph API's origin (default https://graph.facebook.com; tests point it at a local server). */
  readonly baseUrl?: string;
  /** The Graph API version in the path (default DEFAULT_GRAPH_API_VERSION). */
  readonly graphVersion?: string;
}

/** One failed Graph API request, described without its token; `status` is the HTTP status. */
export class GraphRequestError extends ChannelRequestError {
  /** Graph's `error.code` and `error.error_subcode`, when it answered with an error body. */
  readonly code?: number;
  readonly subcode?: number;
  readonly fbtraceId?: string;
  constructor(
    description: string,
    options: ChannelRequestErrorOptions & { code?: number; subcode?: number; fbtraceId?: string },
  ) {
    super(description, options);
    this.name = 'GraphRequestError';
    this.code = options.code;
    this.subcode = options.subcode;
    this.fbtraceId = options.fbtraceId;
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

/** What the client's functions share. */
interface GraphApi<C> {
  product: GraphProduct<C>;
  http: ChannelHttp<{ channel: string; code?: number }>;
  baseUrl: string;
  version: string;
}

export function createGraphClient<C>(
  product: GraphProduct<C>,
  options: GraphClientOptions = {},
): ChannelClient<C> {
  const version = options.graphVersion ?? DEFAULT_GRAPH_API_VERSION;
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new RangeError(`graphVersion must look like v23.0, not ${JSON.stringify(version)}`);
  }
  const api: GraphApi<C> = {
    product,
    http: channelHttp(options, (description, o) => new GraphRequestError(description, o)),
    baseUrl: trimBaseUrl(options.baseUrl ?? DEFAULT_META_GRAPH_BASE_URL),
    version,
  };
  return {
    channel: product.channel,
    send: (credentials, to, text, { fromPart = 0 } = {}) => send(api, credentials, to, text, fromPart),
  };
}

async function send<C>(
  api: GraphApi<C>,
  credentials: C,
  to: string,
  text: string,
  fromPart: number,
): Promise<{ messageIds: string[] }> {
  const { product, http } = api;
  const clock = http.budget();
  const messageIds: string[] = [];
  for (const part of product.format(text).slice(fromPart)) {
    const { node, token, body } = product.message(credentials, to, part.text);
    const counter = { attempts: 0 };
    let answer: GraphSendAnswer;
    try {
      answer = await http.retrying(
        (timeoutMs) => request(api, node, token, body, timeoutMs),
        clock,
        counter,
        (error) => ({
          channel: product.channel,
          code: error instanceof GraphRequestError ? error.code : undefined,
        }),
        { idempotent: false },
      );
    } catch (error) {
      throw sendError(product.name, product.channel, error, counter.attempts, messageIds.length);
    }
    messageIds.push(answer.message_id ?? answer.messages?.[0]?.id ?? '');
  }
  return { messageIds };
}

/** One request, no retries. */
async function request(
  api: GraphApi<unknown>,
  node: string,
  token: string,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<GraphSendAnswer> {
  const mask = tokenMask(token);
  const { status, headers, answer } = await api.http.postJson<GraphSendAnswer>(
    `${api.baseUrl}/${api.version}/${encodeURIComponent(node)}/messages`,
    { authorization: `Bearer ${token}` },
    body,
    timeoutMs,
    mask,
  );
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
    retryAfterMs: parseRetryAfter(headers.get('retry-after')),
  });
}

function sendError(
  name: string,
  channel: string,
  error: unknown,
  attempts: number,
  delivered: number,
): ChannelSendError {
  return channelSendError(
    error,
    { label: `${name} send`, channel, attempts, delivered },
    {
      type: GraphRequestError,
      failure: (e) => (e.retryable || e.status === undefined || e.status >= 500 ? 'unavailable' : 'rejected'),
      details: (e) => {
        const details = [
          e.status === undefined ? undefined : `HTTP ${e.status}`,
          e.code === undefined ? undefined : `code ${e.code}`,
          e.subcode === undefined ? undefined : `subcode ${e.subcode}`,
        ].filter(Boolean);
        return details.length > 0 ? ` (${details.join(', ')})` : '';
      },
      // OAuthException 190: the access token is invalid, expired or revoked.
      credentialsRefused: (e) => e.code === 190 || e.status === 401,
    },
  );
}
