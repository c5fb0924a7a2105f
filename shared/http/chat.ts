import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import type { Bot } from '../domain/bot.ts';
import { type ChatTurnInput, resolveBot } from '../usecases/chat.ts';
import { botRead, type ChatFunctionDeps, callerFor, chatCaller, sourceIp } from './chat-caller.ts';
import { allowOrigin, cors } from './cors.ts';
import { type BufferedHttpHandler, httpHandler, type StreamingHttpHandler } from './handler.ts';
import type { HttpResult, StreamedResult } from './response.ts';
import type { RouteTable } from './router.ts';

// What the two chat functions share: POST /chat/{botId} answers a turn buffered (the chat
// function), POST /chat/{botId}/stream the same turn as Server-Sent Events (chat-stream). One
// chain, one request schema, one way to find the caller and the bot.

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

/**
 * The chat functions' chain: the HTTP chain of every function (log context, tracing, error
 * envelope, headers, JSON body up to the admin cap), with the bot's CORS headers on every
 * response and the caller found before the route (chat-caller.ts). Streamed for chat-stream.
 */
export function chatChain(
  routes: RouteTable,
  deps: () => ChatFunctionDeps,
  options?: { streaming?: false },
): BufferedHttpHandler;
export function chatChain(
  routes: RouteTable<StreamedResult>,
  deps: () => ChatFunctionDeps,
  options: { streaming: true },
): StreamingHttpHandler;
export function chatChain(
  routes: RouteTable<HttpResult>,
  deps: () => ChatFunctionDeps,
  options: { streaming?: boolean } = {},
): BufferedHttpHandler | StreamingHttpHandler {
  const chain = { outer: cors(), inner: chatCaller(deps) };
  return options.streaming
    ? httpHandler(routes as RouteTable<StreamedResult>, deps, { ...chain, streaming: true })
    : httpHandler(routes as RouteTable, deps, chain);
}

/**
 * The bot this request's caller may talk to; for a browser on an allowed origin (the bot's, or
 * Parley's own pages), the response may then be shared with it (CORS).
 */
export async function botFor(deps: ChatFunctionDeps, event: APIGatewayProxyEvent, botId: string) {
  const caller = callerFor(event);
  // The bot was read with the caller's key when there was one: no second read.
  const read = botRead(event);
  const bot = await resolveBot(
    read?.id === botId ? { bots: { findById: async () => read } } : deps,
    botId,
    caller,
  );
  const origin = event.headers.origin;
  if (origin && (bot.allowedOrigins.includes(origin) || (caller.kind === 'anonymous' && caller.webApp))) {
    allowOrigin(event, origin);
  }
  return { bot, caller };
}

/** The turn a chat request asks for, buffered or streamed. */
export function turnInput(
  deps: Pick<ChatFunctionDeps, 'originSecret'>,
  event: APIGatewayProxyEvent,
  bot: Bot,
  body: z.output<typeof ChatRequestSchema>,
): ChatTurnInput {
  const caller = callerFor(event);
  return {
    bot,
    message: body.message,
    sessionId: body.sessionId,
    caller,
    channel: caller.kind === 'tenant' ? 'api' : 'web',
    userIdentity: sourceIp(event, deps.originSecret),
    ...(body.userId !== undefined && { userId: body.userId }),
  };
}
