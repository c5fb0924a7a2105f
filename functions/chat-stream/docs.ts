import type { RouteDoc } from '../../shared/http/router.ts';
import { ChatRequestSchema } from '../chat/routes.ts';

/** The route's contract, for the OpenAPI document (this function streams; it has no router). */
export const chatStreamDocs: Record<string, RouteDoc> = {
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
};
