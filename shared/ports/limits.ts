import type { RateLimits, RateScope, RateWindowKind } from '../domain/limits.ts';
import type { PeriodUsage } from './usage.ts';

// Limits enforced across every concurrent Lambda: the counters live in DynamoDB, never in memory.

export type RateDecision =
  | { readonly admitted: true }
  | {
      readonly admitted: false;
      /** The window that refused (the latest-ending one when several did). */
      readonly window: RateWindowKind;
      /** Until that window ends, at least 1. */
      readonly retryAfterSeconds: number;
    };

export interface RateLimiter {
  /**
   * Counts one request in each of the end user's minutes, the bot's second and the bot's minute,
   * or in none of them: refused when any is full. Never admits more than a window's limit, however
   * many callers race.
   */
  admit(request: RateScope & { readonly limits: RateLimits; readonly now: Date }): Promise<RateDecision>;
}

export type Reservation =
  | { readonly admitted: true; readonly usage: PeriodUsage }
  | {
      readonly admitted: false;
      /** What was used up, when the store could tell. */
      readonly exhausted?: 'messages' | 'tokens' | 'cost';
    };

export interface QuotaStore {
  /**
   * Counts one message in the tenant's period and holds `holdTokens` of its tokens and
   * `holdCostNanoUsd` of its cost for the turn, unless that would take the messages, the held
   * tokens (used plus still held) or, when the plan caps it, the held cost past their limits;
   * atomic, so concurrent callers never exceed any. The turn's `usage.add` settles the holds with
   * what it used.
   */
  reserveMessage(
    tenantId: string,
    period: string,
    limits: { readonly messages: number; readonly tokens: number; readonly costNanoUsd?: number },
    holdTokens: number,
    holdCostNanoUsd?: number,
  ): Promise<Reservation>;
  /** Records that the period's 80 % warning is being sent; true for exactly one caller per period. */
  markWarned(tenantId: string, period: string, at: string): Promise<boolean>;
  /** Takes back `markWarned(at)` when its event could not be published, so a later admission retries. */
  unmarkWarned(tenantId: string, period: string, at: string): Promise<void>;
}
