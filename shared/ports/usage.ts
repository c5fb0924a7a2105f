/** What a tenant used on one day, per bot; later issues add messages and chat tokens. */
export interface UsageCounters {
  messages?: number;
  inputTokens?: number;
  outputTokens?: number;
  embeddingTokens?: number;
  costUsd?: number;
}

export interface UsageRepository {
  /** Adds to the bot's and the tenant's counters of `day` (YYYY-MM-DD, UTC). */
  add(tenantId: string, botId: string, day: string, counters: UsageCounters): Promise<void>;
}
