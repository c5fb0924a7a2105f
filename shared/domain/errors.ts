// Typed errors. Each says whether its message may be shown to a client; anything else becomes a
// generic 500 `internal` with the request id (see shared/http/error-handler.ts).

/** The error codes of the API contract (DESIGN.md §5): the types, the OpenAPI document and the tests read this list. */
export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'quota_exceeded',
  'bot_disabled',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldIssue {
  /** Dotted path to the offending field, e.g. `retrieval.topK`; empty for the body itself. */
  path: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: ErrorCode;
  readonly expose: boolean = true;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

export class BadRequestError extends AppError {
  readonly status = 400;
  readonly code = 'bad_request';
  constructor(message: string, issues?: FieldIssue[], cause?: unknown) {
    super(message, { cause, details: issues });
  }
}

export class UnauthorizedError extends AppError {
  readonly status = 401;
  readonly code = 'unauthorized';
  override readonly headers = { 'WWW-Authenticate': 'Bearer' };
}

export class NotFoundError extends AppError {
  readonly status = 404;
  readonly code = 'not_found';
}

export class ConflictError extends AppError {
  readonly status = 409;
  readonly code = 'conflict';
}

export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends AppError {
  readonly status = 415;
  readonly code = 'unsupported_media_type';
}

export class RateLimitedError extends AppError {
  readonly status = 429;
  readonly code = 'rate_limited';
  override readonly headers: Record<string, string>;
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message, { details: { retryAfterSeconds } });
    this.retryAfterSeconds = retryAfterSeconds;
    this.headers = { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) };
  }
}

export class QuotaExceededError extends AppError {
  readonly status = 429;
  readonly code = 'quota_exceeded';
}

export class BotDisabledError extends AppError {
  readonly status = 403;
  readonly code = 'bot_disabled';
}

/** A platform we depend on (Telegram, Meta) could not be reached: 502, and the client may retry. */
export class UpstreamUnavailableError extends AppError {
  readonly status = 502;
  readonly code = 'internal';
}

/** A failure we do not show to clients: the handler answers 500 `internal`. */
export class InternalError extends AppError {
  readonly status = 500;
  readonly code = 'internal';
  override readonly expose = false;
}
