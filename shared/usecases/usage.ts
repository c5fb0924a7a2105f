import * as z from 'zod';
import { dayOf, dayStart, daysBetween, periodOf } from '../domain/limits.ts';
import { allowedModel } from '../domain/models.ts';
import { costNanoUsd, nanoToUsd, priceOf } from '../domain/pricing.ts';
import { parseInput } from '../domain/validation.ts';
import { logger } from '../logging.ts';
import type { TurnRecord, TurnStore } from '../ports/limits.ts';
import type { DayCounters, UsageCounters, UsageRepository } from '../ports/usage.ts';
import { deploymentModels } from '../wiring/models.ts';
import type { TenantDeps } from './deps.ts';
import { type LimitsDeps, type QuotaPlan, warnIfNearQuota, warningThresholds } from './limits.ts';
import { getBot, getTenant } from './lookups.ts';

export interface UsageDeps extends Pick<LimitsDeps, 'clock' | 'quotas' | 'events'> {
  turns: TurnStore;
}

export interface ModelRef {
  readonly provider: string;
  readonly id?: string;
}

const unpricedSeen = new Set<string>();

/** The model's price: the allow-list's wins (an operator may price a model the table lacks, or differently). */
function priceFor(model: ModelRef) {
  const allowed = allowedModel(deploymentModels(), model);
  return allowed ? { ...allowed, known: true } : priceOf(model);
}

/** Prices tokens, logging (once per container and model) a model the price table does not know. */
function priced(model: ModelRef, tokens: { inputTokens?: number; outputTokens?: number }) {
  const price = priceFor(model);
  if (!price.known) {
    const name = `${model.provider}:${model.id ?? ''}`;
    if (!unpricedSeen.has(name)) {
      unpricedSeen.add(name);
      logger.warn('no price for model; its usage is recorded at cost 0', {
        provider: model.provider,
        modelId: model.id,
      });
    }
  }
  return { costNanoUsd: costNanoUsd(price, tokens), known: price.known };
}

/**
 * The most `tokens` of a turn may cost on `model` (nano-dollars): every token at the dearer of its
 * input and output prices. What admission holds against a plan's `monthlyCostUsd`.
 */
export function turnCostBound(model: ModelRef, tokens: number): number {
  const price = priceFor(model);
  const dearer = Math.max(price.inputPerMillion, price.outputPerMillion);
  return costNanoUsd({ inputPerMillion: dearer, outputPerMillion: 0 }, { inputTokens: tokens });
}

/**
 * Records one answered chat message in one write: its conversation (when given), the bot's and the
 * tenant's day (a message, its tokens, its cost from the price table) and the period's tokens;
 * when the tokens reach 80 % of the plan's, the period's quota warning goes out (once). Call it
 * for every message `admitMessage` admitted, with zero tokens when the model did not answer, and
 * the tokens and cost its admission held.
 */
export async function recordTurn(
  deps: UsageDeps,
  scope: { tenantId: string; botId: string; plan: QuotaPlan },
  turn: {
    inputTokens: number;
    outputTokens: number;
    model: ModelRef;
    heldTokens?: number;
    heldCostNanoUsd?: number;
  },
  conversation?: TurnRecord['conversation'],
): Promise<{ costNanoUsd: number; priced: boolean }> {
  const cost = priced(turn.model, turn);
  const { usage } = await deps.turns.record({
    tenantId: scope.tenantId,
    botId: scope.botId,
    day: dayOf(deps.clock.now()),
    counters: {
      messages: 1,
      inputTokens: turn.inputTokens,
      outputTokens: turn.outputTokens,
      costNanoUsd: cost.costNanoUsd,
    },
    heldTokens: turn.heldTokens ?? 0,
    heldCostNanoUsd: turn.heldCostNanoUsd ?? 0,
    warnAt: warningThresholds(scope.plan),
    ...(conversation && { conversation }),
  });
  if (usage) await warnIfNearQuota(deps, scope.tenantId, scope.plan, usage);
  return { costNanoUsd: cost.costNanoUsd, priced: cost.known };
}

/** The counters for an embedding call (the embed worker's `usage.add`), priced by the deployment's model. */
export function embeddingUsage(model: ModelRef, tokens: number): UsageCounters {
  return { embeddingTokens: tokens, costNanoUsd: priced(model, { inputTokens: tokens }).costNanoUsd };
}

// GET /admin/usage

/** Longest range one report covers. */
export const MAX_USAGE_DAYS = 366;

const day = z.iso.date('must be a date as YYYY-MM-DD');

/** Not a named (hoisted) schema: OpenAPI lists a query schema's properties as parameters. */
export const UsageQuerySchema = z
  .strictObject({
    from: day.describe('First day, UTC, included'),
    to: day.describe('Last day, UTC, included'),
    botId: z.string().min(1).max(100).optional().describe('Only this bot; the whole tenant when absent'),
  })
  .superRefine((query, context) => {
    const from = dayStart(query.from);
    const to = dayStart(query.to);
    // A malformed or impossible date was reported by its field's own check.
    if (Number.isNaN(from) || Number.isNaN(to)) return;
    if (to < from) context.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    else if ((to - from) / 86_400_000 + 1 > MAX_USAGE_DAYS)
      context.addIssue({
        code: 'custom',
        path: ['to'],
        message: `the range may cover at most ${MAX_USAGE_DAYS} days`,
      });
  });

export type UsageQuery = z.output<typeof UsageQuerySchema>;

const count = z.int().min(0);
const UsageTotalsSchema = z.object({
  messages: count,
  inputTokens: count,
  outputTokens: count,
  embeddingTokens: count,
  costUsd: z.number().min(0).describe('From list prices; see the price table'),
});

export const UsageReportSchema = z
  .object({
    days: z.array(UsageTotalsSchema.extend({ date: z.iso.date() })),
    totals: UsageTotalsSchema,
    quota: z.object({
      period: z.string().describe('The current billing period, YYYY-MM (UTC calendar month)'),
      messagesUsed: count,
      messagesLimit: count,
      tokensUsed: count,
      tokensLimit: count,
      costUsd: z.number().min(0).describe("The period's cost so far, from list prices"),
      costLimitUsd: z.number().min(0).nullable().describe("The plan's monthlyCostUsd; null: no cap"),
    }),
  })
  .meta({ id: 'UsageReport' });

export type UsageReport = z.output<typeof UsageReportSchema>;

export interface UsageReadDeps extends TenantDeps {
  usage: UsageRepository;
}

const ZERO: DayCounters = {
  messages: 0,
  inputTokens: 0,
  outputTokens: 0,
  embeddingTokens: 0,
  costNanoUsd: 0,
};

function view({ costNanoUsd: nano, ...counters }: DayCounters) {
  return { ...counters, costUsd: nanoToUsd(nano) };
}

/**
 * Usage per day of a range (zeros on days nothing was recorded), its totals, and the current
 * period against the plan's quotas. Another tenant's bot is not found.
 */
export async function getUsage(
  deps: UsageReadDeps,
  tenantId: string,
  input: UsageQuery,
): Promise<UsageReport> {
  const query = parseInput(UsageQuerySchema, input, 'query', 'query');
  const period = periodOf(deps.clock.now());
  const [tenant] = await Promise.all([
    getTenant(deps, tenantId),
    query.botId === undefined ? undefined : getBot(deps, tenantId, query.botId),
  ]);
  const [recorded, current] = await Promise.all([
    deps.usage.days(tenantId, query),
    deps.usage.period(tenantId, period),
  ]);
  const totals = { ...ZERO };
  const days = daysBetween(query.from, query.to).map((date) => {
    const counters = recorded.get(date) ?? ZERO;
    for (const name of Object.keys(totals) as (keyof DayCounters)[]) totals[name] += counters[name];
    return { date, ...view(counters) };
  });
  return {
    days,
    totals: view(totals),
    quota: {
      period,
      messagesUsed: current.messages,
      messagesLimit: tenant.plan.monthlyMessages,
      tokensUsed: current.tokens,
      tokensLimit: tenant.plan.monthlyTokens,
      costUsd: nanoToUsd(current.costNanoUsd),
      costLimitUsd: tenant.plan.monthlyCostUsd ?? null,
    },
  };
}
