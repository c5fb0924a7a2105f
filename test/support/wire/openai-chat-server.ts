// A local HTTP server (127.0.0.1 only) that answers OpenAI's chat completions endpoint the way the
// API does, for testing the chat adapter through the REAL `openai` client: `POST {baseURL}/chat/
// completions` as JSON or, with `stream: true`, as Server-Sent Events (`data: {chunk}\n\n`…,
// the usage chunk when `stream_options.include_usage`, then `data: [DONE]`), bearer auth, the
// API's 400s (context length; reasoning models refusing `temperature` and `max_tokens`; legacy
// servers refusing `max_completion_tokens`), and failures on demand: 429 with `retry-after`, 5xx,
// a request that never gets an answer, a stream that stalls, one cut off mid-way (connection
// destroyed) or ended early without `finish_reason` and `[DONE]`, an error event inside the stream.
//
// The model "says" `server.answer`, one token per word (with its trailing space): streams send one
// delta per token, `max_tokens` cuts the answer (`finish_reason: "length"`), prompts count a token
// per four characters.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readJsonBody, sendOpenAIJson } from './listen.ts';

export type OpenAIChatFailure =
  /** 429 `rate_limit_exceeded` with `retry-after` (seconds) and, if given, `retry-after-ms`. */
  | { kind: 'rate_limit'; retryAfterSeconds?: number; retryAfterMs?: number }
  /** A 5xx with OpenAI's `server_error` body. */
  | { kind: 'server_error'; status?: number }
  /** No answer at all (the connection stays open until the client gives up). */
  | { kind: 'hang' }
  /** Streams: `afterDeltas` deltas, then silence. */
  | { kind: 'stall'; afterDeltas: number }
  /** Streams: `afterDeltas` deltas and half a chunk, then the connection is destroyed; buffered: half the body, then the same. */
  | { kind: 'cut'; afterDeltas?: number }
  /** Streams: `afterDeltas` deltas, then the response ends cleanly without `finish_reason` or `[DONE]`. */
  | { kind: 'end_early'; afterDeltas: number }
  /** Streams: `afterDeltas` deltas, then `data: {"error": …}` (how the API reports a failure mid-stream). */
  | { kind: 'stream_error'; afterDeltas?: number };

export interface OpenAIChatRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  // biome-ignore lint/suspicious/noExplicitAny: the raw JSON the client sent
  readonly body: Record<string, any>;
}

export interface OpenAIChatWireServer {
  /** The base URL to give the client (ends in `/v1`). */
  readonly baseURL: string;
  readonly apiKey: string;
  readonly requests: OpenAIChatRequest[];
  /** What the model answers (split into one token per word). */
  answer: string;
  /** When set, what the model answers instead, given the prompt's last user message. */
  answerFor: ((question: string) => string) | undefined;
  /** Delay before each streamed chunk (default 0). */
  chunkDelayMs: number;
  /** Answers in full whatever `max_tokens` says (as some OpenAI-compatible servers do). */
  ignoresMaxTokens: boolean;
  /** The next `count` requests fail this way (queued after earlier failures). */
  failNext(count: number, failure: OpenAIChatFailure): void;
  /** Forgets the failures still queued. */
  clearFailures(): void;
  /** Responses whose connection closed before the server ended them (cancelled by the client, or cut). */
  readonly unfinished: number;
  /** Every streamed answer: the text the server wrote, and whether the client closed it first. */
  readonly streams: readonly StreamRecord[];
  close(): Promise<void>;
}

export interface StreamRecord {
  /** The answer's tokens written to the connection so far. */
  readonly text: string;
  /** Whether the connection closed before the server ended the response. */
  readonly aborted: boolean;
}

export const DEFAULT_ANSWER =
  'Refunds are issued within 30 days of purchase [1]. Contact support to start one [2].';

/** The answer as the server's tokens: each word with the whitespace after it. */
export const wireTokens = (text: string) => text.match(/\S+\s*/g) ?? [];

/** How the server counts prompt tokens: one per four characters of every message's content. */
export const wirePromptTokens = (messages: readonly { content?: unknown }[]) =>
  messages.reduce((sum, m) => sum + Math.ceil(String(m.content ?? '').length / 4), 0);

const REASONING = /^(o\d|gpt-5)/;

export async function startOpenAIChatServer(
  options: { apiKey?: string; contextTokens?: number } = {},
): Promise<OpenAIChatWireServer> {
  const apiKey = options.apiKey ?? 'sk-test-chat-wire';
  const contextTokens = options.contextTokens ?? 16_384;
  const requests: OpenAIChatRequest[] = [];
  const failures: OpenAIChatFailure[] = [];
  let unfinished = 0;
  const streams: { text: string; aborted: boolean }[] = [];

  const send = sendOpenAIJson;
  const error = (
    res: ServerResponse,
    status: number,
    message: string,
    type: string,
    param: string | null = null,
    code: string | null = null,
    headers: Record<string, string> = {},
  ) => send(res, status, { error: { message, type, param, code } }, headers);
  const invalid = (
    res: ServerResponse,
    message: string,
    param: string | null = null,
    code: string | null = null,
  ) => error(res, 400, message, 'invalid_request_error', param, code);

  const server = createServer(async (req, res) => {
    res.on('close', () => {
      if (!res.writableEnded) unfinished++;
    });
    const url = new URL(req.url ?? '/', 'http://wire');
    // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
    const body = await readJsonBody<Record<string, any>>(req);
    if (body === undefined) {
      invalid(res, 'We could not parse the JSON body of your request.');
      return;
    }
    requests.push({ path: url.pathname, headers: req.headers, body });

    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      error(res, 404, `Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error');
      return;
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      error(res, 401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
      return;
    }

    const model = typeof body.model === 'string' ? body.model : '';
    const { messages, temperature, stream } = body;
    if (!model) {
      invalid(res, 'you must provide a model parameter');
      return;
    }
    if (model.startsWith('missing')) {
      error(
        res,
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        null,
        'model_not_found',
      );
      return;
    }
    if (
      !Array.isArray(messages) ||
      messages.length === 0 ||
      !messages.every(
        (m) =>
          ['system', 'developer', 'user', 'assistant'].includes(m?.role) && typeof m?.content === 'string',
      )
    ) {
      invalid(
        res,
        "Invalid value for 'messages': expected an array of messages with a role and content.",
        'messages',
      );
      return;
    }
    if (body.stream_options !== undefined && stream !== true) {
      invalid(
        res,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        'stream_options',
      );
      return;
    }
    if (REASONING.test(model) && body.max_tokens !== undefined) {
      invalid(
        res,
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        'max_tokens',
        'unsupported_parameter',
      );
      return;
    }
    if (REASONING.test(model) && temperature !== undefined && temperature !== 1) {
      invalid(
        res,
        `Unsupported value: 'temperature' does not support ${temperature} with this model. Only the default (1) value is supported.`,
        'temperature',
        'unsupported_value',
      );
      return;
    }
    if (model.startsWith('legacy') && body.max_completion_tokens !== undefined) {
      invalid(res, 'Unrecognized request argument supplied: max_completion_tokens');
      return;
    }
    if (
      temperature !== undefined &&
      (typeof temperature !== 'number' || temperature < 0 || temperature > 2)
    ) {
      invalid(
        res,
        `Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got ${temperature} instead.`,
        'temperature',
        'decimal_above_max_value',
      );
      return;
    }
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
      invalid(
        res,
        `Invalid 'max_tokens': integer below minimum value.`,
        'max_tokens',
        'integer_below_min_value',
      );
      return;
    }
    const promptTokens = wirePromptTokens(messages);
    if (promptTokens + (maxTokens ?? 0) > contextTokens) {
      invalid(
        res,
        `This model's maximum context length is ${contextTokens} tokens. However, you requested ${promptTokens + (maxTokens ?? 0)} tokens (${promptTokens} in the messages, ${maxTokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
        'messages',
        'context_length_exceeded',
      );
      return;
    }

    const failure = failures.shift();
    if (failure?.kind === 'rate_limit') {
      error(
        res,
        429,
        `Rate limit reached for ${model} in organization org-wire on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 1s.`,
        'requests',
        null,
        'rate_limit_exceeded',
        {
          'retry-after': String(failure.retryAfterSeconds ?? 1),
          ...(failure.retryAfterMs === undefined ? {} : { 'retry-after-ms': String(failure.retryAfterMs) }),
        },
      );
      return;
    }
    if (failure?.kind === 'server_error') {
      error(
        res,
        failure.status ?? 500,
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
      );
      return;
    }
    if (failure?.kind === 'hang') return; // closed by the client's abort or by close()

    const question = [...(Array.isArray(messages) ? messages : [])]
      .reverse()
      .find((m) => m?.role === 'user')?.content;
    const all = wireTokens(wire.answerFor ? wire.answerFor(String(question ?? '')) : wire.answer);
    const tokens = maxTokens === undefined || wire.ignoresMaxTokens ? all : all.slice(0, maxTokens);
    const finishReason = tokens.length < all.length ? 'length' : 'stop';
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: tokens.length,
      total_tokens: promptTokens + tokens.length,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);

    if (stream !== true) {
      const completion = JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: tokens.join(''), refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage,
        service_tier: 'default',
        system_fingerprint: 'fp_wire',
      });
      if (failure?.kind === 'cut') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(completion.length),
        });
        res.write(completion.slice(0, completion.length / 2));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      send(res, 200, completion);
      return;
    }

    const includeUsage = body.stream_options?.include_usage === true;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': `req_${randomUUID().replaceAll('-', '')}`,
    });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_wire',
        choices,
        ...(includeUsage ? { usage: null } : {}),
        ...extra,
      })}\n\n`;
    const delta = (d: Record<string, unknown>, finish: string | null = null) =>
      chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
    const record = { text: '', aborted: false };
    streams.push(record);
    res.on('close', () => {
      if (!res.writableEnded) record.aborted = true;
    });
    const write = async (text: string) => {
      if (wire.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, wire.chunkDelayMs));
      if (res.destroyed) return false;
      res.write(text);
      return true;
    };

    await write(delta({ role: 'assistant', content: '', refusal: null }));
    const breaksOff =
      failure?.kind === 'stall' ||
      failure?.kind === 'cut' ||
      failure?.kind === 'end_early' ||
      failure?.kind === 'stream_error';
    const stopAt = breaksOff ? Math.min(failure.afterDeltas ?? 0, tokens.length) : tokens.length;
    for (const token of tokens.slice(0, stopAt)) {
      // A real provider stops generating once its client has gone.
      if (!(await write(delta({ content: token })))) return;
      record.text += token;
    }
    switch (failure?.kind) {
      case 'stall':
        return;
      case 'cut': {
        const next = delta({ content: tokens[stopAt] ?? 'more' });
        await write(next.slice(0, next.length / 2));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      case 'end_early':
        res.end();
        return;
      case 'stream_error':
        await write(
          `data: ${JSON.stringify({
            error: {
              message: 'The server had an error while processing your request. Sorry about that!',
              type: 'server_error',
              param: null,
              code: null,
            },
          })}\n\n`,
        );
        res.end();
        return;
    }
    await write(delta({}, finishReason));
    if (includeUsage) await write(chunk([], { usage }));
    await write('data: [DONE]\n\n');
    res.end();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const wire: OpenAIChatWireServer = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    answer: DEFAULT_ANSWER,
    answerFor: undefined,
    chunkDelayMs: 0,
    ignoresMaxTokens: false,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    clearFailures() {
      failures.length = 0;
    },
    streams,
    get unfinished() {
      return unfinished;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
  return wire;
}
