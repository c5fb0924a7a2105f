import { SNSClient } from '@aws-sdk/client-sns';
import { createLogEventPublisher } from '../adapters/events/log.ts';
import { createSnsEventPublisher, fanOutEvents } from '../adapters/events/sns.ts';
import { recordMetrics } from '../metrics.ts';
import type { EventPublisher } from '../ports/events.ts';
import { traced } from '../tracing.ts';
import { optional, readEnv } from './env.ts';

/**
 * Platform events from the environment: always a log line (and its count), and a message on the
 * on-call topic named by ONCALL_TOPIC_ARN (the stack's in AWS, fauxqs's locally).
 */
export function createEventPublisherFromEnv(): EventPublisher {
  const { ONCALL_TOPIC_ARN } = readEnv({ ONCALL_TOPIC_ARN: optional });
  const log = createLogEventPublisher(undefined, recordMetrics);
  return ONCALL_TOPIC_ARN
    ? fanOutEvents(log, createSnsEventPublisher(traced(new SNSClient({})), ONCALL_TOPIC_ARN))
    : log;
}
