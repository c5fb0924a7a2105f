import { ChatRequestSchema } from '../../shared/http/chat.ts';
import type { RouteDoc } from '../../shared/http/router.ts';

/** The route's contract, for the OpenAPI document (and the route itself, routes.ts). */
export const chatStreamDocs = {
  'POST /chat/{botId}/stream': {
    summary:
      'Send a message and receive the answer as Server-Sent Events: session {sessionId}, delta {text}…, citations {citations}, done {usage, fallback, answered}; or error {code, message}',
    body: ChatRequestSchema,
    responses: {
      200: { description: 'text/event-stream' },
      403: { description: 'The bot is disabled (bot_disabled)' },
      429: { description: 'rate_limited (with Retry-After) or quota_exceeded' },
    },
  },
} satisfies Record<string, RouteDoc<typeof ChatRequestSchema>>;
