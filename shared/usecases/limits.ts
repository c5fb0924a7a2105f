import { QuotaExceededError, RateLimitedError } from '../domain/errors.ts';
import {
  type EndUser,
  endUserKey,
  nextPeriodStart,
  periodOf,
  type RateLimits,
  type RateWindowKind,
  reachesWarning,
  warningThreshold,
} from '../domain/limits.ts';
import { nanoToUsd } from '../domain/pricing.ts';
import type { Plan } from '../domain/tenant.ts';
import { logger } from '../logging.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventPublisher } from '../ports/events.ts';
import type { QuotaStore, TurnStore, WarningThresholds } from '../ports/limits.ts';
import type { PeriodUsage } from '../ports/usage.ts';

export interface LimitsDeps {
  clock: Clock;
  turns: TurnStore;
  quotas: QuotaStore;
  events: EventPublisher;
}

export type QuotaPlan = Pick<Plan, 'monthlyMessages' | 'monthlyTokens' | 'monthlyCostUsd'>;

export interface Admission {
  /** The billing period the message was counted in. */
  readonly period: string;
  /** The tokens held for the turn, which recording its usage settles. */
  readonly heldTokens: number;
}

const QUOTA_NAMES = { messages: 'messages', tokens: 'tokens', cost: 'spending' } as const;

/** The plan's limits as the quota store checks them, or what it has none of. */
function quotaLimits(plan: QuotaPlan) {
  if (plan.monthlyMessages <= 0) return { exhausted: 'messages' } as const;
  if (plan.monthlyTokens <= 0) return { exhausted: 'tokens' } as const;
  const cap = costCapNanoUsd(plan);
  return {
    messages: plan.monthlyMessages,
    tokens: plan.monthlyTokens,
    ...(cap !== undefined && { costNanoUsd: cap }),
  };
}

const costCapNanoUsd = (plan: QuotaPlan) =>
  plan.monthlyCostUsd === undefined || plan.monthlyCostUsd === null
    ? undefined
    : Math.round(plan.monthlyCostUsd * 1e9);

/** The counts at which the plan's 80 % warning is due (`reachesWarning`). */
export function warningThresholds(plan: QuotaPlan): WarningThresholds {
  const cap = costCapNanoUsd(plan);
  return {
    messages: warningThreshold(plan.monthlyMessages),
    tokens: warningThreshold(plan.monthlyTokens),
    ...(cap !== undefined && { costNanoUsd: warningThreshold(cap) }),
  };
}

const RATE_MESSAGES: Record<RateWindowKind, string> = {
  'user-minute': 'Too many messages from you this minute',
  'bot-second': 'Too many messages to this bot right now',
  'bot-minute': 'Too many messages to this bot this minute',
};

/**
 * Admits one chat message or throws: the bot's and the end user's rate limits and the tenant's
 * monthly quota at once (a request refused by either spends neither), holding `holdTokens` (the
 * most the turn may use) so that concurrent turns cannot pass the plan together. Call it before any
 * model or retrieval work, and call `recordTurn` with the hold for every admitted message
 * (fallbacks included).
 *
 * @throws RateLimitedError (429 `rate_limited`, `Retry-After`) when a window is full.
 * @throws QuotaExceededError (429 `quota_exceeded`) when the month's messages or tokens are used up.
 */
export async function admitMessage(
  deps: LimitsDeps,
  input: {
    tenant: { id: string; plan: QuotaPlan };
    bot: { id: string; rateLimits: RateLimits };
    /** Every identity of the end user (`webEndUsers`), or a platform's user. */
    endUsers: readonly EndUser[];
    holdTokens?: number;
    /** The most the turn may cost (nano-dollars), held like its tokens. */
    holdCostNanoUsd?: number;
  },
): Promise<Admission> {
  const { tenant, bot, holdTokens = 0, holdCostNanoUsd = 0 } = input;
  const now = deps.clock.now();
  const period = periodOf(now);
  const limits = quotaLimits(tenant.plan);
  const decision =
    'messages' in limits
      ? await deps.turns.admit({
          tenantId: tenant.id,
          botId: bot.id,
          userKeys: input.endUsers.map(endUserKey),
          limits: bot.rateLimits,
          now,
          quota: { period, limits, warnAt: warningThresholds(tenant.plan), holdTokens, holdCostNanoUsd },
        })
      : ({ admitted: false, refusedBy: 'quota', exhausted: limits.exhausted } as const);
  if (!decision.admitted && decision.refusedBy === 'rate') {
    throw new RateLimitedError(
      `${RATE_MESSAGES[decision.window]}; retry in ${decision.retryAfterSeconds} s`,
      decision.retryAfterSeconds,
    );
  }
  if (!decision.admitted) {
    const what = decision.exhausted === undefined ? 'usage' : QUOTA_NAMES[decision.exhausted];
    const renews = nextPeriodStart(period);
    throw new QuotaExceededError(`The monthly ${what} quota is used up; it renews on ${renews} (UTC)`, {
      details: { period, renews },
    });
  }
  if (decision.usage) await warnIfNearQuota(deps, tenant.id, tenant.plan, decision.usage);
  return { period, heldTokens: holdTokens };
}

/**
 * Sends the period's quota warning once usage reaches 80 % of its messages, tokens or cost cap: the store
 * lets exactly one caller mark the period, and only that caller publishes. Never throws (the
 * request that crossed the line is not failed by its warning); when publishing fails the mark is
 * taken back so a later request tries again.
 */
export async function warnIfNearQuota(
  deps: Pick<LimitsDeps, 'clock' | 'quotas' | 'events'>,
  tenantId: string,
  plan: QuotaPlan,
  usage: PeriodUsage,
): Promise<boolean> {
  if (usage.warnedAt !== undefined) return false;
  const costCap = plan.monthlyCostUsd ?? undefined;
  if (
    !reachesWarning(usage.messages, plan.monthlyMessages) &&
    !reachesWarning(usage.tokens, plan.monthlyTokens) &&
    !(costCap !== undefined && reachesWarning(usage.costNanoUsd, Math.round(costCap * 1e9)))
  )
    return false;
  const at = deps.clock.now().toISOString();
  try {
    if (!(await deps.quotas.markWarned(tenantId, usage.period, at))) return false;
  } catch (error) {
    logger.error('quota warning not recorded', { error, tenantId, period: usage.period });
    return false;
  }
  try {
    await deps.events.publish({
      type: 'quota.warning',
      tenantId,
      period: usage.period,
      messagesUsed: usage.messages,
      messagesLimit: plan.monthlyMessages,
      tokensUsed: usage.tokens,
      tokensLimit: plan.monthlyTokens,
      ...(costCap !== undefined && { costUsd: nanoToUsd(usage.costNanoUsd), costLimitUsd: costCap }),
    });
    return true;
  } catch (error) {
    logger.error('quota warning not published; a later request will retry', {
      error,
      tenantId,
      period: usage.period,
    });
    await deps.quotas.unmarkWarned(tenantId, usage.period, at).catch((undo: unknown) => {
      logger.error('quota warning mark not taken back', { error: undo, tenantId, period: usage.period });
    });
    return false;
  }
}
