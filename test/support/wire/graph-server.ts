// A local HTTP server (127.0.0.1 only) that answers the Graph API's messages endpoints the way
// graph.facebook.com does, for testing the Meta client through the real `fetch` (give it
// `baseUrl: server.url`):
// - `POST /{version}/{node}/messages` where node is a WhatsApp business phone number id, a Page
//   id (Messenger; an Instagram account's linked Page), an Instagram account id, or `me` (what the
//   token belongs to); body as JSON or form fields (objects as JSON strings, as Graph takes them);
// - the token as `Authorization: Bearer` or `access_token`: none → 400 OAuthException code 104,
//   unknown → 400 OAuthException code 190 (with `www-authenticate`), a node the token does not
//   own → 400 code 100 subcode 33;
// - each platform's checks as Graph answers them (400 code 100): WhatsApp's
//   `messaging_product`, `to`, `type`, `text.body` up to 4096 characters; Messenger's
//   `recipient.id`, `messaging_type`, `message.text` up to 2000 characters; Instagram's
//   `message.text` up to 1000 UTF-8 bytes; recipients that cannot exist (subcode 2018001);
// - answers as Graph gives them: WhatsApp `{messaging_product, contacts, messages: [{id}]}`,
//   Messenger and Instagram `{recipient_id, message_id}`;
// - failures on demand: 429, 5xx (`is_transient`), 400 with a throttling code (4, 17, 32, 613,
//   130429, …), any other Graph error, a request that never gets an answer.
// Every call is recorded in order (`calls`), and every delivered message (`sent`).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { failureQueue } from './failure-queue.ts';
import { listenHttp, readRequestBody } from './listen.ts';

export type GraphChannel = 'whatsapp' | 'messenger' | 'instagram';

export interface GraphAccount {
  readonly channel: GraphChannel;
  /** The phone number id (WhatsApp), Page id (Messenger) or Instagram account id. */
  readonly id: string;
  readonly token: string;
  /** Instagram: the Facebook Page the account is linked to (it may be the node too). */
  readonly pageId?: string;
}

export type GraphFailure =
  /** HTTP 429 with code 4 and, if given, `retry-after` (seconds). */
  | { kind: 'rate_limit'; retryAfterSeconds?: number }
  /** HTTP 400 with one of Meta's throttling codes. */
  | { kind: 'throttled'; code: number }
  /** A 5xx with Graph's transient error body. */
  | { kind: 'server_error'; status?: number }
  /** Any other Graph error (default HTTP 400). */
  | { kind: 'error'; code: number; status?: number; subcode?: number; message?: string; type?: string }
  /** No answer at all (the connection stays open until the client gives up or close()). */
  | { kind: 'hang' };

export interface GraphWireCall {
  readonly version: string;
  readonly node: string;
  /** The account the token belongs to, if it is one the server knows. */
  readonly channel?: GraphChannel;
  readonly token?: string;
  readonly headers: IncomingMessage['headers'];
  // biome-ignore lint/suspicious/noExplicitAny: the body as the client sent it
  readonly body: Record<string, any>;
  /** The HTTP status answered (undefined for a hang). */
  status?: number;
}

export interface GraphSentMessage {
  readonly channel: GraphChannel;
  readonly to: string;
  readonly text: string;
  readonly messageId: string;
}

export interface GraphWireServer {
  /** The Graph API origin to give the client. */
  readonly url: string;
  readonly accounts: readonly GraphAccount[];
  readonly calls: GraphWireCall[];
  readonly sent: GraphSentMessage[];
  /** The account of a channel (the first one configured for it). */
  account(channel: GraphChannel): GraphAccount;
  /** The next `count` calls (after `after` that pass) fail this way; queued after earlier failures. */
  failNext(count: number, failure: GraphFailure, options?: { after?: number }): void;
  clearFailures(): void;
  /** Forgets calls, messages and queued failures. */
  reset(): void;
  close(): Promise<void>;
}

export const DEFAULT_GRAPH_ACCOUNTS: readonly GraphAccount[] = [
  { channel: 'whatsapp', id: '106540352242922', token: 'EAAGwireWhatsAppToken0123456789abcdefZZ' },
  { channel: 'messenger', id: '204060801234567', token: 'EAAGwireMessengerPageToken0123456789ab' },
  {
    channel: 'instagram',
    id: '17841400000000001',
    pageId: '204060809999999',
    token: 'EAAGwireInstagramPageToken0123456789ab',
  },
];

/** The text limits Graph enforces: characters (UTF-16 code units) or UTF-8 bytes. */
const TEXT_LIMITS: Record<GraphChannel, { max: number; bytes: boolean }> = {
  whatsapp: { max: 4096, bytes: false },
  messenger: { max: 2000, bytes: false },
  instagram: { max: 1000, bytes: true },
};

const THROTTLING_MESSAGES: Record<number, string> = {
  4: '(#4) Application request limit reached',
  17: '(#17) User request limit reached',
  32: '(#32) Page request limit reached',
  613: '(#613) Calls to this api have exceeded the rate limit.',
  80007: '(#80007) There have been too many calls to this WhatsApp Business account.',
  130429: '(#130429) Rate limit hit',
};

const traceId = () => randomBytes(9).toString('base64').replace(/[+/]/g, 'A');

export async function startGraphServer(
  options: { accounts?: readonly GraphAccount[] } = {},
): Promise<GraphWireServer> {
  const accounts = options.accounts ?? DEFAULT_GRAPH_ACCOUNTS;
  const calls: GraphWireCall[] = [];
  const sent: GraphSentMessage[] = [];
  const failures = failureQueue<GraphFailure>();

  const server = createServer(async (req, res) => {
    const raw = await readRequestBody(req);
    const url = new URL(req.url ?? '/', 'http://wire');
    const route = /^\/(v\d+\.\d+)\/([^/]+)\/messages\/?$/.exec(url.pathname);
    const body = readBody(req, raw);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token =
      bearer ?? url.searchParams.get('access_token') ?? (body?.access_token as string | undefined);
    const account = accounts.find((a) => a.token === token);
    const version = route?.[1] ?? '';
    const call: GraphWireCall = {
      version,
      node: decodeURIComponent(route?.[2] ?? url.pathname),
      channel: account?.channel,
      token,
      headers: req.headers,
      body: body ?? {},
    };
    calls.push(call);

    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      res.writeHead(status, {
        'content-type': 'application/json; charset=UTF-8',
        'x-fb-trace-id': traceId(),
        'x-fb-rev': '1012345678',
        ...(version ? { 'facebook-api-version': version } : {}),
        ...headers,
      });
      res.end(JSON.stringify(payload));
    };
    const error = (
      status: number,
      code: number,
      message: string,
      extra: { type?: string; subcode?: number; transient?: boolean; headers?: Record<string, string> } = {},
    ) =>
      answer(
        status,
        {
          error: {
            message,
            type: extra.type ?? 'OAuthException',
            code,
            ...(extra.subcode === undefined ? {} : { error_subcode: extra.subcode }),
            ...(extra.transient === undefined ? {} : { is_transient: extra.transient }),
            fbtrace_id: traceId(),
          },
        },
        extra.headers,
      );
    const invalid = (message: string, subcode?: number) => error(400, 100, message, { subcode });

    if (req.method !== 'POST' || !route) {
      error(400, 100, `Unsupported request - method type: ${(req.method ?? 'get').toLowerCase()}`, {
        type: 'GraphMethodException',
      });
      return;
    }
    if (!token) {
      error(400, 104, 'An access token is required to request this resource.');
      return;
    }
    if (!account) {
      error(400, 190, 'Invalid OAuth access token - Cannot parse access token', {
        headers: {
          'www-authenticate':
            'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"',
        },
      });
      return;
    }
    if (call.node !== 'me' && call.node !== account.id && call.node !== account.pageId) {
      invalid(
        `Unsupported post request. Object with ID '${call.node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        33,
      );
      return;
    }
    if (body === undefined) {
      invalid('(#100) The parameter body could not be parsed');
      return;
    }

    const failure = failures.next();
    if (failure?.kind === 'hang') return; // ended by the client's timeout or close()
    if (failure?.kind === 'rate_limit') {
      error(429, 4, THROTTLING_MESSAGES[4] as string, {
        headers:
          failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) },
      });
      return;
    }
    if (failure?.kind === 'throttled') {
      error(400, failure.code, THROTTLING_MESSAGES[failure.code] ?? `(#${failure.code}) Rate limit hit`, {
        transient: true,
      });
      return;
    }
    if (failure?.kind === 'server_error') {
      error(failure.status ?? 500, 2, 'An unexpected error has occurred. Please retry your request later.', {
        transient: true,
      });
      return;
    }
    if (failure?.kind === 'error') {
      error(failure.status ?? 400, failure.code, failure.message ?? `(#${failure.code}) Graph error`, {
        type: failure.type,
        subcode: failure.subcode,
      });
      return;
    }

    const limit = TEXT_LIMITS[account.channel];
    const tooLong = (text: string) =>
      (limit.bytes ? Buffer.byteLength(text, 'utf8') : text.length) > limit.max;
    if (account.channel === 'whatsapp') {
      if (body.messaging_product !== 'whatsapp') {
        invalid('(#100) The parameter messaging_product is required.');
        return;
      }
      const to = typeof body.to === 'string' ? body.to : '';
      if (!/^\+?\d{6,15}$/.test(to)) {
        invalid(to === '' ? '(#100) The parameter to is required.' : '(#100) Invalid parameter', 2494010);
        return;
      }
      if (body.type !== undefined && body.type !== 'text') {
        invalid(`(#100) Param type must be one of {TEXT, ...} - got "${String(body.type)}".`);
        return;
      }
      const text = body.text?.body;
      if (typeof text !== 'string' || text === '') {
        invalid("(#100) The parameter text['body'] is required.");
        return;
      }
      if (tooLong(text)) {
        invalid(`(#100) Param text['body'] must be at most ${limit.max} characters long.`);
        return;
      }
      const messageId = `wamid.HBgL${randomBytes(24).toString('base64url')}`;
      sent.push({ channel: 'whatsapp', to, text, messageId });
      const waId = to.replace(/^\+/, '');
      answer(200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: to, wa_id: waId }],
        messages: [{ id: messageId }],
      });
      return;
    }

    const recipient = body.recipient?.id;
    if (typeof recipient !== 'string' || recipient === '') {
      invalid('(#100) The parameter recipient is required');
      return;
    }
    if (account.channel === 'messenger') {
      const type = body.messaging_type;
      if (type !== 'RESPONSE' && type !== 'UPDATE' && type !== 'MESSAGE_TAG') {
        invalid('(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}');
        return;
      }
    }
    if (!/^\d{5,30}$/.test(recipient)) {
      invalid('(#100) No matching user found', 2018001);
      return;
    }
    const text = body.message?.text;
    if (typeof text !== 'string' || text === '') {
      invalid('(#100) Param message must be non-empty');
      return;
    }
    if (tooLong(text)) {
      invalid(`(#100) Length of param message[text] must be less than or equal to ${limit.max}`);
      return;
    }
    const messageId =
      account.channel === 'instagram'
        ? `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOj${randomBytes(18).toString('base64url')}`
        : `m_${randomBytes(30).toString('base64url')}`;
    sent.push({ channel: account.channel, to: recipient, text, messageId });
    answer(200, { recipient_id: recipient, message_id: messageId });
  });

  const { url, close } = await listenHttp(server);
  return {
    url,
    accounts,
    calls,
    sent,
    account(channel) {
      const found = accounts.find((a) => a.channel === channel);
      if (!found) throw new Error(`no ${channel} account configured`);
      return found;
    },
    failNext: failures.failNext,
    clearFailures: failures.clear,
    reset() {
      calls.length = 0;
      sent.length = 0;
      failures.clear();
    },
    close,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the body as the client sent it
type Body = Record<string, any>;

/** A JSON body, or form fields whose objects come JSON-encoded (`recipient={"id":…}`); undefined if unreadable. */
function readBody(req: IncomingMessage, raw: Buffer): Body | undefined {
  if (raw.length === 0) return {};
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') {
    try {
      const json = JSON.parse(raw.toString('utf8'));
      return json !== null && typeof json === 'object' && !Array.isArray(json) ? json : undefined;
    } catch {
      return undefined;
    }
  }
  const body: Body = {};
  for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) {
    try {
      body[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
    } catch {
      body[key] = value;
    }
  }
  return body;
}
