import type { Bot } from '../domain/bot.ts';
import type { RetrievedPassage as ModelPassage } from '../ports/chat-model.ts';
import type { Embedder } from '../ports/embedder.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { getBot } from './bots.ts';
import type { TenantDeps } from './tenants.ts';

export interface RetrievalDeps extends TenantDeps {
  index: VectorIndex;
  embedder: Embedder;
}

export interface RetrievedPassage {
  documentId: string;
  filename: string;
  page?: number;
  heading?: string;
  text: string;
  score: number;
}

/**
 * The passages a bot retrieves for a text: its own chunks only (the tenant and bot filter is part
 * of the query), at least its `minScore`, best first. Search and chat both retrieve through here.
 */
export async function retrievePassages(
  deps: Pick<RetrievalDeps, 'index' | 'embedder'>,
  bot: Pick<Bot, 'id' | 'tenantId' | 'retrieval'>,
  text: string,
  topK = bot.retrieval.topK,
): Promise<ModelPassage[]> {
  const { vectors } = await deps.embedder.embed([text]);
  const hits = await deps.index.search({ tenantId: bot.tenantId, botId: bot.id }, vectors[0] ?? [], {
    topK,
    minScore: bot.retrieval.minScore,
  });
  return hits.map((hit) => ({
    id: hit.chunkId,
    documentId: hit.documentId,
    filename: hit.filename,
    ...(hit.page !== undefined && { page: hit.page }),
    ...(hit.heading !== undefined && { heading: hit.heading }),
    text: hit.text,
    score: hit.score,
  }));
}

/** What the bot would retrieve for a query, as the admin's search shows it. */
export async function searchKnowledge(
  deps: RetrievalDeps,
  tenantId: string,
  botId: string,
  input: { query: string; topK?: number },
): Promise<RetrievedPassage[]> {
  const bot = await getBot(deps, tenantId, botId);
  const passages = await retrievePassages(deps, bot, input.query, input.topK);
  return passages.map(({ id: _id, ...passage }) => passage);
}
