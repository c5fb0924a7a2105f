// bench/chat-model: what the chat adapters add on top of the provider, each against a baseline in
// the same run.
//
// 1. The local (extractive) model: latency of one answer over five ~1,000-character passages.
//    Baseline: quoting the first sentences of the best passage with no scoring at all.
// 2. The hosted adapters (retries, per-attempt timers, stream bookkeeping) against the raw SDK
//    call they wrap, both through the real clients to the local wire servers: buffered answers,
//    and whole streams. The ratio is the adapters' overhead (the wire servers answer at once, so
//    this is the worst case: against a real model it disappears in the model's own latency).
//
//   node --import tsx bench/chat-model.ts        (BENCH_CALLS=300 BENCH_ANSWERS=2000)

import { ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import OpenAI from 'openai';
import { createBedrockChatModel, createBedrockRuntimeClient } from '../shared/adapters/chat/bedrock.ts';
import { extractiveAnswer } from '../shared/adapters/chat/local.ts';
import { createOpenAIChatModel } from '../shared/adapters/chat/openai.ts';
import type { Passage } from '../shared/domain/passage.ts';
import type { ChatRequest } from '../shared/ports/chat-model.ts';
import { startBedrockChatServer } from '../test/support/wire/bedrock-chat-server.ts';
import { startOpenAIChatServer } from '../test/support/wire/openai-chat-server.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const ANSWERS = Number(process.env.BENCH_ANSWERS ?? 2_000);

const SENTENCES = [
  'Customers can return most items within thirty days of delivery for a full refund.',
  'Refunds are processed within five business days once the returned item has been inspected.',
  'Standard shipping takes three to five business days; express orders ship the same day.',
  'Our support team is available Monday to Friday from eight in the morning until six in the evening.',
  'Warranty claims require the order number, a short description of the fault and a photo.',
  'Gift cards never expire and can be combined with any other payment method at checkout.',
];
const passages: Passage[] = Array.from({ length: 5 }, (_, i) => ({
  id: `doc${i}:0`,
  documentId: `doc${i}`,
  ordinal: 0,
  filename: `doc${i}.md`,
  score: 0.8 - i / 20,
  text: Array.from({ length: 12 }, (_, j) => SENTENCES[(i + j) % SENTENCES.length]).join(' '),
}));

async function timed(n: number, fn: () => unknown | Promise<unknown>) {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

const ms = (x: number) => `${x.toFixed(3)} ms`;

/** Measures the baseline first, then the subject (same warm-up for both), and prints the ratio. */
async function compare(
  label: string,
  subject: () => unknown | Promise<unknown>,
  baseline: () => unknown | Promise<unknown>,
  n: number,
) {
  const base = await timed(n, baseline);
  const result = await timed(n, subject);
  console.log(
    `${label.padEnd(40)} p50 ${ms(result.p50).padStart(10)}  p99 ${ms(result.p99).padStart(10)}   ` +
      `baseline p50 ${ms(base.p50).padStart(10)}   ratio ${(result.p50 / base.p50).toFixed(2)}×`,
  );
}

// 1. The local model.
const question = 'How long do refunds take after I return an item?';
const naive = () => {
  const first = passages[0]?.text.split(/(?<=\.)\s+/).slice(0, 2) ?? [];
  return first.map((s) => `${s} [1]`).join('\n\n');
};
await compare('local: one extractive answer', () => extractiveAnswer(question, passages), naive, ANSWERS);

// 2. The hosted adapters against the raw SDK calls.
const request: ChatRequest = {
  modelId: 'gpt-4o-mini',
  system: 'You answer from the documents.',
  messages: [{ role: 'user', content: question }],
  passages,
  question,
  temperature: 0.3,
  maxTokens: 256,
};

const openaiServer = await startOpenAIChatServer();
const openai = new OpenAI({ apiKey: openaiServer.apiKey, baseURL: openaiServer.baseURL, maxRetries: 0 });
const openaiModel = createOpenAIChatModel({ client: openai });
const openaiBody = {
  model: request.modelId,
  messages: [
    { role: 'system' as const, content: request.system },
    { role: 'user' as const, content: question },
  ],
  temperature: 0.3,
  max_completion_tokens: 256,
};
await compare(
  'openai: complete',
  () => openaiModel.complete(request),
  () => openai.chat.completions.create(openaiBody),
  CALLS,
);
await compare(
  'openai: whole stream',
  async () => {
    for await (const _ of openaiModel.stream(request));
  },
  async () => {
    const stream = await openai.chat.completions.create({
      ...openaiBody,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _ of stream);
  },
  CALLS,
);
await openaiServer.close();

const bedrockServer = await startBedrockChatServer();
const bedrock = createBedrockRuntimeClient({
  region: 'us-east-1',
  endpoint: bedrockServer.url,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
});
const bedrockModel = createBedrockChatModel({ client: bedrock });
const bedrockRequest = { ...request, modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0' };
const converseInput = {
  modelId: bedrockRequest.modelId,
  system: [{ text: request.system }],
  messages: [{ role: 'user' as const, content: [{ text: question }] }],
  inferenceConfig: { maxTokens: 256, temperature: 0.3 },
};
await compare(
  'bedrock: complete (Converse)',
  () => bedrockModel.complete(bedrockRequest),
  () => bedrock.send(new ConverseCommand(converseInput)),
  CALLS,
);
await compare(
  'bedrock: whole stream (ConverseStream)',
  async () => {
    for await (const _ of bedrockModel.stream(bedrockRequest));
  },
  async () => {
    const response = await bedrock.send(new ConverseStreamCommand(converseInput));
    for await (const _ of response.stream ?? []);
  },
  CALLS,
);
bedrock.destroy();
await bedrockServer.close();
