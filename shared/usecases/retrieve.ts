// Retrieval, the one use-case behind search, chat, channels and evaluations (DESIGN.md §8):
// rewrite (a follow-up) → keyword and vector candidates under the tenant+bot filter → score
// fusion → optional rerank → relevance gate → top K.
//
// Fusion lives here, not in the index adapters, so LanceDB and OpenSearch rank alike: a chunk
// scores an equal-weight blend of its cosine and its BM25 score divided by the query's best BM25
// (see `fuse`). Measured on bench/eval (280 labelled questions), this beat reciprocal rank fusion
// by +0.10 recall@5 and +0.19 MRR@5: ranks throw away how far ahead a hit is in each list.
//
// The relevance gate decides what may be cited, and so when the bot abstains: a candidate passes
// on its cosine (the bot's `minScore`; every candidate has one when the index returns keyword
// hits' cosines), or when it holds enough of the question's rarer words (`keywordCoverage`,
// rarity weighted across the candidates), since a BM25 list always returns something once any
// word matches.

import type { Bot } from '../domain/bot.ts';
import type { Passage } from '../domain/passage.ts';
import { terms } from '../domain/terms.ts';
import { logger } from '../logging.ts';
import type { ChatMessage } from '../ports/chat-model.ts';
import type { Reranker } from '../ports/reranker.ts';
import { type CandidateQuery, searchableText } from '../ports/vector-index.ts';
import type { RetrievalDeps } from './deps.ts';

/**
 * `score`: the blend of normalised scores below (the default, measured better on bench/eval);
 * `rrf`: reciprocal rank fusion, Σ 1/(RRF_K + rank), the usual rank-only method, kept as the
 * baseline `npm run eval` prints beside it.
 */
export type Fusion = 'score' | 'rrf';
/** RRF's damping constant: the usual 60 (Cormack et al.). */
export const RRF_K = 60;

/** The cosine's share of a fused score (the rest is the normalised BM25): equal weight. */
export const VECTOR_WEIGHT = 0.5;
/** Candidates each list contributes, and how many fused candidates a reranker sees. */
export const CANDIDATES_PER_LIST = 20;

export type RetrievalMode = 'hybrid' | 'vector' | 'keyword';

export interface Retrieval {
  /**
   * What the bot may cite, best first, at most topK; empty when nothing relevant was found. Each
   * with its fused (or reranked) score, its ranks, its cosine when known, and `relevant`.
   */
  passages: Passage[];
  /** Every fused candidate, best first (for evaluations and the admin's search). */
  candidates: Passage[];
  /** The queries searched: the question, and the rewrite or the follow-up query. */
  queries: string[];
  usage: { embeddingTokens: number; inputTokens: number; outputTokens: number };
}

type RetrievalBot = Pick<Bot, 'id' | 'tenantId' | 'retrieval'>;

/**
 * What a bot retrieves for a question in a conversation: its own chunks only (the tenant and bot
 * filter is part of every query), fused, gated and ranked.
 */
export async function retrieve(
  deps: RetrievalDeps,
  bot: RetrievalBot,
  question: string,
  history: readonly ChatMessage[] = [],
  options: { topK?: number; fusion?: Fusion } = {},
): Promise<Retrieval> {
  const settings = bot.retrieval;
  const topK = options.topK ?? settings.topK;
  const usage = { embeddingTokens: 0, inputTokens: 0, outputTokens: 0 };
  const queries = await planQueries(deps, question, history, usage);

  const useVector = settings.mode !== 'keyword';
  const useKeyword = settings.mode !== 'vector';
  let vectors: number[][] = [];
  if (useVector) {
    const embedded = await deps.embedder.embed(queries);
    vectors = embedded.vectors;
    usage.embeddingTokens += embedded.tokens;
  }
  const scope = { tenantId: bot.tenantId, botId: bot.id };
  const k = Math.max(CANDIDATES_PER_LIST, topK);
  const lists = await Promise.all(
    queries.map((text, i) => {
      const query: CandidateQuery = {
        k,
        minScore: settings.minScore,
        ...(useVector && { vector: vectors[i] ?? [] }),
        ...(useKeyword && { text }),
      };
      return deps.index.candidates(scope, query);
    }),
  );

  const fused = (options.fusion === 'rrf' ? fuseByRanks : fuse)(
    lists.map((l) => l.vector),
    lists.map((l) => l.keyword.map((hit, i) => withSimilarity(hit, l.keywordSimilarity?.[i]))),
  );
  const gated = gate(fused, terms(question), new Set(queries.flatMap((q) => terms(q))), settings);
  const ranked =
    settings.rerank && deps.reranker && gated.length > 1
      ? await rerankCandidates(deps.reranker, queries.at(-1) ?? question, gated).catch((error: unknown) => {
          // The reranker is an improvement, not a dependency: without it the fused order stands.
          logger.warn('reranking failed; keeping the fused order', { error });
          return gated;
        })
      : gated;
  const passages = ranked.filter((c) => c.relevant).slice(0, topK);
  return { passages, candidates: ranked, queries, usage };
}

/** A keyword hit with its cosine, when the engine returned one. */
const withSimilarity = (hit: Passage, similarity: number | undefined): Passage =>
  similarity === undefined ? hit : { ...hit, similarity };

/**
 * The queries to search. No history: the question. A follow-up: the model's standalone rewrite
 * when the bot has a language model; otherwise, or if the rewrite fails, the question and the
 * question joined to the previous user turn, fused (the earlier turn names what "it" is).
 */
async function planQueries(
  deps: RetrievalDeps,
  question: string,
  history: readonly ChatMessage[],
  usage: Retrieval['usage'],
): Promise<string[]> {
  const previous = [...history]
    .reverse()
    .find((m) => m.role === 'user')
    ?.content.trim();
  if (!previous) return [question];
  if (deps.rewrite) {
    try {
      const rewritten = await deps.rewrite(history, question);
      usage.inputTokens += rewritten.inputTokens;
      usage.outputTokens += rewritten.outputTokens;
      const query = rewritten.query.trim();
      if (query) return [question, query];
    } catch {
      // The rewrite is an optimisation: the offline rule still retrieves.
    }
  }
  return [question, `${previous}\n${question}`];
}

/** A candidate as fusion scores it: the index's hit, its fused score, ranks and best cosine. */
interface Fused {
  hit: Passage;
  score: number;
  ranks: { vector?: number; keyword?: number };
  similarity?: number;
}

/**
 * Score fusion: per query, a candidate scores
 *   VECTOR_WEIGHT · cosine + (1 − VECTOR_WEIGHT) · BM25 / the query's best BM25,
 * and keeps its best score over the queries. A convex combination of the two normalised scores
 * keeps how far ahead a hit is in each list, which ranks alone (RRF) throw away (Bruch et al.,
 * "An Analysis of Fusion Functions for Hybrid Retrieval", 2023). A keyword hit carries its cosine
 * when the engine returns it; otherwise it takes the vector list's last cosine (an upper bound:
 * it would have made the list). A hit missing from the keyword list counts BM25 0. One list
 * alone (vector or keyword mode) keeps that list's order. Ties keep the better vector rank.
 */
export function fuse(vectorLists: Passage[][], keywordLists: Passage[][]): Fused[] {
  const byId = new Map<string, Fused>();
  const queries = Math.max(vectorLists.length, keywordLists.length);
  for (let q = 0; q < queries; q++) {
    const vector = vectorLists[q] ?? [];
    const keyword = keywordLists[q] ?? [];
    const cosines = new Map<string, number>();
    const bm25 = new Map<string, number>();
    for (const hit of vector) cosines.set(hit.id, Math.max(cosines.get(hit.id) ?? -1, hit.score));
    const floor = vector.at(-1)?.score ?? 0;
    const best = Math.max(0, ...keyword.map((hit) => hit.score));
    for (const hit of keyword) {
      bm25.set(hit.id, Math.max(bm25.get(hit.id) ?? 0, best > 0 ? hit.score / best : 0));
      if (!cosines.has(hit.id)) cosines.set(hit.id, hit.similarity ?? floor);
    }
    const note = (hit: Passage, kind: 'vector' | 'keyword', rank: number) => {
      const entry = byId.get(hit.id) ?? { hit, score: Number.NEGATIVE_INFINITY, ranks: {} };
      entry.ranks[kind] = Math.min(entry.ranks[kind] ?? rank, rank);
      const cosine = kind === 'vector' ? hit.score : hit.similarity;
      if (cosine !== undefined) entry.similarity = Math.max(entry.similarity ?? -1, cosine);
      const score =
        (vector.length ? VECTOR_WEIGHT * (cosines.get(hit.id) ?? 0) : 0) +
        (keyword.length ? (1 - VECTOR_WEIGHT) * (bm25.get(hit.id) ?? 0) : 0);
      entry.score = Math.max(entry.score, score);
      byId.set(hit.id, entry);
    };
    for (const [i, hit] of vector.entries()) note(hit, 'vector', i + 1);
    for (const [i, hit] of keyword.entries()) note(hit, 'keyword', i + 1);
  }
  return [...byId.values()].sort(byScoreThenVectorRank);
}

const byScoreThenVectorRank = (a: Fused, b: Fused) =>
  b.score - a.score ||
  (a.ranks.vector ?? Number.POSITIVE_INFINITY) - (b.ranks.vector ?? Number.POSITIVE_INFINITY) ||
  a.hit.id.localeCompare(b.hit.id);

/** Reciprocal rank fusion of every list (the baseline): ranks only; ties keep the better vector rank. */
export function fuseByRanks(vectorLists: Passage[][], keywordLists: Passage[][]): Fused[] {
  const byId = new Map<string, Fused>();
  const add = (list: Passage[], kind: 'vector' | 'keyword') => {
    list.forEach((hit, i) => {
      const rank = i + 1;
      const entry = byId.get(hit.id) ?? { hit, score: 0, ranks: {} };
      entry.score += 1 / (RRF_K + rank);
      entry.ranks[kind] = Math.min(entry.ranks[kind] ?? rank, rank);
      const cosine = kind === 'vector' ? hit.score : hit.similarity;
      if (cosine !== undefined) entry.similarity = Math.max(entry.similarity ?? -1, cosine);
      byId.set(hit.id, entry);
    });
  };
  for (const list of vectorLists) add(list, 'vector');
  for (const list of keywordLists) add(list, 'keyword');
  return [...byId.values()].sort(byScoreThenVectorRank);
}

/**
 * Marks each fused candidate relevant or not: its cosine reaches `minScore`, or it holds a
 * `keywordCoverage` share of the question's words, each weighted by its rarity among the
 * candidates (a word every candidate holds says little).
 */
function gate(
  fused: Fused[],
  questionTerms: string[],
  allTerms: ReadonlySet<string>,
  settings: RetrievalBot['retrieval'],
): Passage[] {
  const candidateTerms = fused.map((f) => new Set(terms(`${searchableText(f.hit)} ${f.hit.filename}`)));
  const frequency = new Map<string, number>();
  for (const set of candidateTerms)
    for (const t of allTerms) if (set.has(t)) frequency.set(t, (frequency.get(t) ?? 0) + 1);
  const weight = (t: string) => Math.log(1 + (fused.length + 1) / ((frequency.get(t) ?? 0) + 1));
  const wanted = [...new Set(questionTerms)];
  const total = wanted.reduce((sum, t) => sum + weight(t), 0);
  return fused.map((f, i) => {
    const set = candidateTerms[i] ?? new Set<string>();
    const covered = wanted.reduce((sum, t) => sum + (set.has(t) ? weight(t) : 0), 0);
    const coverage = total > 0 ? covered / total : 0;
    const relevant =
      (f.similarity !== undefined && f.similarity >= settings.minScore) ||
      coverage >= settings.keywordCoverage;
    return toCandidate(f, relevant);
  });
}

function toCandidate(f: Fused, relevant: boolean): Passage {
  // A keyword hit's own cosine is in f.similarity, the best over the queries.
  return {
    ...f.hit,
    score: f.score,
    ranks: { ...f.ranks },
    ...(f.similarity !== undefined && { similarity: f.similarity }),
    relevant,
  };
}

/** The fused top candidates in the reranker's order (its score becomes the passage's score). */
async function rerankCandidates(
  reranker: Reranker,
  query: string,
  candidates: Passage[],
): Promise<Passage[]> {
  const top = candidates.slice(0, CANDIDATES_PER_LIST);
  const order = await reranker.rerank(
    query,
    top.map((c) => c.text),
    { topN: top.length },
  );
  const reranked: Passage[] = [];
  order.forEach(({ index, score }, i) => {
    const candidate = top[index];
    if (candidate) reranked.push({ ...candidate, score, ranks: { ...candidate.ranks, rerank: i + 1 } });
  });
  return reranked;
}
