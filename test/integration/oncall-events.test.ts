// Quota warnings reach on-call as SNS messages: the SNS publisher through the real SNS client
// against the local platform's SNS (fauxqs), with an SQS queue subscribed to the topic standing in
// for the email or pager subscription. A topic SNS refuses makes the publisher throw, so the quota
// warning is tried again by a later request (shared/usecases/limits.ts).

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
import { platform } from '../support/platform.ts';

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

describe('the SNS event publisher', () => {
  it('puts a quota warning on the on-call topic: a subject to read, the event as JSON', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `oncall-${Date.now()}` }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `oncall-inbox-${Date.now()}` }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));

    await createSnsEventPublisher(sns, TopicArn ?? '').publish(WARNING);

    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toHaveLength(1);
    const envelope = JSON.parse(Messages?.[0]?.Body ?? '{}');
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
