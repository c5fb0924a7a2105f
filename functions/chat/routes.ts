import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { NotFoundError } from '../../shared/domain/errors.ts';
import { CitationSchema } from '../../shared/domain/session.ts';
import { type AuthDeps, authenticate } from '../../shared/http/auth.ts';
import { viewerOf } from '../../shared/http/edge.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable } from '../../shared/http/router.ts';
import {
  type ChatCaller,
  type ChatDeps,
  chatTurn,
  clearSession,
  resolveBot,
} from '../../shared/usecases/chat.ts';

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
function fromWebApp(
  deps: Pick<ChatFunctionDeps, 'webOrigin' | 'originSecret'>,
  event: APIGatewayProxyEvent,
  origin: string,
) {
  if (deps.webOrigin && origin === deps.webOrigin) return true;
  // Behind CloudFront the pages' host arrives as x-forwarded-host, trusted only with the origin secret.
  const { host, schemes } = viewerOf(event, deps.originSecret);
  return host !== undefined && schemes.some((scheme) => origin === `${scheme}://${host}`);
}

export const ChatRequestSchema = z
  .strictObject({
    message: z.string().trim().min(1).max(4000),
    sessionId: z.string().min(1).max(100).optional(),
    userId: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .describe(
        'With a tenant key only: your end user’s id, for per-user rate limits when your backend serves many people from one address',
      ),
  })
  .meta({ id: 'ChatRequest' });

const ChatResponseSchema = z
  .object({
    sessionId: z.string(),
    reply: z.string(),
    citations: z.array(CitationSchema),
    usage: z.object({ inputTokens: z.int(), outputTokens: z.int() }),
    fallback: z
      .boolean()
      .describe('True when the model was unavailable and this is the bot’s fallback message'),
    answered: z
      .boolean()
      .describe(
        'False when the bot did not answer: nothing relevant was in its documents (its noAnswerMessage) or the provider was down (fallback)',
      ),
  })
  .meta({ id: 'ChatResponse' });

const PublicConfigSchema = z
  .object({ name: z.string(), greeting: z.string(), branding: z.record(z.string(), z.unknown()) })
  .meta({ id: 'BotPublicConfig' });

/** Origins a response may be shared with, per request (set once the bot is known). */
const corsOrigins = new WeakMap<APIGatewayProxyEvent, string>();

/** Adds the bot's CORS headers to every response of a request, errors included. */
export const chatCors: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> = {
  after: (request) => addCors(request.event, request.response),
  onError: (request) => addCors(request.event, request.response),
};

export function addCors(event: APIGatewayProxyEvent, response: APIGatewayProxyResult | null | undefined) {
  const origin = corsOrigins.get(event);
  if (!origin || !response) return;
  response.headers = {
    ...response.headers,
    'access-control-allow-origin': origin,
    'access-control-expose-headers': 'retry-after, x-request-id',
    vary: 'Origin',
  };
}

/**
 * The caller: a tenant key when one is sent (checked like every admin key), otherwise an
 * anonymous visitor identified by the Origin header its browser sent.
 */
export async function callerOf(deps: ChatFunctionDeps, event: APIGatewayProxyEvent): Promise<ChatCaller> {
  if (event.headers.authorization) {
    const principal = await authenticate('tenant', event.headers, deps);
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

/** Resolves the bot for this caller and, for browsers on an allowed origin, allows CORS (see addCors). */
export async function botFor(deps: ChatFunctionDeps, event: APIGatewayProxyEvent, botId: string) {
  const caller = await callerOf(deps, event);
  const bot = await resolveBot(deps, botId, caller);
  const origin = event.headers.origin;
  if (origin && (bot.allowedOrigins.includes(origin) || (caller.kind === 'anonymous' && caller.webApp))) {
    corsOrigins.set(event, origin);
  }
  return { bot, caller };
}

/** The end user's address for the per-user limits: the viewer's through CloudFront, else the connection's. */
export const sourceIp = (event: APIGatewayProxyEvent, originSecret: string | undefined) =>
  viewerOf(event, originSecret).ip;

export function chatRoutes(deps: () => ChatFunctionDeps): RouteTable {
  const preflight = defineRoute({
    summary: 'CORS preflight for browsers on the bot’s allowed origins',
    responses: { 204: { description: 'Allowed (headers say which methods and headers)' } },
    run: async ({ params, event }) => {
      const origin = event.headers.origin;
      const bot = await deps().bots.findById(params.botId ?? '');
      if (
        !origin ||
        !bot ||
        bot.visibility !== 'public' ||
        !bot.enabled ||
        !(bot.allowedOrigins.includes(origin) || fromWebApp(deps(), event, origin))
      ) {
        return noContent(); // no CORS headers: the browser refuses the real request
      }
      return {
        statusCode: 204,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
          'access-control-allow-headers': `content-type, authorization, ${EMBEDDER_HEADER}`,
          'access-control-max-age': '600',
          vary: 'Origin',
        },
        body: '',
      };
    },
  });
  return {
    'GET /chat/{botId}': defineRoute({
      summary: 'A public bot’s widget configuration: name, greeting, branding',
      responses: { 200: { description: 'The public configuration', schema: PublicConfigSchema } },
      run: async ({ params, event }) => {
        const { bot, caller } = await botFor(deps(), event, params.botId ?? '');
        if (caller.kind === 'anonymous' || bot.visibility === 'public') {
          return json(200, { name: bot.name, greeting: bot.greeting, branding: bot.branding });
        }
        throw new NotFoundError('No such bot');
      },
    }),
    'POST /chat/{botId}': defineRoute({
      summary: 'Send a message; the answer comes with its citations (omit sessionId to start a conversation)',
      body: ChatRequestSchema,
      responses: {
        200: { description: 'The answer', schema: ChatResponseSchema },
        403: { description: 'The bot is disabled (bot_disabled)' },
        429: { description: 'rate_limited (with Retry-After) or quota_exceeded' },
      },
      run: async ({ params, body, event }) => {
        const d = deps();
        const { caller } = await botFor(d, event, params.botId ?? '');
        const result = await chatTurn(d, {
          botId: params.botId ?? '',
          message: body.message,
          sessionId: body.sessionId,
          caller,
          channel: caller.kind === 'tenant' ? 'api' : 'web',
          userIdentity: sourceIp(event, d.originSecret),
          ...(body.userId !== undefined && { userId: body.userId }),
        });
        return json(200, result);
      },
    }),
    'OPTIONS /chat/{botId}': preflight,
    'DELETE /chat/{botId}/sessions/{sessionId}': defineRoute({
      summary: 'Clear a conversation: its messages are deleted',
      responses: { 204: { description: 'Cleared' } },
      run: async ({ params, event }) => {
        const d = deps();
        const { bot, caller } = await botFor(d, event, params.botId ?? '');
        await clearSession(d, bot, caller, params.sessionId ?? '');
        return noContent();
      },
    }),
    'OPTIONS /chat/{botId}/sessions/{sessionId}': preflight,
    'OPTIONS /chat/{botId}/stream': preflight,
  };
}
