import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { HttpMiddleware, HttpRequest } from './middlewares.ts';

// CORS per bot: which origins may read a chat response is known only once the route has read the
// bot (its allowedOrigins). The route allows the request's origin (allowOrigin); this middleware
// then adds the headers to whatever the request answers, errors and streamed heads included.

/** The origin each request's response may be shared with, once allowed. */
const allowed = new WeakMap<APIGatewayProxyEvent, string>();

/** Lets the browser on `origin` read the response to this request. */
export function allowOrigin(event: APIGatewayProxyEvent, origin: string): void {
  allowed.set(event, origin);
}

function addCorsHeaders({ event, response }: HttpRequest) {
  const origin = allowed.get(event);
  if (!origin || !response) return;
  response.headers = {
    ...response.headers,
    'access-control-allow-origin': origin,
    'access-control-expose-headers': 'retry-after, x-request-id',
    vary: 'Origin',
  };
}

/** Adds the allowed origin's CORS headers to every response of a request. */
export function cors(): HttpMiddleware {
  return { after: addCorsHeaders, onError: addCorsHeaders };
}

/** A preflight's answer for an allowed origin: which methods and headers its requests may use. */
export function preflightAllowed(origin: string, allowHeaders: readonly string[]): APIGatewayProxyResult {
  return {
    statusCode: 204,
    headers: {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
      'access-control-allow-headers': allowHeaders.join(', '),
      'access-control-max-age': '600',
      vary: 'Origin',
    },
    body: '',
  };
}
