import type { APIGatewayProxyEvent } from 'aws-lambda';
import { botFor, turnInput } from '../../shared/http/chat.ts';
import type { ChatFunctionDeps } from '../../shared/http/chat-caller.ts';
import type { StreamedResult } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable } from '../../shared/http/router.ts';
import { pullStream, sseEvent } from '../../shared/http/sse.ts';
import { logger } from '../../shared/logging.ts';
import { ChatModelUnavailableError } from '../../shared/ports/chat-model.ts';
import { type ChatStreamOutput, chatTurnStream } from '../../shared/usecases/chat.ts';
import { chatStreamDocs } from './docs.ts';

// POST /chat/{botId}/stream: the same turn as POST /chat/{botId}, as Server-Sent Events through
// Lambda response streaming: `session`, `delta`…, `citations`, `done` — or `error`. Problems found
// before the first event (auth, validation, limits) are ordinary JSON error responses.

/** The SSE payload of an event: everything but its type. */
function eventData<T extends { type: string }>(event: T): Omit<T, 'type'> {
  const { type: _type, ...data } = event;
  return data;
}

/** The turn's events as SSE text; a failure once the stream has started ends it with an `error` event. */
async function* sseEvents(
  first: IteratorResult<ChatStreamOutput>,
  rest: AsyncGenerator<ChatStreamOutput>,
  requestId: string,
): AsyncGenerator<string> {
  try {
    if (!first.done) yield sseEvent(first.value.type, eventData(first.value));
    for await (const item of rest) yield sseEvent(item.type, eventData(item));
  } catch (error) {
    const interrupted = error instanceof ChatModelUnavailableError;
    if (!interrupted) logger.error('stream failed', { error });
    yield sseEvent('error', {
      code: 'internal',
      message: interrupted ? 'The answer was interrupted; please ask again' : 'Internal error',
      requestId,
    });
  }
}

async function streamTurn(
  deps: ChatFunctionDeps,
  event: APIGatewayProxyEvent,
  botId: string,
  body: Parameters<typeof turnInput>[3],
): Promise<StreamedResult> {
  const { bot } = await botFor(deps, event, botId);
  // The local gateway destroys the stream when the client leaves: the model call stops then.
  // (Lambda gives no such signal; there the use-case's deadline and token cap bound the stream.)
  const clientGone = new AbortController();
  const turns = chatTurnStream(deps, turnInput(deps, event, bot, body), clientGone.signal);
  // The first event comes after admission: refusals are still plain HTTP errors.
  const first = await turns.next();
  const requestId = event.requestContext?.requestId ?? 'unknown';
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' },
    body: pullStream(sseEvents(first, turns, requestId), () =>
      clientGone.abort(new Error('the client disconnected')),
    ),
  };
}

/** The chat-stream function's one route. */
export function chatStreamRoutes(deps: () => ChatFunctionDeps): RouteTable<StreamedResult> {
  return {
    'POST /chat/{botId}/stream': defineRoute({
      ...chatStreamDocs['POST /chat/{botId}/stream'],
      run: ({ params, body, event }) => streamTurn(deps(), event, params.botId ?? '', body),
    }),
  };
}
