// A local HTTP server (127.0.0.1 only) that answers Telegram's Bot API the way api.telegram.org
// does, for testing the Telegram client through the real `fetch` (give it `baseUrl: server.url`):
// - `/bot<token>/<method>` (method names case-insensitive, GET or POST) for getMe, setWebhook,
//   deleteWebhook, getWebhookInfo and sendMessage, parameters as JSON, form fields (arrays as JSON
//   strings) or the query string; answers `{ok: true, result}` or `{ok: false, error_code,
//   description, parameters?}`;
// - 401 `Unauthorized` for a token it does not know, 404 `Not Found` for an unknown method;
// - sendMessage's checks: an empty text, more than 4096 characters after entity parsing ("message
//   is too long"), HTML parse mode with only Telegram's tags, balanced ("can't parse entities"),
//   a chat id that cannot exist ("chat not found"), a user who blocked the bot (403);
// - setWebhook's: an HTTPS URL (plain HTTP is allowed for loopback hosts, so local platforms can
//   use it), a secret token of 1–256 characters from A–Z, a–z, 0–9, _ and -;
// - failures on demand: 429 with `retry_after`, 5xx (a 502 is an HTML page, as a proxy sends it),
//   a Bad Request with any description, a request that never gets an answer.
// Every call is recorded in order (`calls`), and every delivered message (`sent`).

import { createServer, type IncomingMessage } from 'node:http';
import { failureQueue } from './failure-queue.ts';
import { listenHttp, readRequestBody } from './listen.ts';

export type TelegramFailure =
  /** 429 `Too Many Requests: retry after N` with `parameters.retry_after` (seconds, default 1). */
  | { kind: 'rate_limit'; retryAfter?: number }
  /** A 5xx: 500 as Bot API JSON, 502 as nginx's HTML page. */
  | { kind: 'server_error'; status?: number }
  /** Any other Bot API error, e.g. 400 `Bad Request: can't parse entities: …`. */
  | { kind: 'bad_request'; description: string; status?: number }
  /** No answer at all (the connection stays open until the client gives up or close()). */
  | { kind: 'hang' }
  /** The call is carried out (a message is delivered) but its answer never comes: a lost response. */
  | { kind: 'lose_answer' };

export interface TelegramWireCall {
  readonly method: string;
  readonly token: string;
  readonly httpMethod: string;
  /** Where the parameters came from. */
  readonly encoding: 'json' | 'form' | 'query' | 'none';
  // biome-ignore lint/suspicious/noExplicitAny: the parameters as the client sent them
  readonly params: Record<string, any>;
  /** The HTTP status answered (undefined while unanswered, or for a hang). */
  status?: number;
}

export interface WireSentMessage {
  readonly channel: 'telegram';
  readonly to: string;
  /** What the user sees: the text after entity parsing. */
  readonly text: string;
  /** The text as sent (HTML when `parseMode` is HTML). */
  readonly raw: string;
  readonly parseMode?: string;
  readonly messageId: number;
}

export interface TelegramWebhook {
  url: string;
  secretToken?: string;
  allowedUpdates?: string[];
  dropPendingUpdates?: boolean;
}

export interface TelegramWireServer {
  /** The Bot API origin to give the client. */
  readonly url: string;
  /** The bot tokens it accepts; the bot's id is the token's prefix. */
  readonly tokens: readonly string[];
  readonly calls: TelegramWireCall[];
  readonly sent: WireSentMessage[];
  /** Chats whose user blocked the bot: 403 `Forbidden: bot was blocked by the user`. */
  readonly blockedChats: Set<string>;
  /** The bot's webhook as set, secret included (getWebhookInfo does not show the secret). */
  webhookOf(token: string): TelegramWebhook | undefined;
  /** The username getMe answers for a token. */
  usernameOf(token: string): string;
  /** The next `count` calls (after `after` that pass) fail this way; queued after earlier failures. */
  failNext(count: number, failure: TelegramFailure, options?: { after?: number }): void;
  clearFailures(): void;
  /** Forgets calls, messages, webhooks, blocked chats and queued failures. */
  reset(): void;
  close(): Promise<void>;
}

export const DEFAULT_TELEGRAM_TOKEN = '123456789:AAHwireTestToken_abcdefghijklmnopqrs';

/** The tags Telegram's HTML parse mode supports. */
const TELEGRAM_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);

const TAG = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*)\s*>/y;
const ENTITY = /&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/y;

/**
 * Parses HTML parse mode roughly as Telegram does: only its tags, each closed in order; `&lt;`,
 * `&gt;`, `&amp;`, `&quot;` and numeric entities decoded. Gives the text the user sees, or the
 * Bad Request description Telegram answers.
 */
export function parseTelegramHtml(
  html: string,
): { ok: true; text: string } | { ok: false; description: string } {
  const fail = (why: string) => ({
    ok: false as const,
    description: `Bad Request: can't parse entities: ${why}`,
  });
  const offset = (index: number) => Buffer.byteLength(html.slice(0, index), 'utf8');
  const open: string[] = [];
  let text = '';
  let i = 0;
  while (i < html.length) {
    const c = html[i];
    if (c === '<') {
      TAG.lastIndex = i;
      const tag = TAG.exec(html);
      if (!tag) return fail(`Unexpected end of name token at byte offset ${offset(i)}`);
      const name = (tag[2] ?? '').toLowerCase();
      if (tag[1] === '') {
        if (!TELEGRAM_TAGS.has(name))
          return fail(`Unsupported start tag "${name}" at byte offset ${offset(i)}`);
        open.push(name);
      } else {
        const expected = open.pop();
        if (expected === undefined) return fail(`Unexpected end tag at byte offset ${offset(i)}`);
        if (expected !== name) {
          return fail(
            `Unmatched end tag at byte offset ${offset(i)}, expected "</${expected}>", found "</${name}>"`,
          );
        }
      }
      i += tag[0].length;
      continue;
    }
    if (c === '&') {
      ENTITY.lastIndex = i;
      const entity = ENTITY.exec(html);
      if (entity) {
        const name = (entity[1] ?? '').toLowerCase();
        text +=
          name === 'lt'
            ? '<'
            : name === 'gt'
              ? '>'
              : name === 'amp'
                ? '&'
                : name === 'quot'
                  ? '"'
                  : String.fromCodePoint(
                      Math.min(
                        0x10ffff,
                        name.startsWith('#x') ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)),
                      ),
                    );
        i += entity[0].length;
        continue;
      }
      // Telegram keeps an `&` that starts no entity as it is.
    }
    text += c;
    i++;
  }
  const unclosed = open.pop();
  if (unclosed !== undefined) return fail(`Can't find end tag corresponding to start tag "${unclosed}"`);
  return { ok: true, text };
}

/** Fields Telegram takes JSON-serialized when they come as form fields or in the query string. */
const JSON_FIELDS = new Set(['allowed_updates', 'reply_markup', 'entities', 'link_preview_options']);

export async function startTelegramServer(options: { tokens?: string[] } = {}): Promise<TelegramWireServer> {
  const tokens = options.tokens ?? [DEFAULT_TELEGRAM_TOKEN];
  const calls: TelegramWireCall[] = [];
  const sent: WireSentMessage[] = [];
  const webhooks = new Map<string, TelegramWebhook>();
  const blockedChats = new Set<string>();
  const failures = failureQueue<TelegramFailure>();
  let nextMessageId = 1;

  const botId = (token: string) => Number(token.split(':')[0]);
  const usernameOf = (token: string) => `parley_wire_${botId(token)}_bot`;

  const server = createServer(async (req, res) => {
    const raw = await readRequestBody(req);
    const url = new URL(req.url ?? '/', 'http://wire');
    const match = /^\/bot([^/]*)\/([A-Za-z]+)\/?$/.exec(url.pathname);
    const { params, encoding } = readParams(req, url, raw);
    const call: TelegramWireCall = {
      method: match?.[2] ?? url.pathname,
      token: decodeURIComponent(match?.[1] ?? ''),
      httpMethod: req.method ?? 'GET',
      encoding,
      params: params ?? {},
    };
    calls.push(call);
    let answerLost = false;
    const answer = (status: number, body: unknown) => {
      call.status = status;
      if (answerLost) return; // the connection stays open until the client gives up or close()
      res.writeHead(status, {
        server: 'nginx/1.18.0',
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
      });
      res.end(JSON.stringify(body));
    };
    const ok = (result: unknown, description?: string) =>
      answer(200, { ok: true, result, ...(description ? { description } : {}) });
    const error = (status: number, description: string, parameters?: Record<string, unknown>) =>
      answer(status, { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) });

    if (!match) {
      error(404, 'Not Found');
      return;
    }
    if (!tokens.includes(call.token)) {
      error(401, 'Unauthorized');
      return;
    }
    if (params === undefined) {
      error(400, "Bad Request: can't parse JSON object");
      return;
    }

    const failure = failures.next();
    if (failure?.kind === 'hang') return; // ended by the client's timeout or close()
    answerLost = failure?.kind === 'lose_answer';
    if (failure?.kind === 'rate_limit') {
      const retryAfter = failure.retryAfter ?? 1;
      error(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
      return;
    }
    if (failure?.kind === 'server_error') {
      const status = failure.status ?? 500;
      if (status === 502) {
        call.status = 502;
        res.writeHead(502, { server: 'nginx/1.18.0', 'content-type': 'text/html' });
        res.end(
          '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n',
        );
        return;
      }
      error(status, status === 500 ? 'Internal Server Error' : `Error ${status}`);
      return;
    }
    if (failure?.kind === 'bad_request') {
      error(failure.status ?? 400, failure.description);
      return;
    }

    const token = call.token;
    const bot = {
      id: botId(token),
      is_bot: true,
      first_name: 'Parley Wire Bot',
      username: usernameOf(token),
    };
    switch (call.method.toLowerCase()) {
      case 'getme':
        ok({
          ...bot,
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        });
        return;

      case 'setwebhook': {
        const target = String(params.url ?? '');
        if (target === '') {
          const had = webhooks.delete(token);
          ok(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
          return;
        }
        let parsed: URL;
        try {
          parsed = new URL(target);
        } catch {
          error(400, 'Bad Request: bad webhook: Failed to resolve host: Name or service not known');
          return;
        }
        const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
        if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
          error(400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
          return;
        }
        const secret = params.secret_token;
        if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) {
          error(400, 'Bad Request: secret token contains unallowed characters');
          return;
        }
        const allowed = params.allowed_updates;
        if (
          allowed !== undefined &&
          (!Array.isArray(allowed) || !allowed.every((u) => typeof u === 'string'))
        ) {
          error(400, "Bad Request: can't parse allowed updates");
          return;
        }
        webhooks.set(token, {
          url: target,
          secretToken: secret,
          allowedUpdates: allowed,
          dropPendingUpdates: truthy(params.drop_pending_updates),
        });
        ok(true, 'Webhook was set');
        return;
      }

      case 'deletewebhook': {
        const had = webhooks.delete(token);
        ok(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
        return;
      }

      case 'getwebhookinfo': {
        const hook = webhooks.get(token);
        ok({
          url: hook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: 0,
          ...(hook ? { max_connections: 40, ip_address: '127.0.0.1' } : {}),
          ...(hook?.allowedUpdates ? { allowed_updates: hook.allowedUpdates } : {}),
        });
        return;
      }

      case 'sendmessage': {
        const chatId = params.chat_id === undefined ? '' : String(params.chat_id);
        if (chatId === '') {
          error(400, 'Bad Request: chat_id is empty');
          return;
        }
        if (!/^-?\d{1,20}$/.test(chatId) && !/^@\w{4,}$/.test(chatId)) {
          error(400, 'Bad Request: chat not found');
          return;
        }
        if (blockedChats.has(chatId)) {
          error(403, 'Forbidden: bot was blocked by the user');
          return;
        }
        const rawText = typeof params.text === 'string' ? params.text : '';
        const parseMode = typeof params.parse_mode === 'string' ? params.parse_mode : undefined;
        let visible = rawText;
        if (parseMode !== undefined && parseMode !== '') {
          const mode = parseMode.toLowerCase();
          if (mode === 'html') {
            const parsed = parseTelegramHtml(rawText);
            if (!parsed.ok) {
              error(400, parsed.description);
              return;
            }
            visible = parsed.text;
          } else if (mode !== 'markdown' && mode !== 'markdownv2') {
            error(400, 'Bad Request: unsupported parse_mode');
            return;
          }
        }
        if (visible.trim() === '') {
          error(400, 'Bad Request: message text is empty');
          return;
        }
        if (visible.length > 4096) {
          error(400, 'Bad Request: message is too long');
          return;
        }
        const messageId = nextMessageId++;
        sent.push({ channel: 'telegram', to: chatId, text: visible, raw: rawText, parseMode, messageId });
        ok({
          message_id: messageId,
          from: bot,
          chat: /^@/.test(chatId)
            ? { id: -1001000000000, title: chatId.slice(1), username: chatId.slice(1), type: 'channel' }
            : { id: Number(chatId), first_name: 'Wire', type: Number(chatId) < 0 ? 'group' : 'private' },
          date: Math.floor(Date.now() / 1000),
          text: visible,
        });
        return;
      }

      default:
        error(404, 'Not Found: method not found');
    }
  });

  const { url, close } = await listenHttp(server);
  return {
    url,
    tokens,
    calls,
    sent,
    blockedChats,
    webhookOf: (token) => webhooks.get(token),
    usernameOf,
    failNext: failures.failNext,
    clearFailures: failures.clear,
    reset() {
      calls.length = 0;
      sent.length = 0;
      webhooks.clear();
      blockedChats.clear();
      failures.clear();
    },
    close,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: parameters as the client sent them
type Params = Record<string, any>;

/** The call's parameters from the query string and a JSON or form body; undefined if the JSON is bad. */
function readParams(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
): { params: Params | undefined; encoding: TelegramWireCall['encoding'] } {
  const params: Params = {};
  let encoding: TelegramWireCall['encoding'] = 'none';
  const fromFields = (fields: URLSearchParams) => {
    for (const [key, value] of fields) params[key] = JSON_FIELDS.has(key) ? parseJsonField(value) : value;
  };
  if ([...url.searchParams.keys()].length > 0) {
    fromFields(url.searchParams);
    encoding = 'query';
  }
  if (body.length === 0) return { params, encoding };
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') {
    try {
      const json = JSON.parse(body.toString('utf8'));
      if (json === null || typeof json !== 'object' || Array.isArray(json))
        return { params: undefined, encoding };
      Object.assign(params, json);
      return { params, encoding: 'json' };
    } catch {
      return { params: undefined, encoding: 'json' };
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    fromFields(new URLSearchParams(body.toString('utf8')));
    return { params, encoding: 'form' };
  }
  return { params, encoding };
}

function parseJsonField(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

const truthy = (value: unknown) => value === true || value === 'true' || value === '1' || value === 1;
