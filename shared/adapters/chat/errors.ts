// The failures the hosted chat adapters raise themselves (on top of the SDKs' own errors), and
// the one conversion of whatever went wrong into the port's `ChatModelUnavailableError`.

import {
  type ChatFailureReason,
  ChatModelUnavailableError,
  type ChatProvider,
} from '../../ports/chat-model.ts';

/** An attempt (or a stream's wait for its next event) took longer than its limit. */
export class AttemptTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, waitingFor: string) {
    super(`no ${waitingFor} within ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The provider's stream ended without its final events (a cut connection, a truncated body). */
export class StreamCutError extends Error {
  constructor(message = 'the stream ended before the answer was complete', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamCutError';
  }
}

/** The provider answered, but not with anything that reads as an answer. */
export class MalformedAnswerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MalformedAnswerError';
  }
}

export interface FailureContext {
  readonly provider: Exclude<ChatProvider, 'local'>;
  readonly modelId: string;
  readonly attempts: number;
  /** Text had already been yielded by the stream. */
  readonly partial: boolean;
  /** The caller's signal (an abort there is the caller's doing, not the provider's). */
  readonly signal?: AbortSignal;
  /** Whether the provider refused the request for good (a 4xx other than throttling). */
  readonly isRejection: (error: unknown) => boolean;
}

/** The port's error for a call that produced no (complete) answer, with the last error as its cause. */
export function unavailable(error: unknown, context: FailureContext): ChatModelUnavailableError {
  if (error instanceof ChatModelUnavailableError) return error;
  const reason: ChatFailureReason = context.signal?.aborted
    ? 'aborted'
    : context.partial
      ? 'interrupted'
      : error instanceof AttemptTimeoutError
        ? 'timeout'
        : context.isRejection(error)
          ? 'rejected'
          : 'unavailable';
  const tries = `${context.attempts} attempt${context.attempts === 1 ? '' : 's'}`;
  const what = {
    aborted: 'the caller cancelled the request',
    interrupted: 'the answer broke off after part of it was streamed',
    timeout: `timed out (${tries})`,
    rejected: 'the provider refused the request',
    unavailable: `no answer after ${tries}`,
  }[reason];
  return new ChatModelUnavailableError(
    `${context.provider} ${context.modelId}: ${what}: ${describe(error)}`,
    {
      provider: context.provider,
      reason,
      partial: context.partial,
      attempts: context.attempts,
      cause: error,
    },
  );
}

/** "Name: message" (with the HTTP status where the SDK gives one), for logs. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status =
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ??
    (error as { status?: unknown }).status;
  const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
  const prefix = typeof status === 'number' && !error.message.startsWith(String(status)) ? `${status} ` : '';
  return `${prefix}${name}${error.message}`;
}

const CONNECTION_CODES =
  /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|UND_ERR_\w+|ERR_HTTP2_\w+|ERR_STREAM_PREMATURE_CLOSE)$/;

/** Whether an error (or one of its causes) is a dropped, refused or reset connection. */
export function isConnectionError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.test(code)) return true;
  }
  return false;
}
