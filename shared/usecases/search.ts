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

/** What the bot would retrieve for a query: its own chunks only, at its `minScore`, best first. */
export async function searchKnowledge(
  deps: RetrievalDeps,
  tenantId: string,
  botId: string,
  input: { query: string; topK?: number },
): Promise<RetrievedPassage[]> {
  const bot = await getBot(deps, tenantId, botId);
  const { vectors } = await deps.embedder.embed([input.query]);
  const hits = await deps.index.search({ tenantId, botId }, vectors[0] ?? [], {
    topK: input.topK ?? bot.retrieval.topK,
    minScore: bot.retrieval.minScore,
  });
  return hits.map((hit) => ({
    documentId: hit.documentId,
    filename: hit.filename,
    ...(hit.page !== undefined && { page: hit.page }),
    ...(hit.heading !== undefined && { heading: hit.heading }),
    text: hit.text,
    score: hit.score,
  }));
}
