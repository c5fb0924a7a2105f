import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, StreamifyHandler } from 'aws-lambda';
import { type RouteDefinition, routes } from '../resources.ts';
import { tracer } from '../tracing.ts';
import type { AuthDeps } from './auth.ts';
import {
  errorHandler,
  type HttpMiddleware,
  jsonBody,
  normalizeHeaders,
  requestLogging,
} from './middlewares.ts';
import type { HttpResult, StreamedResult } from './response.ts';
import { createRouter, type RouteTable } from './router.ts';

/** Admin JSON bodies are small; anything larger is a mistake or an attack. */
export const ADMIN_MAX_BODY_BYTES = 256 * 1024;

export interface HttpHandlerOptions {
  maxBodyBytes?: number;
  /** Hand routes the body as it came (`event.body`, maybe base64): no JSON parsing. */
  rawBody?: boolean;
  definitions?: readonly RouteDefinition[];
  /** Runs outermost after the log context: sees every response, errors included (e.g. CORS). */
  outer?: HttpMiddleware;
  /** Runs once the body is parsed, just before the route (e.g. who a chat caller is). */
  inner?: HttpMiddleware;
}

/** A buffered HTTP function: API Gateway's proxy event in, its proxy result out. */
export type BufferedHttpHandler = MiddyfiedHandler<
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Error,
  Context
>;
/** A streaming HTTP function, wrapped in `awslambda.streamifyResponse`. */
export type StreamingHttpHandler = StreamifyHandler<APIGatewayProxyEvent, void>;

/**
 * The middleware stack every HTTP function shares: log context, tracing, error envelope, header
 * normalisation, JSON bodies, then the route table's dispatch (authentication included).
 *
 * With `streaming`, the same stack runs in middy's streamify mode (Lambda response streaming):
 * routes answer a StreamedResult, whose status and headers go out once every `after` has run and
 * whose body is then piped to the client. A route that throws before answering gets the error
 * envelope as a plain JSON response, as a buffered route does; what goes wrong later is the body's
 * to report. The access log and the trace subsegment end when the head goes out.
 */
export function httpHandler(
  specs: RouteTable,
  authDeps: () => AuthDeps,
  options?: HttpHandlerOptions & { streaming?: false },
): BufferedHttpHandler;
export function httpHandler(
  specs: RouteTable<StreamedResult>,
  authDeps: () => AuthDeps,
  options: HttpHandlerOptions & { streaming: true },
): StreamingHttpHandler;
export function httpHandler(
  specs: RouteTable<HttpResult>,
  authDeps: () => AuthDeps,
  options: HttpHandlerOptions & { streaming?: boolean } = {},
): BufferedHttpHandler | StreamingHttpHandler {
  const route = createRouter(options.definitions ?? routes, specs, authDeps);
  // Streamify mode wraps the handler in awslambda.streamifyResponse here, at module load.
  const handler = middy<APIGatewayProxyEvent, HttpResult, Error, Context>(
    options.streaming ? { executionMode: executionModeStreamifyResponse } : {},
  )
    .use(requestLogging())
    // The handler's subsegment, with the cold start as an annotation. Responses stay out of the
    // trace: some carry secrets (a new API key).
    .use(captureLambdaHandler(tracer, { captureResponse: false }));
  if (options.outer) handler.use(options.outer);
  handler
    .use(errorHandler())
    .use(normalizeHeaders())
    .use(jsonBody({ maxBytes: options.maxBodyBytes ?? ADMIN_MAX_BODY_BYTES, raw: options.rawBody }));
  if (options.inner) handler.use(options.inner);
  // Typed by the overloads: buffered routes answer buffered results, streamed routes streamed ones.
  return handler.handler((event) => route(event)) as unknown as BufferedHttpHandler;
}
