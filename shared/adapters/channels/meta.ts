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
// Retries with backoff and jitter (retry.ts) on 429, 5xx, refused connections, errors Meta marks
// `is_transient`, and its throttling codes (META_THROTTLING_CODES), which arrive under HTTP 400 as
// well; any other 4xx is `rejected` at once. A request that may have arrived (a timeout, a dropped
// connection) is not repeated: `unknown`. Tokens never reach an error message.

import { formatReply } from '../../channels/format.ts';
import {
  type ChannelCredentials,
  DEFAULT_GRAPH_API_VERSION,
  META_THROTTLING_CODES,
} from '../../domain/channel.ts';
import type { ChannelClient, ChannelSendError } from '../../ports/channel-client.ts';
import { parseRetryAfter } from '../retry.ts';
import {
  type ChannelHttpOptions,
  ChannelRequestError,
  type ChannelRequestErrorOptions,
  channelHttp,
  channelSendError,
  tokenMask,
  trimBaseUrl,
} from './http.ts';

export const DEFAULT_META_GRAPH_BASE_URL = 'https://graph.facebook.com';

export type MetaChannel = 'whatsapp' | 'messenger' | 'instagram';

/**
 * Retries, the budget of one `send` (all its parts), timeouts and `fetch` as http.ts has them;
 * `onRetry` is told the channel and Graph's error code too.
 */
export interface MetaClientOptions extends ChannelHttpOptions<{ channel: MetaChannel; code?: number }> {
  /** The Graph API's origin (default https://graph.facebook.com; tests point it at a local server). */
  readonly baseUrl?: string;
  /** The Graph API version in the path (default DEFAULT_GRAPH_API_VERSION). */
  readonly graphVersion?: string;
}

const NAMES: Record<MetaChannel, string> = {
  whatsapp: 'WhatsApp',
  messenger: 'Messenger',
  instagram: 'Instagram',
};

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
  const http = channelHttp(options, (description, o) => new GraphRequestError(description, o));
  const baseUrl = trimBaseUrl(options.baseUrl ?? DEFAULT_META_GRAPH_BASE_URL);
  const version = options.graphVersion ?? DEFAULT_GRAPH_API_VERSION;
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new RangeError(`graphVersion must look like v23.0, not ${JSON.stringify(version)}`);
  }
  const name = NAMES[channel];

  /** One request, no retries. */
  async function request(
    node: string,
    token: string,
    body: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<GraphSendAnswer> {
    const mask = tokenMask(token);
    const { status, headers, answer } = await http.postJson<GraphSendAnswer>(
      `${baseUrl}/${version}/${encodeURIComponent(node)}/messages`,
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

  return {
    channel,

    async send(credentials, to, text, { fromPart = 0 } = {}) {
      const clock = http.budget();
      const messageIds: string[] = [];
      for (const part of formatReply(channel, text).slice(fromPart)) {
        const { node, token, body } = messageRequest(channel, credentials, to, part.text);
        const counter = { attempts: 0 };
        let answer: GraphSendAnswer;
        try {
          answer = await http.retrying(
            (timeoutMs) => request(node, token, body, timeoutMs),
            clock,
            counter,
            (error) => ({ channel, code: error instanceof GraphRequestError ? error.code : undefined }),
            { idempotent: false },
          );
        } catch (error) {
          throw sendError(name, channel, error, counter.attempts, messageIds.length);
        }
        messageIds.push(answer.message_id ?? answer.messages?.[0]?.id ?? '');
      }
      return { messageIds };
    },
  };
}

function sendError(
  name: string,
  channel: MetaChannel,
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
