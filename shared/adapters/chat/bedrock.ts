// Any Bedrock chat model through the Converse API: `Converse` for buffered answers and
// `ConverseStream` (an `application/vnd.amazon.eventstream` body: messageStart, contentBlockDelta…,
// contentBlockStop, messageStop with the stop reason, metadata with the usage) for streams. The
// SDK's own retries are off (`createBedrockRuntimeClient` sets `maxAttempts: 1`): the hosted model
// (hosted.ts) retries throttling, 5xx, model timeouts and dropped connections itself.

import {
  type BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import { estimateTokens } from '../../domain/limits.ts';
import type { ChatMessage, ChatModel, ChatRequest, ChatStreamEvent } from '../../ports/chat-model.ts';
import { BEDROCK_REFUSALS } from '../bedrock-errors.ts';
import { MalformedAnswerError } from './errors.ts';
import { type ChatProviderDriver, createHostedChatModel, type HostedChatOptions } from './hosted.ts';

export { createBedrockRuntimeClient } from '../embedders/bedrock.ts';

export interface BedrockChatModelOptions extends HostedChatOptions {
  /** Build it with `createBedrockRuntimeClient` (SDK retries off: this adapter retries itself). */
  readonly client: BedrockRuntimeClient;
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

/** 4xx errors that are still worth another try (the model, not the request, failed). */
const RETRYABLE = new Set([
  'ThrottlingException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'ModelErrorException',
  'ModelStreamErrorException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Whether Bedrock refused the request for good; throttling, 5xx and connection errors are not refusals. */
export function isBedrockRejection(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { name, $metadata } = error as SdkError;
  if (name && BEDROCK_REFUSALS.has(name)) return true;
  if (name && RETRYABLE.has(name)) return false;
  const status = $metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export function createBedrockChatModel(options: BedrockChatModelOptions): ChatModel {
  const { client } = options;

  const input = (request: ChatRequest): ConverseCommandInput => ({
    modelId: request.modelId,
    messages: converseMessages(request.messages),
    ...(request.system.trim() === '' ? {} : { system: [{ text: request.system }] }),
    inferenceConfig: { maxTokens: request.maxTokens, temperature: request.temperature },
  });

  const driver: ChatProviderDriver = {
    provider: 'bedrock',

    async complete(request, signal) {
      const response = await client.send(new ConverseCommand(input(request)), { abortSignal: signal });
      const content = response.output?.message?.content;
      if (!Array.isArray(content)) {
        throw new MalformedAnswerError(`Bedrock ${request.modelId} answered without a message`);
      }
      const text = content.map((block) => block.text ?? '').join('');
      return {
        text,
        inputTokens: response.usage?.inputTokens ?? estimateInput(request),
        outputTokens: response.usage?.outputTokens ?? estimateTokens([text]),
        ...(response.stopReason ? { stopReason: response.stopReason } : {}),
      };
    },

    async *stream(request, signal): AsyncGenerator<ChatStreamEvent> {
      const response = await client.send(new ConverseStreamCommand(input(request)), { abortSignal: signal });
      if (!response.stream)
        throw new MalformedAnswerError(`Bedrock ${request.modelId} answered without a stream`);
      let stopReason: string | undefined;
      let usage: { inputTokens?: number; outputTokens?: number } | undefined;
      let output = '';
      // Exceptions inside the stream (throttlingException, modelStreamErrorException, …) are
      // thrown by the iteration; a body that just ends leaves `stopReason` unset.
      for await (const event of response.stream) {
        const text = event.contentBlockDelta?.delta?.text;
        if (text) {
          output += text;
          yield { type: 'delta', text };
        }
        if (event.messageStop) stopReason = event.messageStop.stopReason ?? 'end_turn';
        if (event.metadata?.usage) usage = event.metadata.usage;
      }
      if (stopReason === undefined) return;
      yield {
        type: 'done',
        stopReason,
        inputTokens: usage?.inputTokens ?? estimateInput(request),
        outputTokens: usage?.outputTokens ?? estimateTokens([output]),
      };
    },

    isRejection: isBedrockRejection,
  };

  return createHostedChatModel(driver, options);
}

/**
 * Converse wants a conversation that starts with the user, alternates roles and has no blank
 * text: blank messages are dropped, a leading assistant turn (a greeting) too, and consecutive
 * messages of one role are joined.
 */
export function converseMessages(messages: readonly ChatMessage[]): Message[] {
  const turns: { role: ChatMessage['role']; texts: string[] }[] = [];
  for (const m of messages) {
    if (m.content.trim() === '') continue;
    const last = turns.at(-1);
    if (last?.role === m.role) last.texts.push(m.content);
    else if (last || m.role === 'user') turns.push({ role: m.role, texts: [m.content] });
  }
  return turns.map((t) => ({ role: t.role, content: [{ text: t.texts.join('\n\n') }] }));
}

const estimateInput = (request: ChatRequest) =>
  estimateTokens([request.system, ...request.messages.map((m) => m.content)]);
