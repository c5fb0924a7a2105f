import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { type RouteDefinition, routes } from '../resources.ts';
import { tracer } from '../tracing.ts';
import type { AuthDeps } from './auth.ts';
import { errorHandler, jsonBody, normalizeHeaders, requestLogging } from './middlewares.ts';
import { createRouter, type RouteTable } from './router.ts';

/** Admin JSON bodies are small; anything larger is a mistake or an attack. */
export const ADMIN_MAX_BODY_BYTES = 256 * 1024;

/**
 * The middleware stack every HTTP function shares: log context, tracing, error envelope, header
 * normalisation, JSON bodies, then the route table's dispatch (authentication included).
 */
export function httpHandler(
  specs: RouteTable,
  authDeps: () => AuthDeps,
  options: {
    maxBodyBytes?: number;
    /** Hand routes the body as it came (`event.body`, maybe base64): no JSON parsing. */
    rawBody?: boolean;
    definitions?: readonly RouteDefinition[];
    /** Runs outermost after the log context: sees every response, errors included (e.g. CORS). */
    outer?: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult>;
  } = {},
) {
  const route = createRouter(options.definitions ?? routes, specs, authDeps);
  const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
    .use(requestLogging())
    // The handler's subsegment, with the cold start as an annotation. Responses stay out of the
    // trace: some carry secrets (a new API key).
    .use(captureLambdaHandler(tracer, { captureResponse: false }));
  if (options.outer) handler.use(options.outer);
  return handler
    .use(errorHandler())
    .use(normalizeHeaders())
    .use(jsonBody({ maxBytes: options.maxBodyBytes ?? ADMIN_MAX_BODY_BYTES, raw: options.rawBody }))
    .handler((event) => route(event));
}
