// The offline `local` chat model: no language model, an extractive answer from the retrieved
// passages that says so and cites them.

import { describe, expect, test } from '@jest/globals';
import {
  createLocalChatModel,
  extractiveAnswer,
  NO_MODEL_INTRO,
  NOTHING_FOUND,
  wordGroups,
} from '../../shared/adapters/chat/local.ts';
import { estimateTokens } from '../../shared/domain/limits.ts';
import type { Passage } from '../../shared/domain/passage.ts';
import { terms } from '../../shared/domain/terms.ts';
import {
  ChatModelUnavailableError,
  type ChatRequest,
  type ChatStreamEvent,
} from '../../shared/ports/chat-model.ts';

const passage = (n: number, text: string, extra: Partial<Passage> = {}): Passage => ({
  id: `doc${n}:0`,
  documentId: `doc${n}`,
  ordinal: 0,
  filename: `doc${n}.md`,
  text,
  score: 0.9 - n / 10,
  ...extra,
});

const PASSAGES = [
  passage(
    1,
    'Shipping is free on orders over $50. Orders ship within 2 business days.\n' +
      'Refunds are issued within 30 days of purchase. Returned items must be unused and in their original packaging.',
    { heading: 'Orders' },
  ),
  passage(2, 'Our shop opens at 9 am. We are closed on Sundays and public holidays.'),
  passage(3, 'To request a refund, email support@example.com with your order number.', { page: 4 }),
];

const request = (question: string, passages: readonly Passage[] = PASSAGES): ChatRequest => ({
  modelId: 'extractive',
  system: 'ignored by the local model',
  messages: [{ role: 'user', content: question }],
  passages,
  question,
  temperature: 0.3,
  maxTokens: 1024,
});

describe('local chat model', () => {
  test('says plainly that no language model is configured, then quotes the sentence that best answers, with its citation', async () => {
    const chat = createLocalChatModel();
    expect(chat.provider).toBe('local');
    const result = await chat.complete(request('How do I get a refund for returned items?'));
    expect(result.text.startsWith(`${NO_MODEL_INTRO}\n\n`)).toBe(true);
    expect(result.text).toBe(
      [
        NO_MODEL_INTRO,
        // It holds two of the question's words, the rarer ones; the refund sentences hold one.
        'Returned items must be unused and in their original packaging. [1]',
      ].join('\n\n'),
    );
    // Scored against the question, not taken in passage order: the best quote comes from passage 3.
    expect(extractiveAnswer('How do I request a refund?', PASSAGES)).toBe(
      [NO_MODEL_INTRO, 'To request a refund, email support@example.com with your order number. [3]'].join(
        '\n\n',
      ),
    );
    // A second sentence when it answers nearly as well, best first, each citing its own passage.
    const both = [passage(1, 'Gift cards are valid in every store.'), passage(2, 'Gift cards never expire.')];
    expect(extractiveAnswer('Where are gift cards valid, and do they expire?', both)).toBe(
      [NO_MODEL_INTRO, 'Gift cards are valid in every store. [1]', 'Gift cards never expire. [2]'].join(
        '\n\n',
      ),
    );
    // Nothing unrelated: not the shipping sentence, nothing from the opening hours.
    expect(result.text).not.toMatch(/Shipping|Sundays/);
    expect(result).toMatchObject({
      stopReason: 'end_turn',
      inputTokens: estimateTokens([
        'How do I get a refund for returned items?',
        ...PASSAGES.map((p) => p.text),
      ]),
      outputTokens: estimateTokens([result.text]),
    });
  });

  test('citation markers follow the passages’ order', async () => {
    const { text } = await createLocalChatModel().complete(request('When are you closed?'));
    expect(text).toBe(`${NO_MODEL_INTRO}\n\nWe are closed on Sundays and public holidays. [2]`);
  });

  test('no passages: a clear "nothing found"', async () => {
    const result = await createLocalChatModel().complete(request('What is the meaning of life?', []));
    expect(result.text).toBe(NOTHING_FOUND);
    expect(NOTHING_FOUND).toBe("I couldn't find anything about that in this bot's documents.");
    expect(extractiveAnswer('anything', [passage(1, ' \n --- \n')])).toBe(NOTHING_FOUND);
  });

  test('a passage retrieved without a shared word (a paraphrase) is quoted from its start', () => {
    expect(extractiveAnswer('hello', PASSAGES)).toBe(
      `${NO_MODEL_INTRO}\n\nShipping is free on orders over $50. [1]\n\nOrders ship within 2 business days. [1]`,
    );
  });

  test('deterministic; the stream is the same answer in a few word-group deltas, then done', async () => {
    const chat = createLocalChatModel();
    const question = 'refund policy';
    const a = await chat.complete(request(question));
    const b = await chat.complete(request(question));
    expect(b).toEqual(a);

    const events: ChatStreamEvent[] = [];
    for await (const event of chat.stream(request(question))) events.push(event);
    const deltas = events.filter((e) => e.type === 'delta').map((e) => (e.type === 'delta' ? e.text : ''));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.every((d) => d.trim().split(/\s+/).length <= 4)).toBe(true);
    expect(deltas.join('')).toBe(a.text);
    expect(events.at(-1)).toEqual({
      type: 'done',
      inputTokens: a.inputTokens,
      outputTokens: a.outputTokens,
      stopReason: 'end_turn',
    });
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  });

  test('reads only the best three passages, quotes at most two sentences, and cuts a very long one', () => {
    const many = Array.from({ length: 6 }, (_, i) =>
      passage(i + 1, `Warranty clause ${i + 1} covers the warranty.`),
    );
    const text = extractiveAnswer('warranty', many);
    expect(text.match(/\[\d\]/g)).toEqual(['[1]', '[2]']);

    const long = `The warranty ${'covers many parts of the device '.repeat(30)}for two years.`;
    const clipped = extractiveAnswer('warranty', [passage(1, long)]);
    const quote = clipped.split('\n\n')[1] ?? '';
    expect(quote.length).toBeLessThan(420);
    expect(quote).toMatch(/… \[1\]$/);
  });

  test('words are matched across inflections and languages', () => {
    expect(terms('Refunds refunded refunding, the policies!')).toEqual([
      'refund',
      'refund',
      'refund',
      'policy',
    ]);
    const german = [
      passage(1, 'Die Lieferung dauert zwei Tage. Rücksendungen sind innerhalb von 30 Tagen möglich.'),
    ];
    expect(extractiveAnswer('Sind Rücksendungen möglich?', german)).toBe(
      `${NO_MODEL_INTRO}\n\nRücksendungen sind innerhalb von 30 Tagen möglich. [1]`,
    );
  });

  test('word groups concatenate back to the text', () => {
    const text = '  one two  three\nfour five six seven ';
    expect(wordGroups(text, 2).join('')).toBe(text);
    expect(wordGroups('', 4)).toEqual([]);
  });

  test('an aborted caller gets ChatModelUnavailableError', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      createLocalChatModel().complete({ ...request('x'), signal: controller.signal }),
    ).rejects.toBeInstanceOf(ChatModelUnavailableError);
  });

  test('fast: two hundred answers over five long passages in well under a second', async () => {
    const text = 'Our return policy allows returns within thirty days. '.repeat(20);
    const passages = Array.from({ length: 5 }, (_, i) => passage(i + 1, text));
    const started = performance.now();
    for (let i = 0; i < 200; i++) extractiveAnswer('Can I return an item after thirty days?', passages);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
