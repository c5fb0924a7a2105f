import { describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod';
import { NotFoundError } from '../../shared/domain/errors.ts';
import type { AuthDeps } from '../../shared/http/auth.ts';
import { httpHandler } from '../../shared/http/handler.ts';
import { json } from '../../shared/http/response.ts';
import { defineRoute } from '../../shared/http/router.ts';
import type { RouteDefinition } from '../../shared/resources.ts';

// The shared middleware stack, driven with API Gateway events and routes that need no I/O.
const definitions: RouteDefinition[] = [
  { method: 'POST', path: '/echo', function: 'admin', auth: 'none' },
  { method: 'GET', path: '/boom', function: 'admin', auth: 'none' },
  { method: 'GET', path: '/things/{id}', function: 'admin', auth: 'none' },
  { method: 'GET', path: '/secret', function: 'admin', auth: 'operator' },
];
const specs = {
  'POST /echo': defineRoute({
    summary: 'echo',
    body: z.strictObject({ n: z.int() }),
    responses: {},
    run: async ({ body }) => json(200, body),
  }),
  'GET /boom': defineRoute({
    summary: 'fails',
    responses: {},
    run: async () => {
      throw new Error('database password is hunter2');
    },
  }),
  'GET /things/{id}': defineRoute({
    summary: 'missing',
    responses: {},
    run: async ({ params }) => {
      throw new NotFoundError(`No thing ${params.id}`);
    },
  }),
  'GET /secret': defineRoute({ summary: 'operator', responses: {}, run: async () => json(200, {}) }),
};
const authDeps = (): AuthDeps => ({
  operatorKey: { get: async () => 'operator-key-for-tests' },
  clock: { now: () => new Date() },
  keys: {} as AuthDeps['keys'],
});
const handler = httpHandler(specs, authDeps, { definitions, maxBodyBytes: 100 });

function event(
  method: string,
  resource: string,
  init: Partial<APIGatewayProxyEvent> = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    resource,
    path: resource,
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'req-123' } as APIGatewayProxyEvent['requestContext'],
    ...init,
  };
}
const context = { awsRequestId: 'lambda-1', getRemainingTimeInMillis: () => 29_000 } as Context;
const call = async (e: APIGatewayProxyEvent) => {
  const result = (await handler(e, context)) as APIGatewayProxyResult;
  return { ...result, json: JSON.parse(result.body || 'null') };
};

describe('HTTP middleware stack', () => {
  it('parses JSON bodies whatever the header case', async () => {
    const r = await call(
      event('POST', '/echo', { headers: { 'Content-Type': 'application/json' }, body: '{"n":3}' }),
    );
    expect(r.statusCode).toBe(200);
    expect(r.json).toEqual({ n: 3 });
    expect(r.headers?.['x-request-id']).toBe('req-123');
  });

  it('answers malformed JSON, wrong types, wrong media type and oversize bodies with their codes', async () => {
    const headers = { 'content-type': 'application/json' };
    const malformed = await call(event('POST', '/echo', { headers, body: '{"n":' }));
    expect([malformed.statusCode, malformed.json.error.code]).toEqual([400, 'bad_request']);
    const wrongType = await call(event('POST', '/echo', { headers, body: '{"n":"3"}' }));
    expect(wrongType.json.error.details).toEqual([{ path: 'n', message: expect.any(String) }]);
    const text = await call(
      event('POST', '/echo', { headers: { 'content-type': 'text/plain' }, body: '{"n":3}' }),
    );
    expect([text.statusCode, text.json.error.code]).toEqual([415, 'unsupported_media_type']);
    const big = await call(
      event('POST', '/echo', { headers, body: JSON.stringify({ n: 1, pad: 'x'.repeat(200) }) }),
    );
    expect([big.statusCode, big.json.error.code]).toEqual([413, 'payload_too_large']);
    const proto = await call(event('POST', '/echo', { headers, body: '{"__proto__":{"admin":true},"n":1}' }));
    expect(proto.statusCode).toBe(400);
  });

  it('hides internal errors behind a generic 500 with the request id', async () => {
    const r = await call(event('GET', '/boom'));
    expect(r.statusCode).toBe(500);
    expect(r.json).toEqual({ error: { code: 'internal', message: 'Internal error', requestId: 'req-123' } });
    expect(r.body).not.toContain('hunter2');
  });

  it('shows client errors with their message, and 404s unknown routes', async () => {
    const missing = await call(event('GET', '/things/{id}', { pathParameters: { id: 'x1' } }));
    expect([missing.statusCode, missing.json.error.message]).toEqual([404, 'No thing x1']);
    const unknown = await call(event('GET', '/nowhere'));
    expect([unknown.statusCode, unknown.json.error.code]).toEqual([404, 'not_found']);
  });

  it('requires the operator key where the route says so', async () => {
    expect((await call(event('GET', '/secret'))).statusCode).toBe(401);
    const wrong = await call(event('GET', '/secret', { headers: { Authorization: 'Bearer nope' } }));
    expect([wrong.statusCode, wrong.headers?.['WWW-Authenticate']]).toEqual([401, 'Bearer']);
    const right = await call(
      event('GET', '/secret', { headers: { authorization: 'Bearer operator-key-for-tests' } }),
    );
    expect(right.statusCode).toBe(200);
  });
});
