import type { Logger } from '@aws-lambda-powertools/logger';
import { logger as defaultLogger } from '../../logging.ts';
import type { RecordMetrics } from '../../metrics.ts';
import type { EventPublisher, PlatformEvent } from '../../ports/events.ts';

/**
 * Publishes events as structured log lines at WARN: `{"message": "platform event",
 * "eventType": "quota.warning", "tenantId", "period", "messages": {"used", "limit"},
 * "tokens": {"used", "limit"}}`, and `"cost": {"usd", "limitUsd"}` under a cost cap. A CloudWatch Logs metric filter on `{ $.eventType =
 * "quota.warning" }` finds them. Counts are nested under `messages` and `tokens` because the logger
 * masks fields whose name mentions a token (`tokensUsed` would print as ••••). Each is also counted
 * (QuotaWarnings, with the tenant as metadata) for the dashboard; on-call hears of it from the topic
 * (shared/wiring/events.ts).
 */
export function createLogEventPublisher(
  log: Pick<Logger, 'warn'> = defaultLogger,
  metrics?: RecordMetrics,
): EventPublisher {
  return {
    async publish(event: PlatformEvent) {
      metrics?.({ QuotaWarnings: 1 }, { tenantId: event.tenantId, period: event.period });
      log.warn('platform event', {
        eventType: event.type,
        tenantId: event.tenantId,
        period: event.period,
        messages: { used: event.messagesUsed, limit: event.messagesLimit },
        tokens: { used: event.tokensUsed, limit: event.tokensLimit },
        ...(event.costLimitUsd !== undefined && {
          cost: { usd: event.costUsd, limitUsd: event.costLimitUsd },
        }),
      });
    },
  };
}
