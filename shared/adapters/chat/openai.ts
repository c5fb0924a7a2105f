// OpenAI chat completions (any model by name), or any OpenAI-compatible server (vLLM, Ollama,
// LM Studio, …) through the client's `baseURL` (`OPENAI_BASE_URL`). Buffered answers are one
// `chat.completions.create`; streams ask for `stream: true` with `stream_options.include_usage`,
// so the last chunk carries the usage. The SDK's own retries are off for these requests: the
// hosted model (hosted.ts) retries, honouring `retry-after`.
//
// Models differ in what they accept: reasoning models (o-series, gpt-5) refuse a temperature
// other than 1 and the older `max_tokens`, while some compatible servers only know `max_tokens`.
// When the server refuses one of these parameters (400 `unsupported_parameter`/`unsupported_value`
// naming it), the request is sent again at once without the temperature, or with the other
// max-tokens parameter, and the adapter remembers that for the model.

import OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { estimateTokens } from '../../domain/limits.ts';
import type { ChatModel, ChatRequest, ChatStreamEvent } from '../../ports/chat-model.ts';
import { isRetryableOpenAIError } from '../embedders/openai.ts';
import { parseRetryAfter } from '../retry.ts';
import { MalformedAnswerError } from './errors.ts';
import { type ChatProviderDriver, createHostedChatModel, type HostedChatOptions } from './hosted.ts';

type MaxTokensParameter = 'max_completion_tokens' | 'max_tokens';

export interface OpenAIChatModelOptions extends HostedChatOptions {
  /** `new OpenAI({apiKey, baseURL})`; its own retries are turned off per request. */
  readonly client: OpenAI;
  /**
   * How the answer's length is capped: `max_completion_tokens` (OpenAI's current parameter, the
   * default) or `max_tokens` (older compatible servers). A server that refuses one gets the other.
   */
  readonly maxTokensParameter?: MaxTokensParameter;
}

/** What a model was found to refuse, so later requests leave it out from the start. */
interface ModelQuirks {
  omitTemperature: boolean;
  maxTokensParameter: MaxTokensParameter;
}

/** One adapter's client, and what each of its models was found to refuse. */
interface OpenAIChat {
  readonly client: OpenAI;
  readonly quirks: Map<string, ModelQuirks>;
  readonly maxTokensParameter: MaxTokensParameter;
}

export function createOpenAIChatModel(options: OpenAIChatModelOptions): ChatModel {
  const chat: OpenAIChat = {
    client: options.client,
    quirks: new Map(),
    maxTokensParameter: options.maxTokensParameter ?? 'max_completion_tokens',
  };
  const driver: ChatProviderDriver = {
    provider: 'openai',
    complete: (request, signal) => complete(chat, request, signal),
    stream: (request, signal) => stream(chat, request, signal),
    isRejection: (error) =>
      error instanceof OpenAI.APIError && error.status !== undefined && !isRetryableOpenAIError(error),
    retryAfterMs(error) {
      if (!(error instanceof OpenAI.APIError) || !error.headers) return undefined;
      return parseRetryAfter(error.headers.get('retry-after'), error.headers.get('retry-after-ms'));
    },
  };
  return createHostedChatModel(driver, options);
}

function quirksOf(chat: OpenAIChat, model: string): ModelQuirks {
  let q = chat.quirks.get(model);
  if (!q) {
    q = { omitTemperature: false, maxTokensParameter: chat.maxTokensParameter };
    chat.quirks.set(model, q);
  }
  return q;
}

function body(chat: OpenAIChat, request: ChatRequest) {
  const q = quirksOf(chat, request.modelId);
  const messages: ChatCompletionMessageParam[] = [];
  if (request.system.trim() !== '') messages.push({ role: 'system', content: request.system });
  for (const m of request.messages) messages.push({ role: m.role, content: m.content });
  return {
    model: request.modelId,
    messages,
    ...(q.omitTemperature ? {} : { temperature: request.temperature }),
    [q.maxTokensParameter]: request.maxTokens,
  };
}

/** Sends the request; each time the model refuses a parameter it can do without, adapts and sends it again. */
async function send<T>(chat: OpenAIChat, request: ChatRequest, create: () => Promise<T>): Promise<T> {
  // At most two adaptations: the temperature, the max-tokens parameter.
  for (let adapted = 0; ; adapted++) {
    try {
      return await create();
    } catch (error) {
      if (adapted >= 2 || !adapt(quirksOf(chat, request.modelId), error)) throw error;
    }
  }
}

const requestOptions = (signal: AbortSignal) => ({ signal, maxRetries: 0 });

async function complete(chat: OpenAIChat, request: ChatRequest, signal: AbortSignal) {
  const completion: ChatCompletion = await send(chat, request, () =>
    chat.client.chat.completions.create(
      { ...body(chat, request), stream: false } as ChatCompletionCreateParamsNonStreaming,
      requestOptions(signal),
    ),
  );
  const choice = completion?.choices?.[0];
  if (!choice?.message) {
    throw new MalformedAnswerError(`OpenAI ${request.modelId} answered without a choice`);
  }
  const text = choice.message.content ?? choice.message.refusal ?? '';
  const usage = completion.usage;
  return {
    text,
    inputTokens: usage?.prompt_tokens ?? estimateInput(request),
    outputTokens: usage?.completion_tokens ?? estimateTokens([text]),
    ...(choice.finish_reason ? { stopReason: choice.finish_reason } : {}),
  };
}

async function* stream(
  chat: OpenAIChat,
  request: ChatRequest,
  signal: AbortSignal,
): AsyncGenerator<ChatStreamEvent> {
  const chunks = await send(chat, request, () =>
    chat.client.chat.completions.create(
      {
        ...body(chat, request),
        stream: true,
        stream_options: { include_usage: true },
      } as ChatCompletionCreateParamsStreaming,
      requestOptions(signal),
    ),
  );
  let stopReason: string | undefined;
  let usage: ChatCompletionChunk['usage'];
  let output = '';
  // The SDK ends the iteration quietly when the connection is aborted or the body ends
  // without `[DONE]`: only a `finish_reason` says the answer is complete.
  for await (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      if (choice.index !== 0) continue;
      const text = choice.delta?.content ?? choice.delta?.refusal;
      if (text) {
        output += text;
        yield { type: 'delta', text };
      }
      if (choice.finish_reason) stopReason = choice.finish_reason;
    }
  }
  if (stopReason === undefined) return;
  yield {
    type: 'done',
    stopReason,
    inputTokens: usage?.prompt_tokens ?? estimateInput(request),
    outputTokens: usage?.completion_tokens ?? estimateTokens([output]),
  };
}

/** Adapts the model's quirks to a 400 that refuses the temperature or the max-tokens parameter; false if it is another error. */
function adapt(q: ModelQuirks, error: unknown): boolean {
  if (!(error instanceof OpenAI.BadRequestError)) return false;
  const param = error.param ?? /\b(temperature|max_tokens|max_completion_tokens)\b/.exec(error.message)?.[1];
  const refused =
    error.code === 'unsupported_parameter' ||
    error.code === 'unsupported_value' ||
    /unsupported|not supported|unrecognized|unknown/i.test(error.message);
  if (!refused) return false;
  if (param === 'temperature' && !q.omitTemperature) {
    q.omitTemperature = true;
    return true;
  }
  if (param === q.maxTokensParameter) {
    q.maxTokensParameter = param === 'max_tokens' ? 'max_completion_tokens' : 'max_tokens';
    return true;
  }
  return false;
}

const estimateInput = (request: ChatRequest) =>
  estimateTokens([request.system, ...request.messages.map((m) => m.content)]);
