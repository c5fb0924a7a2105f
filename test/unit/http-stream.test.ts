import { describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import * as z from 'zod';
import { installAwsLambdaGlobals, LocalResponseStream, type ResponseHead } from '../../local/lambda.ts';
import { BadRequestError } from '../../shared/domain/errors.ts';
import type { AuthDeps } from '../../shared/http/auth.ts';
import { allowOrigin, cors } from '../../shared/http/cors.ts';
import { httpHandler } from '../../shared/http/handler.ts';
import { defineRoute } from '../../shared/http/router.ts';
import { pullStream } from '../../shared/http/sse.ts';
import type { RouteDefinition } from '../../shared/resources.ts';

// The HTTP chain in middy's streamify mode, as chat-stream runs it: driven through the local
// platform's awslambda globals and response stream, with routes that need no I/O.

installAwsLambdaGlobals();

const definitions: RouteDefinition[] = [
  { method: 'POST', path: '/stream', function: 'chat-stream', auth: 'none' },
];

/** Yields `count` chunks, noting how far it got and whether it reached its end. */
function producer(count: number, progress: { sent: number; ended: boolean }) {
  return (async function* () {
    for (let i = 0; i < count; i++) {
      progress.sent = i + 1;
      yield `chunk ${i}\n`;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    progress.ended = true;
  })();
}

function handlerWith(progress: { sent: number; ended: boolean }, abandoned: { called: boolean }) {
  const specs = {
    'POST /stream': defineRoute({
      summary: 'streams',
      body: z.strictObject({ count: z.int() }),
      responses: {},
      run: async ({ body, event }) => {
        allowOrigin(event, 'https://shop.example');
        if (body.count < 0) throw new BadRequestError('count must not be negative');
        return {
          statusCode: 200,
          headers: { 'content-type': 'text/plain' },
          body: pullStream(producer(body.count, progress), () => {
            abandoned.called = true;
          }),
        };
      },
    }),
  };
  const noKeys = (): AuthDeps => {
    throw new Error('no route here needs a key');
  };
  return httpHandler(specs, noKeys, { definitions, outer: cors(), streaming: true });
}

function event(body: string): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    resource: '/stream',
    path: '/stream',
    headers: { 'Content-Type': 'application/json', Origin: 'https://shop.example' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: { requestId: 'req-stream' } as APIGatewayProxyEvent['requestContext'],
  };
}
const context = { awsRequestId: 'lambda-1', getRemainingTimeInMillis: () => 29_000 } as Context;

/** A response stream like the local gateway's, recording what reaches the client. */
function client(options: { leaveAfter?: number } = {}) {
  const seen: { head?: ResponseHead; chunks: string[]; ended: boolean } = { chunks: [], ended: false };
  const stream: LocalResponseStream = new LocalResponseStream({
    head: (head) => {
      seen.head = head;
    },
    write: (chunk, done) => {
      if (chunk.length > 0) seen.chunks.push(chunk.toString('utf8'));
      done();
      if (options.leaveAfter !== undefined && seen.chunks.length >= options.leaveAfter) stream.destroy();
    },
    end: () => {
      seen.ended = true;
    },
  });
  return { stream, seen };
}

describe('the HTTP chain, streamed', () => {
  it('sends the head with every after-middleware’s headers, then the body as it is produced', async () => {
    const progress = { sent: 0, ended: false };
    const abandoned = { called: false };
    const { stream, seen } = client();
    await handlerWith(progress, abandoned)(event('{"count":3}'), stream as never, context);
    expect(seen.head).toMatchObject({
      statusCode: 200,
      headers: {
        'content-type': 'text/plain',
        'x-request-id': 'req-stream',
        'access-control-allow-origin': 'https://shop.example',
      },
    });
    expect(seen.chunks.join('')).toBe('chunk 0\nchunk 1\nchunk 2\n');
    expect(seen.ended).toBe(true);
    expect(abandoned.called).toBe(false);
  });

  it('answers refusals before the stream with the error envelope, CORS headers included', async () => {
    const { stream, seen } = client();
    const handler = handlerWith({ sent: 0, ended: false }, { called: false });
    await handler(event('{"count":"three"}'), stream as never, context);
    expect(seen.head?.statusCode).toBe(400);
    expect(seen.head?.headers['x-request-id']).toBe('req-stream');
    expect(JSON.parse(seen.chunks.join(''))).toMatchObject({
      error: { code: 'bad_request', details: [{ path: 'count' }], requestId: 'req-stream' },
    });

    const refused = client();
    await handler(event('{"count":-1}'), refused.stream as never, context);
    expect(refused.seen.head).toMatchObject({
      statusCode: 400,
      headers: { 'access-control-allow-origin': 'https://shop.example', 'x-request-id': 'req-stream' },
    });

    const big = client();
    await handler(event(`{"count":1,"pad":"${'x'.repeat(300 * 1024)}"}`), big.stream as never, context);
    expect(big.seen.head?.statusCode).toBe(413);
    expect(JSON.parse(big.seen.chunks.join('')).error.code).toBe('payload_too_large');
  });

  it('tells the producer when the client leaves, and still runs it to its end unsent', async () => {
    const progress = { sent: 0, ended: false };
    const abandoned = { called: false };
    const { stream, seen } = client({ leaveAfter: 2 });
    const run = handlerWith(progress, abandoned)(event('{"count":20}'), stream as never, context);
    // The pipeline ends with a premature close: the client's doing.
    await Promise.resolve(run).catch((error: Error) => error);
    expect(abandoned.called).toBe(true);
    expect(seen.chunks).toHaveLength(2);
    expect(progress).toEqual({ sent: 20, ended: true });
  });
});
