import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Bot } from '../domain/bot.ts';
import type { ChatCaller } from '../usecases/chat.ts';
import type { ChatDeps } from '../usecases/deps.ts';
import { type AuthDeps, authenticate } from './auth.ts';
import { viewerOf } from './edge.ts';
import type { HttpMiddleware } from './middlewares.ts';

// The chat routes' two ways in: a tenant key (the tenant's backend), or none (a visitor of a
// public bot, whose browser names its origin). The route table marks them `none`: the caller is
// found here instead, by a middleware that runs before every chat route.

export interface ChatFunctionDeps extends ChatDeps, AuthDeps {
  /** Where Parley's own pages (hosted chat page, widget frame) are served from, when not the API's origin. */
  webOrigin?: string;
  /** The secret CloudFront sends as its origin header (shared/http/edge.ts); unset locally. */
  originSecret?: string;
}

/** The header Parley's widget frame sends: the origin of the site that embeds it. */
export const EMBEDDER_HEADER = 'x-parley-embedder';

/**
 * Whether a browser request comes from Parley's own pages: their origin is the configured web
 * origin, or the origin the request itself was made to (the pages and the API share one: the
 * local platform, and CloudFront in AWS).
 */
export function fromWebApp(
  deps: Pick<ChatFunctionDeps, 'webOrigin' | 'originSecret'>,
  event: APIGatewayProxyEvent,
  origin: string,
): boolean {
  if (deps.webOrigin && origin === deps.webOrigin) return true;
  // Behind CloudFront the pages' host arrives as x-forwarded-host, trusted only with the origin secret.
  const { host, schemes } = viewerOf(event, deps.originSecret);
  return host !== undefined && schemes.some((scheme) => origin === `${scheme}://${host}`);
}

/**
 * The caller: a tenant key when one is sent (checked like every admin key), otherwise an
 * anonymous visitor identified by the Origin header its browser sent.
 */
export async function callerOf(deps: ChatFunctionDeps, event: APIGatewayProxyEvent): Promise<ChatCaller> {
  if (event.headers.authorization) {
    const principal = await authenticate('tenant', event.headers, withBotRead(deps, event));
    if (principal.kind === 'tenant') return { kind: 'tenant', tenantId: principal.tenantId };
  }
  const origin = event.headers.origin;
  const embedder = event.headers[EMBEDDER_HEADER] || undefined;
  // The hosted page (no embedder) or the widget frame on the embedding site. Browsers send no
  // Origin on same-origin GETs: the frame's embedder header still names the site then.
  if ((origin && fromWebApp(deps, event, origin)) || (!origin && embedder)) {
    return { kind: 'anonymous', origin, site: embedder, webApp: true };
  }
  return { kind: 'anonymous', origin };
}

const callers = new WeakMap<APIGatewayProxyEvent, ChatCaller>();
const botsRead = new WeakMap<APIGatewayProxyEvent, Bot>();

/**
 * The key's read that also reads the bot the request names (one call for both): the bot is kept
 * for `botRead`, the key checked as every key is.
 */
function withBotRead(deps: ChatFunctionDeps, event: APIGatewayProxyEvent): ChatFunctionDeps {
  const botId = event.pathParameters?.botId;
  if (!botId) return deps;
  const getForAuth = async (keyId: string) => {
    const { key, bot } = await deps.keys.getForAuthWithBot(keyId, botId);
    if (bot) botsRead.set(event, bot);
    return key;
  };
  return { ...deps, keys: { ...deps.keys, getForAuth } };
}

/**
 * The bot this request names, as it was read with the caller's key (undefined when it was not:
 * no key, or a bot only the index finds).
 */
export const botRead = (event: APIGatewayProxyEvent): Bot | undefined => botsRead.get(event);

/**
 * Finds the caller of every chat request but preflights (which carry no credentials), after the
 * body is parsed and before it is validated, as the router authenticates: a wrong key is a 401
 * whatever the body says.
 */
export function chatCaller(deps: () => ChatFunctionDeps): HttpMiddleware {
  return {
    before: async ({ event }) => {
      if (event.httpMethod !== 'OPTIONS') callers.set(event, await callerOf(deps(), event));
    },
  };
}

/** The caller chatCaller found for this request. */
export function callerFor(event: APIGatewayProxyEvent): ChatCaller {
  const caller = callers.get(event);
  if (!caller) throw new Error('chat route called without the chatCaller middleware');
  return caller;
}

/** The end user's address for the per-user limits: the viewer's through CloudFront, else the connection's. */
export const sourceIp = (event: APIGatewayProxyEvent, originSecret: string | undefined) =>
  viewerOf(event, originSecret).ip;
