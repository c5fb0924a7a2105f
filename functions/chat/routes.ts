import * as z from 'zod';
import { NotFoundError } from '../../shared/domain/errors.ts';
import { CitationSchema } from '../../shared/domain/session.ts';
import { botFor, ChatRequestSchema, turnInput } from '../../shared/http/chat.ts';
import { type ChatFunctionDeps, EMBEDDER_HEADER, fromWebApp } from '../../shared/http/chat-caller.ts';
import { preflightAllowed } from '../../shared/http/cors.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable } from '../../shared/http/router.ts';
import { chatTurn, clearSession } from '../../shared/usecases/chat.ts';

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

/** The CORS preflight of every chat path, the streamed one included (it is cheap, and buffered). */
const preflightRoute = (deps: () => ChatFunctionDeps) =>
  defineRoute({
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
      return preflightAllowed(origin, ['content-type', 'authorization', EMBEDDER_HEADER]);
    },
  });

const configRoute = (deps: () => ChatFunctionDeps) =>
  defineRoute({
    summary: 'A public bot’s widget configuration: name, greeting, branding',
    responses: { 200: { description: 'The public configuration', schema: PublicConfigSchema } },
    run: async ({ params, event }) => {
      const { bot, caller } = await botFor(deps(), event, params.botId ?? '');
      if (caller.kind === 'anonymous' || bot.visibility === 'public') {
        return json(200, { name: bot.name, greeting: bot.greeting, branding: bot.branding });
      }
      throw new NotFoundError('No such bot');
    },
  });

const turnRoute = (deps: () => ChatFunctionDeps) =>
  defineRoute({
    summary: 'Send a message; the answer comes with its citations (omit sessionId to start a conversation)',
    body: ChatRequestSchema,
    responses: {
      200: { description: 'The answer', schema: ChatResponseSchema },
      403: { description: 'The bot is disabled (bot_disabled)' },
      429: { description: 'rate_limited (with Retry-After) or quota_exceeded' },
    },
    run: async ({ params, body, event }) => {
      const d = deps();
      const botId = params.botId ?? '';
      const { bot } = await botFor(d, event, botId);
      return json(200, await chatTurn(d, turnInput(d, event, bot, body)));
    },
  });

const clearRoute = (deps: () => ChatFunctionDeps) =>
  defineRoute({
    summary: 'Clear a conversation: its messages are deleted',
    responses: { 204: { description: 'Cleared' } },
    run: async ({ params, event }) => {
      const d = deps();
      const { bot, caller } = await botFor(d, event, params.botId ?? '');
      await clearSession(d, bot, caller, params.sessionId ?? '');
      return noContent();
    },
  });

/** The chat function's routes: a public bot's configuration, buffered turns, clearing, preflights. */
export function chatRoutes(deps: () => ChatFunctionDeps): RouteTable {
  const preflight = preflightRoute(deps);
  return {
    'GET /chat/{botId}': configRoute(deps),
    'POST /chat/{botId}': turnRoute(deps),
    'OPTIONS /chat/{botId}': preflight,
    'DELETE /chat/{botId}/sessions/{sessionId}': clearRoute(deps),
    'OPTIONS /chat/{botId}/sessions/{sessionId}': preflight,
    'OPTIONS /chat/{botId}/stream': preflight,
  };
}
