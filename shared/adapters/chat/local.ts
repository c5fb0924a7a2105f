// The offline default: no language model at all. It says so plainly, then quotes the sentences of
// the retrieved passages that share the most words with the question, each with its citation
// marker ([n] is passages[n−1]). Deterministic, no I/O, a few milliseconds.
//
// Scoring: the best passages are cut into lines and sentences (Intl.Segmenter, so any language);
// words are lower-cased, stop words dropped and plurals and -ed/-ing endings trimmed; a sentence
// scores the summed rarity (inverse sentence frequency) of the question words it contains. The
// best sentence is quoted first, and at most one more that scores nearly as well (a second half of
// the answer), best first: a quote that merely shares a word is noise, and each quote is cited, so
// the citations list only what was quoted.
// When no sentence shares a word with the question (a paraphrase that the embedding matched), the
// start of the best passage is quoted instead.

import { estimateTokens } from '../../domain/limits.ts';
import type { Passage } from '../../domain/passage.ts';
import { terms } from '../../domain/terms.ts';
import {
  type ChatModel,
  ChatModelUnavailableError,
  type ChatRequest,
  type ChatResult,
  type ChatStreamEvent,
} from '../../ports/chat-model.ts';

export const NO_MODEL_INTRO =
  'No language model is configured for this bot, so here is what its documents say:';
export const NOTHING_FOUND = "I couldn't find anything about that in this bot's documents.";

/** Passages read (best first), sentences quoted, and the longest quote before it is cut. */
const MAX_PASSAGES = 3;
const MAX_SENTENCES = 2;
const MAX_SENTENCE_CHARS = 400;
/** Words per streamed delta. */
const WORDS_PER_DELTA = 4;
/** A second sentence must score at least this share of the best one. */
const MIN_RELATIVE_SCORE = 0.6;

export function createLocalChatModel(): ChatModel {
  const complete = (request: ChatRequest): ChatResult => {
    if (request.signal?.aborted) {
      throw new ChatModelUnavailableError('local: the caller cancelled the request', {
        provider: 'local',
        reason: 'aborted',
        cause: request.signal.reason,
      });
    }
    const text = extractiveAnswer(request.question, request.passages);
    return {
      text,
      inputTokens: estimateTokens([request.question, ...request.passages.map((p) => p.text)]),
      outputTokens: estimateTokens([text]),
      stopReason: 'end_turn',
    };
  };

  return {
    provider: 'local',
    async complete(request) {
      return complete(request);
    },
    async *stream(request): AsyncGenerator<ChatStreamEvent> {
      const { text, inputTokens, outputTokens, stopReason } = complete(request);
      for (const piece of wordGroups(text, WORDS_PER_DELTA)) yield { type: 'delta', text: piece };
      yield { type: 'done', inputTokens, outputTokens, stopReason };
    },
  };
}

/** The local model's whole answer for a question and the passages retrieved for it. */
export function extractiveAnswer(question: string, passages: readonly Passage[]): string {
  const candidates = sentencesOf(passages.slice(0, MAX_PASSAGES));
  if (candidates.length === 0) return NOTHING_FOUND;

  const queryTerms = new Set(terms(question));
  // Rarer words say more: weigh each question word by how few sentences contain it.
  const frequency = new Map<string, number>();
  for (const c of candidates)
    for (const t of c.terms) if (queryTerms.has(t)) frequency.set(t, (frequency.get(t) ?? 0) + 1);
  const weight = (t: string) => Math.log(1 + candidates.length / (frequency.get(t) ?? 1));
  for (const c of candidates) {
    for (const t of c.terms) if (queryTerms.has(t)) c.score += weight(t);
  }

  const ranked = [...candidates].sort(
    (a, b) => b.score - a.score || a.passage - b.passage || a.order - b.order,
  );
  const best = ranked[0];
  let chosen: Sentence[];
  if (!best || best.score === 0) {
    chosen = candidates.filter((c) => c.passage === 0).slice(0, MAX_SENTENCES);
  } else {
    chosen = [];
    const seen = new Set<string>();
    for (const c of ranked) {
      if (chosen.length >= MAX_SENTENCES || c.score < best.score * MIN_RELATIVE_SCORE) break;
      const key = c.text.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      chosen.push(c);
    }
  }
  const quotes = chosen.map((c) => `${clip(c.text, MAX_SENTENCE_CHARS)} [${c.passage + 1}]`);
  return `${NO_MODEL_INTRO}\n\n${quotes.join('\n\n')}`;
}

interface Sentence {
  readonly text: string;
  /** Index of its passage in the request (its citation is [passage + 1]). */
  readonly passage: number;
  /** Position among all candidates, for document order and ties. */
  readonly order: number;
  readonly terms: ReadonlySet<string>;
  score: number;
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

function sentencesOf(passages: readonly Passage[]): Sentence[] {
  const out: Sentence[] = [];
  passages.forEach((passage, index) => {
    // Lines first: list items, table rows and headings rarely end with a full stop.
    for (const line of passage.text.split(/\r?\n/)) {
      for (const { segment } of sentenceSegmenter.segment(line)) {
        const text = segment.replace(/\s+/g, ' ').trim();
        // Skip fragments with no word in them ("•", "---", "3.").
        if (!/\p{L}{2}/u.test(text)) continue;
        out.push({ text, passage: index, order: out.length, terms: new Set(terms(text)), score: 0 });
      }
    }
  });
  return out;
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(' ', max - 1);
  return `${text.slice(0, cut > max / 2 ? cut : max - 1).trimEnd()}…`;
}

/** The text in pieces of `size` words (whitespace kept), which concatenate back to it. */
export function wordGroups(text: string, size: number): string[] {
  const words = text.match(/\S+\s*/g) ?? [];
  const leading = /^\s*/.exec(text)?.[0] ?? '';
  const groups: string[] = [];
  for (let i = 0; i < words.length; i += size) groups.push(words.slice(i, i + size).join(''));
  if (groups.length > 0 && leading) groups[0] = leading + groups[0];
  return groups;
}
