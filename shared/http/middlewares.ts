import type { MiddlewareObj, Request } from '@middy/core';
import jsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  AppError,
  BadRequestError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../domain/errors.ts';
import { enterLogContext, logger } from '../logging.ts';
import { errorResponse, type HttpResult } from './response.ts';

export type HttpRequest = Request<APIGatewayProxyEvent, HttpResult, Error, Context>;
/** A middleware of the HTTP chain (shared/http/handler.ts), buffered or streamed. */
export type HttpMiddleware = MiddlewareObj<APIGatewayProxyEvent, HttpResult, Error, Context>;

export const requestIdOf = (request: HttpRequest) =>
  request.event.requestContext?.requestId ?? request.context.awsRequestId;

/**
 * Per-request log context and access log: request id (API Gateway's, which clients see in
 * `x-request-id`), route and latency. Tenant id is appended by authentication.
 */
export function requestLogging(): HttpMiddleware {
  const started = new WeakMap<object, number>();
  const done = (request: HttpRequest) => {
    const response = request.response;
    if (response) response.headers = { ...response.headers, 'x-request-id': requestIdOf(request) };
    logger.info('request', {
      method: request.event.httpMethod,
      route: request.event.resource,
      status: response?.statusCode,
      latencyMs: Date.now() - (started.get(request) ?? Date.now()),
    });
  };
  return {
    before: (request) => {
      started.set(request, Date.now());
      enterLogContext();
      logger.resetKeys();
      logger.appendKeys({ requestId: requestIdOf(request) });
    },
    after: done,
    onError: (request) => {
      if (request.response) done(request);
    },
  };
}

/** Lower-cases header names, as HTTP means them to be, so lookups need not guess the case. */
export function normalizeHeaders(): HttpMiddleware {
  return {
    before: ({ event }) => {
      // Own properties only (fromEntries): a header named `__proto__` cannot reach the prototype.
      event.headers = Object.fromEntries(
        Object.entries(event.headers ?? {})
          .filter((entry): entry is [string, string] => entry[1] !== undefined)
          .map(([name, value]) => [name.toLowerCase(), value]),
      );
    },
  };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Parses JSON bodies of POST, PUT and PATCH with middy's parser (which also refuses prototype
 * pollution keys), after checking the size. An empty body parses to `undefined`; the route's
 * schema then decides whether one was required.
 */
export function jsonBody(options: {
  maxBytes: number;
  /** Leave the body as it came (webhooks check signatures over the raw bytes); size still capped. */
  raw?: boolean;
}): HttpMiddleware {
  const parser = jsonBodyParser();
  return {
    before: async (request) => {
      const { event } = request;
      if (!BODY_METHODS.has(event.httpMethod) || event.body === null || event.body === '') {
        event.body = null;
        return;
      }
      const bytes = event.isBase64Encoded
        ? Buffer.byteLength(event.body, 'base64')
        : Buffer.byteLength(event.body);
      if (bytes > options.maxBytes) {
        throw new PayloadTooLargeError(
          `The body is ${bytes} bytes; this route accepts at most ${options.maxBytes}`,
        );
      }
      if (options.raw) return;
      try {
        await parser.before?.(request as never);
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 415)
          throw new UnsupportedMediaTypeError('Send the body as JSON with content-type application/json');
        if (status === 422)
          throw new BadRequestError(
            'The body is not valid JSON',
            [{ path: '', message: 'malformed JSON' }],
            error,
          );
        throw error;
      }
    },
  };
}

/**
 * The error envelope for any error. Client errors keep their message; anything else is a generic
 * 500 with the request id, and the details go to the log only.
 */
export function errorResult(error: unknown, requestId: string): APIGatewayProxyResult {
  if (error instanceof AppError && error.expose) {
    if (error.status >= 500) logger.error(error.message, { error });
    else logger.info('client error', { code: error.code, reason: error.message });
    return errorResponse(
      error.status,
      { code: error.code, message: error.message, details: error.details, requestId },
      error.headers,
    );
  }
  logger.error('unhandled error', { error: error ?? undefined });
  return errorResponse(500, { code: 'internal', message: 'Internal error', requestId });
}

/** Turns errors into the error envelope (errorResult). */
export function errorHandler(): HttpMiddleware {
  return {
    onError: (request) => {
      request.response = errorResult(request.error, requestIdOf(request));
    },
  };
}
