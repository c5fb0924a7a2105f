import type { ChatMessage } from '../ports/chat-model.ts';
import { getBot } from './bots.ts';
import { type RetrievalDeps, retrieve } from './retrieve.ts';
import type { TenantDeps } from './tenants.ts';

export interface SearchResult {
  documentId: string;
  filename: string;
  page?: number;
  heading?: string;
  text: string;
  score: number;
  ranks: { vector?: number; keyword?: number; rerank?: number };
  similarity?: number;
}

/** What the bot would retrieve for a query (the passages it may cite), as the admin's search shows it. */
export async function searchKnowledge(
  deps: TenantDeps & RetrievalDeps,
  tenantId: string,
  botId: string,
  input: { query: string; topK?: number; history?: readonly ChatMessage[] },
): Promise<SearchResult[]> {
  const bot = await getBot(deps, tenantId, botId);
  const { passages } = await retrieve(
    deps,
    bot,
    input.query,
    input.history ?? [],
    input.topK ? { topK: input.topK } : {},
  );
  return passages.map((p) => ({
    documentId: p.documentId,
    filename: p.filename,
    ...(p.page !== undefined && { page: p.page }),
    ...(p.heading !== undefined && { heading: p.heading }),
    text: p.text,
    score: p.score,
    ranks: p.ranks,
    ...(p.similarity !== undefined && { similarity: p.similarity }),
  }));
}
