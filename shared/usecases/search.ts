import type { Passage, PassageRanks } from '../domain/passage.ts';
import type { ChatMessage } from '../ports/chat-model.ts';
import type { RetrievalDeps, TenantDeps } from './deps.ts';
import { getBot } from './lookups.ts';
import { retrieve } from './retrieve.ts';

/** A passage as the admin's search answers it (functions/admin/routes.ts's SearchResultsSchema). */
export type SearchResult = Pick<
  Passage,
  'documentId' | 'filename' | 'page' | 'heading' | 'text' | 'score' | 'similarity'
> & { ranks: PassageRanks };

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
    ranks: p.ranks ?? {},
    ...(p.similarity !== undefined && { similarity: p.similarity }),
  }));
}
