import { API_MAX_BODY_BYTES } from './resources.ts';

// API Gateway answers some requests itself, before any function runs (unknown routes, bodies over
// the limit, throttling). These Gateway Responses give those answers the project's error envelope,
// `{"error": {"code", "message", "requestId"}}`. Plain data without CDK imports, so the local
// gateway can answer the same requests with the same codes and messages.

export interface GatewayResponseDefinition {
  /** API Gateway response type, e.g. `MISSING_AUTHENTICATION_TOKEN`. */
  readonly type: string;
  /** Status to answer with; absent = keep API Gateway's own status (the DEFAULT_* families). */
  readonly statusCode?: number;
  /** The envelope's `error.code`. */
  readonly code: string;
  /** Fixed message; absent = API Gateway's own message (`$context.error.messageString`). */
  readonly message?: string;
}

export const gatewayResponses: readonly GatewayResponseDefinition[] = [
  // Without authorizers, API Gateway sends MISSING_AUTHENTICATION_TOKEN for unknown routes.
  { type: 'MISSING_AUTHENTICATION_TOKEN', statusCode: 404, code: 'not_found', message: 'No such route' },
  { type: 'RESOURCE_NOT_FOUND', statusCode: 404, code: 'not_found', message: 'No such route' },
  {
    type: 'REQUEST_TOO_LARGE',
    statusCode: 413,
    code: 'payload_too_large',
    message: `Request body is larger than ${API_MAX_BODY_BYTES / 1024 / 1024} MB`,
  },
  {
    type: 'UNSUPPORTED_MEDIA_TYPE',
    statusCode: 415,
    code: 'unsupported_media_type',
    message: 'Unsupported media type',
  },
  { type: 'THROTTLED', statusCode: 429, code: 'rate_limited', message: 'Too many requests; retry later' },
  {
    type: 'QUOTA_EXCEEDED',
    statusCode: 429,
    code: 'rate_limited',
    message: 'Too many requests; retry later',
  },
  { type: 'DEFAULT_4XX', code: 'bad_request' },
  { type: 'DEFAULT_5XX', code: 'internal', message: 'Internal server error' },
];

/**
 * The response body as an API Gateway mapping template. `requestId` comes from
 * `$context.requestId`; a response without a fixed message uses `$context.error.messageString`,
 * which API Gateway renders already JSON-quoted.
 */
export function gatewayResponseTemplate(response: GatewayResponseDefinition): string {
  const message =
    response.message === undefined ? '$context.error.messageString' : JSON.stringify(response.message);
  return `{"error":{"code":${JSON.stringify(response.code)},"message":${message},"requestId":"$context.requestId"}}`;
}
