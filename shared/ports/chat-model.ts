// Answers a conversation. A bot names its model (`{provider, id}`); the pipeline assembles the
// system prompt (persona, instructions, the retrieved passages fenced) and the history, and hands
// both to a ChatModel. Hosted models (Bedrock, OpenAI or any OpenAI-compatible server) read the
// passages through `system`; the offline `local` model has no language model at all and answers
// extractively from `passages`, saying so.
//
// Adapters retry throttling, 5xx, timeouts and dropped connections themselves (backoff with
// jitter, inside a total budget) and throw `ChatModelUnavailableError` when the provider does not
// answer: the pipeline then replies with the bot's fallback message and `fallback: true`.

import type { Passage } from '../domain/passage.ts';

export type ChatProvider = 'local' | 'bedrock' | 'openai';

export interface ChatMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export interface ChatRequest {
  /** The Bedrock model id or the OpenAI model name; ignored by `local`. */
  readonly modelId: string;
  /** The fully assembled system prompt, passages included. */
  readonly system: string;
  /** The history and the question, oldest first; the last one is the user's. */
  readonly messages: readonly ChatMessage[];
  /** What was retrieved, best first (citation [n] is passages[n−1]). */
  readonly passages: readonly Passage[];
  /** The user's latest message (what `local` looks for in the passages). */
  readonly question: string;
  readonly temperature: number;
  readonly maxTokens: number;
  /**
   * The caller's deadline or cancellation (e.g. `AbortSignal.timeout(25_000)`, or the client going
   * away). Once it aborts, no attempt or retry starts and the call fails with
   * `ChatModelUnavailableError` (reason `aborted`, the signal's reason as its cause).
   */
  readonly signal?: AbortSignal;
}

export interface ChatUsage {
  /** Tokens the provider counted (the `local` model estimates them). */
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface ChatResult extends ChatUsage {
  readonly text: string;
  /** The provider's reason for stopping (`end_turn`, `max_tokens`, `stop`, `length`, …), when it gave one. */
  readonly stopReason?: string;
}

export type ChatStreamEvent =
  | { readonly type: 'delta'; readonly text: string }
  | ({ readonly type: 'done'; readonly stopReason?: string } & ChatUsage);

export interface ChatModel {
  readonly provider: ChatProvider;
  /**
   * The whole answer at once. Retries inside a total budget (default 25 s, under API Gateway's
   * 29 s), each attempt with its own timeout; throws `ChatModelUnavailableError` when no attempt
   * succeeds in time or the provider refuses the request.
   */
  complete(request: ChatRequest): Promise<ChatResult>;
  /**
   * The answer as it is generated: `delta` events (non-empty text, in order), then exactly one
   * `done` with the usage. Attempts are retried only until the first delta has been yielded; a
   * failure after that (including a stream that ends without its final events) throws
   * `ChatModelUnavailableError` with `partial: true`: the text already sent is incomplete.
   */
  stream(request: ChatRequest): AsyncIterable<ChatStreamEvent>;
}

export type ChatFailureReason =
  /** Throttled or failing (429, 5xx, dropped connections) until the retries or the budget ran out. */
  | 'unavailable'
  /** Attempts timed out until the budget ran out. */
  | 'timeout'
  /** The provider refused the request (4xx: bad model id, input too long, no access): retrying cannot help. */
  | 'rejected'
  /** The answer broke off after text had been streamed (`partial: true`). */
  | 'interrupted'
  /** The caller's signal aborted. */
  | 'aborted'
  /** The deployment has no credentials for the bot's provider (no OpenAI API key configured). */
  | 'not_configured';

/**
 * The model gave no (complete) answer. The pipeline answers with the bot's fallback message
 * (`fallback: true`) and logs `message` and `cause`; none of it is shown to end users.
 */
export class ChatModelUnavailableError extends Error {
  readonly provider: ChatProvider;
  readonly reason: ChatFailureReason;
  /** Whether deltas were already yielded by `stream` (the client has part of an answer). */
  readonly partial: boolean;
  /** How many requests were sent to the provider. */
  readonly attempts: number;

  constructor(
    message: string,
    options: {
      provider: ChatProvider;
      reason: ChatFailureReason;
      partial?: boolean;
      attempts?: number;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ChatModelUnavailableError';
    this.provider = options.provider;
    this.reason = options.reason;
    this.partial = options.partial ?? false;
    this.attempts = options.attempts ?? 0;
  }
}
