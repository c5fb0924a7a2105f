// Quota warnings reach on-call as SNS messages: through the platform (chat turns taking a tenant
// past 80 % of its plan), and the SNS publisher alone, through the real SNS client against the
// local platform's SNS (fauxqs). An SQS queue subscribed to the topic stands in for the email or
// pager subscription. A topic SNS refuses makes the publisher throw, so the quota warning is tried
// again by a later request (shared/usecases/limits.ts).

import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSnsEventPublisher } from '../../shared/adapters/events/sns.ts';
import type { QuotaWarningEvent } from '../../shared/ports/events.ts';
import { api, platform } from '../support/platform.ts';

const WARNING: QuotaWarningEvent = {
  type: 'quota.warning',
  tenantId: 'tnt_oncallExample01',
  period: '2026-11',
  messagesUsed: 812,
  messagesLimit: 1000,
  tokensUsed: 120_000,
  tokensLimit: 1_000_000,
};

let sns: SNSClient;
let sqs: SQSClient;

beforeAll(() => {
  const { endpoints, env } = platform();
  const config = {
    endpoint: endpoints.sqs,
    region: env.AWS_REGION,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
    },
  };
  sns = new SNSClient(config);
  sqs = new SQSClient(config);
});

afterAll(() => {
  sns.destroy();
  sqs.destroy();
});

/** A new queue subscribed to `topicArn`: what on-call would receive. */
async function subscribedInbox(topicArn: string): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `oncall-inbox-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    }),
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }),
  );
  return QueueUrl ?? '';
}

/** The notifications the inbox holds, their SNS envelopes parsed. */
async function received(queueUrl: string, waitSeconds = 5) {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: waitSeconds, MaxNumberOfMessages: 10 }),
  );
  return (Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}'));
}

describe('the platform', () => {
  it("sends a tenant's quota warning to the on-call topic once, when its chat turns pass 80 % of the plan", async () => {
    const inbox = await subscribedInbox(platform().env.ONCALL_TOPIC_ARN ?? '');
    const tenant = await api('/admin/tenants', {
      key: platform().operatorKey,
      body: { name: 'Nearly out', plan: { monthlyMessages: 5 } },
    });
    const key: string = tenant.json.apiKey;
    const tenantId: string = tenant.json.tenant.id;
    const bot = await api('/admin/bots', {
      key,
      body: { name: 'Counted', rateLimits: { perMinute: 100, perSecond: 50, perUserPerMinute: 100 } },
    });
    const botId: string = bot.json.bot.id;
    for (let n = 0; n < 5; n++) {
      const turn = await api(`/chat/${botId}`, { key, body: { message: `Question ${n}?` } });
      expect([turn.status, turn.json.error?.code]).toEqual([200, undefined]);
    }
    const notifications = (await received(inbox)).filter((n) => n.Subject?.includes(tenantId));
    expect(notifications).toHaveLength(1);
    expect(notifications[0].Subject).toBe(`Parley: tenant ${tenantId} at 80% of its quota`);
    expect(JSON.parse(notifications[0].Message)).toMatchObject({
      type: 'quota.warning',
      tenantId,
      messagesUsed: 4,
      messagesLimit: 5,
    });
    // Once per period: the fifth message sent nothing more.
    expect(await received(inbox, 1)).toEqual([]);
  });
});

describe('the SNS event publisher', () => {
  it('puts a quota warning on the on-call topic: a subject to read, the event as JSON', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `oncall-${Date.now()}` }));
    const inbox = await subscribedInbox(TopicArn ?? '');

    await createSnsEventPublisher(sns, TopicArn ?? '').publish(WARNING);

    const notifications = await received(inbox);
    expect(notifications).toHaveLength(1);
    const envelope = notifications[0];
    expect(envelope).toMatchObject({
      Type: 'Notification',
      TopicArn,
      Subject: 'Parley: tenant tnt_oncallExample01 at 81% of its quota',
      MessageAttributes: { eventType: { Type: 'String', Value: 'quota.warning' } },
    });
    const message = JSON.parse(envelope.Message);
    expect(message).toMatchObject(WARNING);
    expect(message.summary).toBe(
      'Tenant tnt_oncallExample01 has used 812 of 1000 messages (81%) and 120000 of 1000000 tokens (12%) ' +
        'in 2026-11. Tell them, or raise their plan before they reach 100% and are refused.',
    );
  });

  it('throws when SNS refuses the publish (no such topic), so the warning is tried again later', async () => {
    const missing = 'arn:aws:sns:us-east-1:000000000000:no-such-topic';
    await expect(createSnsEventPublisher(sns, missing).publish(WARNING)).rejects.toThrow();
  });
});
