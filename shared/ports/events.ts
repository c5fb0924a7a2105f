// Operational events other parts of the platform (alarms, notifications) react to. Publishing is
// best effort for the caller: a failure is logged and must not fail the request that caused it.

/** A tenant's usage reached 80 % of a monthly quota; sent once per tenant and period. */
export interface QuotaWarningEvent {
  readonly type: 'quota.warning';
  readonly tenantId: string;
  /** `YYYY-MM` (UTC). */
  readonly period: string;
  readonly messagesUsed: number;
  readonly messagesLimit: number;
  readonly tokensUsed: number;
  readonly tokensLimit: number;
  /** With a plan's `monthlyCostUsd`: the period's cost so far and the cap (USD). */
  readonly costUsd?: number;
  readonly costLimitUsd?: number;
}

export type PlatformEvent = QuotaWarningEvent;

export interface EventPublisher {
  publish(event: PlatformEvent): Promise<void>;
}
