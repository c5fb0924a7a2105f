import type { RateLimits, RateScope, RateWindowKind } from '../domain/limits.ts';
import type { ChatSession, StoredMessage } from '../domain/session.ts';
import type { PeriodUsage, UsageCounters } from './usage.ts';

// Limits enforced across every concurrent Lambda: the counters live in DynamoDB, never in memory.
// A chat turn costs the store two writes: its admission, and its record once answered.

/** A monthly quota's limits as the store checks them (cost in nano-dollars, when the plan caps it). */
export interface QuotaLimits {
  readonly messages: number;
  readonly tokens: number;
  readonly costNanoUsd?: number;
}

/**
 * The counts at which the period's 80 % warning is due (`warningThreshold` of each limit). A write
 * that takes the period to one of them, before the warning was sent, reports the period's counters,
 * so the warning needs no read of its own.
 */
export type WarningThresholds = QuotaLimits;

export interface AdmissionRequest extends RateScope {
  readonly limits: RateLimits;
  readonly now: Date;
  readonly quota: {
    /** `YYYY-MM` (UTC). */
    readonly period: string;
    readonly limits: QuotaLimits;
    readonly warnAt: WarningThresholds;
    /** The most tokens the turn may use, held until its record settles them. */
    readonly holdTokens: number;
    /** The most the turn may cost (nano-dollars), held like its tokens. */
    readonly holdCostNanoUsd: number;
  };
}

export type AdmissionDecision =
  | {
      readonly admitted: true;
      /** The period with this message, when it reached `warnAt` (absent otherwise). */
      readonly usage?: PeriodUsage;
    }
  | {
      readonly admitted: false;
      readonly refusedBy: 'rate';
      /** The window that refused (the latest-ending one when several did). */
      readonly window: RateWindowKind;
      /** Until that window ends, at least 1. */
      readonly retryAfterSeconds: number;
    }
  | {
      readonly admitted: false;
      readonly refusedBy: 'quota';
      /** What was used up, when the store could tell. */
      readonly exhausted?: 'messages' | 'tokens' | 'cost';
    };

/** What an answered (or fallback) turn leaves: its usage and, for a chat turn, its conversation. */
export interface TurnRecord {
  readonly tenantId: string;
  readonly botId: string;
  /** `YYYY-MM-DD` (UTC): the day counted, whose month is the period settled. */
  readonly day: string;
  readonly counters: UsageCounters;
  /** What the turn's admission held, settled by what it used. */
  readonly heldTokens: number;
  readonly heldCostNanoUsd: number;
  readonly warnAt: WarningThresholds;
  readonly conversation?: {
    /** `isNew`: the turn started the session, which is created with its first messages. */
    readonly session: ChatSession;
    readonly isNew: boolean;
    readonly messages: readonly StoredMessage[];
    /** The messages' and the session's new expiry (epoch seconds), and the time of the last message. */
    readonly expiresAt: number;
    readonly at: string;
  };
}

export interface TurnStore {
  /**
   * Counts one request in each of the end user's minutes, the bot's second and the bot's minute,
   * and one message in the tenant's period holding the turn's tokens and cost, or none of it:
   * refused when a window is full (rate, reported first) or the quota would be passed. Atomic, so
   * however many callers race, no window and no quota ever admits more than its limit.
   */
  admit(request: AdmissionRequest): Promise<AdmissionDecision>;
  /**
   * Records a turn the store admitted: the messages (creating or extending the session), the
   * bot's and the tenant's day counters, and the period's tokens and cost, settling the holds.
   * The usage is recorded even when the session went away meanwhile (its messages are not).
   * Returns the period after it when the record took it to `warnAt`.
   */
  record(turn: TurnRecord): Promise<{ usage?: PeriodUsage }>;
}

export interface QuotaStore {
  /** Records that the period's 80 % warning is being sent; true for exactly one caller per period. */
  markWarned(tenantId: string, period: string, at: string): Promise<boolean>;
  /** Takes back `markWarned(at)` when its event could not be published, so a later admission retries. */
  unmarkWarned(tenantId: string, period: string, at: string): Promise<void>;
}
