import type { Bot } from '../domain/bot.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { EndUser } from '../domain/limits.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { TurnRecord } from '../ports/limits.ts';
import type { TenantRepository } from '../ports/repositories.ts';
import { admitMessage, type LimitsDeps } from './limits.ts';
import { recordTurn, turnCostBound, type UsageDeps } from './usage.ts';

/** How long a container reuses a tenant's plan: plans change rarely, and every turn needs one. */
export const PLAN_CACHE_MS = 30_000;

export interface TurnGuardDeps extends LimitsDeps, UsageDeps {
  tenants: Pick<TenantRepository, 'get'>;
}

/**
 * Admission and accounting of chat turns for the chat pipeline: `admit` before any retrieval or
 * model work (rate limits and the monthly quota in one write, holding the most tokens the turn
 * may use; throws RateLimitedError or QuotaExceededError), `record` after every admitted turn,
 * fallbacks included (zero tokens then), settling the hold in the same write as the turn's
 * messages. The end users' identities (address and session,
 * or the platform user) are hashed before they are stored.
 */
export function createTurnGuard(deps: TurnGuardDeps) {
  const plans = new Map<string, { tenant: Tenant; at: number }>();

  async function tenantOf(tenantId: string): Promise<Tenant> {
    const now = deps.clock.now().getTime();
    const cached = plans.get(tenantId);
    if (cached && now - cached.at < PLAN_CACHE_MS) return cached.tenant;
    const tenant = await deps.tenants.get(tenantId);
    if (!tenant) throw new NotFoundError('No such bot');
    plans.set(tenantId, { tenant, at: now });
    return tenant;
  }

  return {
    async admit(
      bot: Pick<Bot, 'id' | 'tenantId' | 'rateLimits' | 'model'>,
      endUsers: readonly EndUser[],
      holdTokens: number,
    ): Promise<{ heldTokens: number }> {
      const tenant = await tenantOf(bot.tenantId);
      const { heldTokens } = await admitMessage(deps, {
        tenant: { id: tenant.id, plan: tenant.plan },
        bot: { id: bot.id, rateLimits: bot.rateLimits },
        endUsers,
        holdTokens,
        // Derived from the held tokens and the bot's model, so `record` can settle it from those.
        holdCostNanoUsd: turnCostBound(bot.model, holdTokens),
      });
      return { heldTokens };
    },

    /** Records the turn's usage and, when given, its conversation, in one write. */
    async record(
      bot: Pick<Bot, 'id' | 'tenantId' | 'model'>,
      usage: { inputTokens: number; outputTokens: number; modelId?: string; heldTokens: number },
      conversation?: TurnRecord['conversation'],
    ): Promise<{ costNanoUsd: number }> {
      const tenant = await tenantOf(bot.tenantId);
      return recordTurn(
        deps,
        { tenantId: tenant.id, botId: bot.id, plan: tenant.plan },
        {
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          model: { provider: bot.model.provider, id: usage.modelId ?? bot.model.id },
          heldTokens: usage.heldTokens,
          heldCostNanoUsd: turnCostBound(bot.model, usage.heldTokens),
        },
        conversation,
      );
    },
  };
}

export type TurnGuard = ReturnType<typeof createTurnGuard>;
