/** What a tenant used on one day, per bot and in total. Counters only ever grow. */
export interface UsageCounters {
  /** Chat messages answered (fallbacks included). */
  messages?: number;
  inputTokens?: number;
  outputTokens?: number;
  embeddingTokens?: number;
  /** Cost in nano-dollars (1e-9 USD), an integer: sums never drift (see shared/domain/pricing.ts). */
  costNanoUsd?: number;
}

export type DayCounters = Required<UsageCounters>;

/** The billing period's counters, which the monthly quotas are checked against. */
export interface PeriodUsage {
  /** `YYYY-MM` (UTC). */
  period: string;
  /** Messages admitted in the period (counted when admitted, before the model answers). */
  messages: number;
  /** Input, output and embedding tokens. */
  tokens: number;
  /** The tokens used plus those the turns in flight hold (what admission checks). */
  held: number;
  /** What the period's usage cost, in nano-dollars. */
  costNanoUsd: number;
  /** The cost plus what the turns in flight hold of it (what a plan's `monthlyCostUsd` is checked against). */
  heldCostNanoUsd: number;
  /** When the 80 % warning was sent for this period, if it was. */
  warnedAt?: string;
}

export interface UsageRepository {
  /**
   * Adds to the bot's and the tenant's counters of `day` (YYYY-MM-DD, UTC), and the tokens among
   * them and their cost to the tenant's period of that day, settling `heldTokens` and
   * `heldCostNanoUsd` an admission held for them.
   * Returns the period after the addition when its tokens changed.
   */
  add(
    tenantId: string,
    botId: string,
    day: string,
    counters: UsageCounters,
    heldTokens?: number,
    heldCostNanoUsd?: number,
  ): Promise<PeriodUsage | undefined>;
  /** The recorded days of a range (both ends included), per bot or for the tenant; absent days are not in the map. */
  days(
    tenantId: string,
    range: { from: string; to: string; botId?: string },
  ): Promise<Map<string, DayCounters>>;
  /** The period's counters (zeros when nothing was recorded). */
  period(tenantId: string, period: string): Promise<PeriodUsage>;
  /** Forgets everything recorded for the tenant (its deletion); returns how many records went. */
  deleteTenant(tenantId: string): Promise<number>;
}
