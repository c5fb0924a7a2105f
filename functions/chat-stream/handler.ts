import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  BadRequestError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../../shared/domain/errors.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { ADMIN_MAX_BODY_BYTES } from '../../shared/http/handler.ts';
import { errorResult } from '../../shared/http/middlewares.ts';
import { logger } from '../../shared/logging.ts';
import { ChatModelUnavailableError } from '../../shared/ports/chat-model.ts';
import { chatTurnStream } from '../../shared/usecases/chat.ts';
import { deps } from '../chat/deps.ts';
import { addCors, botFor, ChatRequestSchema, sourceIp } from '../chat/routes.ts';

// POST /chat/{botId}/stream: the same turn as POST /chat/{botId}, as Server-Sent Events through
// Lambda response streaming: `session`, `delta`…, `citations`, `done` — or `error`. Problems found
// before the first event (auth, validation, limits) are ordinary JSON error responses.

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

function parseBody(event: APIGatewayProxyEvent): unknown {
  if (!/^application\/json\b/i.test(event.headers['content-type'] ?? '')) {
    throw new UnsupportedMediaTypeError('Send the body as JSON with content-type application/json');
  }
  const raw = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  if (Buffer.byteLength(raw) > ADMIN_MAX_BODY_BYTES) throw new PayloadTooLargeError('The body is too large');
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new BadRequestError('The body is not valid JSON', [{ path: '', message: 'malformed JSON' }], error);
  }
}

function send(responseStream: Writable, result: APIGatewayProxyResult) {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: result.statusCode,
    headers: result.headers as Record<string, string>,
  });
  stream.write(result.body);
  stream.end();
}

export const handler = awslambda.streamifyResponse(async (event: APIGatewayProxyEvent, responseStream) => {
  const requestId = event.requestContext?.requestId ?? randomUUID();
  logger.resetKeys();
  logger.appendKeys({ requestId });
  event.headers = Object.fromEntries(
    Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const botId = event.pathParameters?.botId ?? '';
  let started = false;
  let output: Writable = responseStream;
  // The local gateway destroys the stream when the client leaves: the model call stops then.
  // (Lambda gives no such signal; there the use-case's deadline and token cap bound the stream.)
  const clientGone = new AbortController();
  responseStream.once('close', () => {
    if (!responseStream.writableFinished) clientGone.abort(new Error('the client disconnected'));
  });
  try {
    const body = parseInput(ChatRequestSchema, parseBody(event), 'body');
    const d = deps();
    const { caller } = await botFor(d, event, botId);
    const turns = chatTurnStream(
      d,
      {
        botId,
        message: body.message,
        sessionId: body.sessionId,
        caller,
        channel: caller.kind === 'tenant' ? 'api' : 'web',
        userIdentity: sourceIp(event, d.originSecret),
        ...(body.userId !== undefined && { userId: body.userId }),
      },
      clientGone.signal,
    );
    // The first event comes after admission: refusals are still plain HTTP errors.
    const first = await turns.next();
    const head: APIGatewayProxyResult = {
      statusCode: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-request-id': requestId,
      },
      body: '',
    };
    addCors(event, head);
    output = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 200,
      headers: head.headers as Record<string, string>,
    });
    started = true;
    if (!first.done) output.write(sse(first.value.type, eventData(first.value)));
    for await (const item of turns) output.write(sse(item.type, eventData(item)));
    output.end();
  } catch (error) {
    if (!started) {
      const result = errorResult(error, requestId);
      addCors(event, result);
      send(responseStream, result);
      return;
    }
    const interrupted = error instanceof ChatModelUnavailableError;
    if (!interrupted) logger.error('stream failed', { error });
    output.write(
      sse('error', {
        code: 'internal',
        message: interrupted ? 'The answer was interrupted; please ask again' : 'Internal error',
        requestId,
      }),
    );
    output.end();
  }
});

/** The SSE payload of an event: everything but its type. */
function eventData<T extends { type: string }>(event: T): Omit<T, 'type'> {
  const { type: _type, ...data } = event;
  return data;
}
