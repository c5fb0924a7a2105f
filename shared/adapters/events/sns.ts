import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { EventPublisher, PlatformEvent } from '../../ports/events.ts';

const percent = (used: number, limit: number) => (limit > 0 ? Math.floor((used / limit) * 100) : 0);

/**
 * Publishes events to the on-call SNS topic: a subject a person reads in an email or a pager, and
 * the event itself as JSON in the message (for a pager's or a script's parsing). Throws when SNS
 * refuses, so the caller can take back its "sent" mark and a later request tries again.
 */
export function createSnsEventPublisher(client: SNSClient, topicArn: string): EventPublisher {
  return {
    async publish(event: PlatformEvent) {
      const messages = percent(event.messagesUsed, event.messagesLimit);
      const tokens = percent(event.tokensUsed, event.tokensLimit);
      const cost = event.costLimitUsd === undefined ? 0 : percent(event.costUsd ?? 0, event.costLimitUsd);
      const costLine =
        event.costLimitUsd === undefined
          ? ''
          : ` and $${(event.costUsd ?? 0).toFixed(2)} of its $${event.costLimitUsd} cap (${cost}%)`;
      await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          // SNS subjects: ASCII, at most 100 characters.
          Subject:
            `Parley: tenant ${event.tenantId} at ${Math.max(messages, tokens, cost)}% of its quota`.slice(
              0,
              100,
            ),
          Message: JSON.stringify(
            {
              summary:
                `Tenant ${event.tenantId} has used ${event.messagesUsed} of ${event.messagesLimit} messages ` +
                `(${messages}%)${costLine ? ',' : ' and'} ${event.tokensUsed} of ${event.tokensLimit} tokens (${tokens}%)${costLine} in ${event.period}. ` +
                'Tell them, or raise their plan before they reach 100% and are refused.',
              ...event,
            },
            null,
            2,
          ),
          MessageAttributes: { eventType: { DataType: 'String', StringValue: event.type } },
        }),
      );
    },
  };
}

/** Publishes each event through every publisher, in order (the log line first, then the topic). */
export function fanOutEvents(...publishers: EventPublisher[]): EventPublisher {
  return {
    async publish(event) {
      for (const publisher of publishers) await publisher.publish(event);
    },
  };
}
