// The local SQS event source against fauxqs (the platform's, with queues of this test's own):
// Lambda's SQS event, partial batch failures, whole-batch failures, the FIFO rule, the DLQ,
// concurrency and a clean stop.

import { randomBytes } from 'node:crypto';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createClients, type LocalClients } from '../../local/aws.ts';
import { FunctionHost } from '../../local/lambda.ts';
import { createLogger, parseLogLevel } from '../../local/log.ts';
import { type BatchReport, QueuePoller } from '../../local/poller.ts';
import { type Provisioned, provision } from '../../local/provision.ts';
import { concurrency, deliveries } from '../fixtures/handlers/sqs.ts';
import { platform, REPO_ROOT } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const logger = createLogger({ level: parseLogLevel(process.env.TEST_LOG_LEVEL, 'SILENT') });
const definitions = {
  tables: {},
  buckets: {},
  queues: {
    work: {
      envVar: 'WORK_QUEUE_URL',
      fifo: false,
      visibilityTimeoutSeconds: 1,
      maxReceiveCount: 2,
      retentionDays: 1,
    },
    ordered: {
      envVar: 'ORDERED_QUEUE_URL',
      fifo: true,
      visibilityTimeoutSeconds: 1,
      maxReceiveCount: 3,
      retentionDays: 1,
    },
  },
};
const functions = {
  consumer: { entry: 'test/fixtures/handlers/sqs.ts', memoryMb: 128, timeoutSeconds: 5, streaming: false },
  impatient: { entry: 'test/fixtures/handlers/sqs.ts', memoryMb: 128, timeoutSeconds: 0.2, streaming: false },
};

let clients: LocalClients;
let provisioned: Provisioned;
let prefix: string;
const host = new FunctionHost({ functions, rootDir: REPO_ROOT, logger });
let poller: QueuePoller | undefined;
let reports: BatchReport[];

beforeAll(() => {
  clients = createClients(platform().endpoints);
});

afterAll(() => clients.destroy());

// Fresh queues for every test: a stopped poller's abandoned long poll may still take a message
// sent right after (as with SQS, it comes back after the visibility timeout).
beforeEach(async () => {
  deliveries.length = 0;
  concurrency.max = 0;
  reports = [];
  prefix = `poll${randomBytes(4).toString('hex')}`;
  provisioned = await provision({
    clients,
    sqsEndpoint: platform().endpoints.sqs,
    definitions,
    prefix,
    logger,
  });
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

function startPoller(
  queue: 'work' | 'ordered',
  options: { batchSize?: number; maxConcurrency?: number; fn?: string } = {},
) {
  const target = provisioned.queues[queue];
  if (!target) throw new Error(`queue ${queue} not provisioned`);
  poller = new QueuePoller({
    sqs: clients.sqs,
    queueUrl: target.url,
    queueArn: target.arn,
    fifo: target.fifo,
    batchSize: options.batchSize ?? 10,
    maxConcurrency: options.maxConcurrency ?? 1,
    waitTimeSeconds: 1,
    logger,
    name: queue,
    invoke: (event) => host.invoke(options.fn ?? 'consumer', event),
    onBatch: (report) => reports.push(report),
  }).start();
  return poller;
}

const queueUrl = (queue: 'work' | 'ordered') => provisioned.queues[queue]?.url ?? '';

async function sendAll(queue: 'work' | 'ordered', bodies: object[], group?: (body: object) => string) {
  await clients.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl(queue),
      Entries: bodies.map((body, i) => ({
        Id: String(i),
        MessageBody: JSON.stringify(body),
        ...(group
          ? { MessageGroupId: group(body), MessageDeduplicationId: `${(body as { key: string }).key}-${i}` }
          : {}),
      })),
    }),
  );
}

const until = (condition: () => boolean, timeoutMs = 8000) => waitFor(condition, { timeoutMs });

async function queueDepth(url: string): Promise<number> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

const keys = (list: typeof deliveries) => list.map((delivery) => `${delivery.key}#${delivery.receiveCount}`);

describe('the SQS event', () => {
  it("has Lambda's record shape, message attributes included", async () => {
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl('work'),
        MessageBody: JSON.stringify({ key: 'shape' }),
        MessageAttributes: {
          requestId: { DataType: 'String', StringValue: 'req-123' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
        },
      }),
    );
    startPoller('work');
    await until(() => deliveries.length === 1 && reports.length === 1);
    const { record } = deliveries[0] as (typeof deliveries)[number];
    expect(record).toMatchObject({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body: JSON.stringify({ key: 'shape' }),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d+$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
      },
      messageAttributes: {
        requestId: { stringValue: 'req-123', stringListValues: [], binaryListValues: [], dataType: 'String' },
        blob: { binaryValue: Buffer.from('bytes').toString('base64'), dataType: 'Binary' },
      },
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: provisioned.queues.work?.arn,
      awsRegion: 'us-east-1',
    });
    expect(provisioned.queues.work?.arn).toBe(`arn:aws:sqs:us-east-1:000000000000:${prefix}-work`);
    // The functions check each record against Powertools' schema (shared/sqs.ts).
    expect(SqsRecordSchema.safeParse(record).error).toBeUndefined();
  });

  it('carries the FIFO attributes of a FIFO queue', async () => {
    await sendAll('ordered', [{ key: 'f1' }], () => 'group-1');
    startPoller('ordered');
    await until(() => deliveries.length === 1);
    expect(deliveries[0]?.record.attributes).toMatchObject({
      MessageGroupId: 'group-1',
      MessageDeduplicationId: 'f1-0',
      SequenceNumber: expect.stringMatching(/^\d+$/),
    });
    expect(SqsRecordSchema.safeParse(deliveries[0]?.record).error).toBeUndefined();
  });
});

describe('batch results', () => {
  it('deletes the records that succeeded and redelivers the failed one after the visibility timeout', async () => {
    await sendAll('work', [{ key: 'ok-1' }, { key: 'flaky', fail: 1 }, { key: 'ok-2' }]);
    startPoller('work');
    await until(
      () => deliveries.some((d) => d.key === 'flaky' && d.receiveCount === 2) && reports.length >= 2,
    );
    expect(keys(deliveries).sort()).toEqual(['flaky#1', 'flaky#2', 'ok-1#1', 'ok-2#1']);
    const first = reports[0] as BatchReport;
    expect(first.outcome).toBe('ok');
    expect(first.failed).toHaveLength(1);
    expect(first.deleted).toHaveLength(2);
    // Redelivered no sooner than the queue's visibility timeout (1 s).
    const flaky = deliveries.filter((d) => d.key === 'flaky');
    expect((flaky[1]?.at ?? 0) - (flaky[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    await until(() => reports.at(-1)?.deleted.length === 1);
    expect(await queueDepth(queueUrl('work'))).toBe(0);
  });

  it('fails the whole batch when the handler throws', async () => {
    await sendAll('work', [{ key: 'fine' }, { key: 'thrower', throw: 1 }]);
    startPoller('work');
    await until(() => deliveries.filter((d) => d.receiveCount === 2).length === 2);
    expect(reports[0]).toMatchObject({ outcome: 'error', deleted: [] });
    expect(reports[0]?.failed).toHaveLength(2);
    expect(keys(deliveries).sort()).toEqual(['fine#1', 'fine#2', 'thrower#1', 'thrower#2']);
  });

  it('fails the whole batch when a reported itemIdentifier is not in the batch', async () => {
    await sendAll('work', [{ key: 'good' }, { key: 'liar', invalid: 1 }]);
    startPoller('work');
    await until(() => deliveries.filter((d) => d.receiveCount === 2).length === 2);
    expect(reports[0]).toMatchObject({ outcome: 'invalid-response', deleted: [] });
  });

  it('fails the whole batch when the function times out', async () => {
    await sendAll('work', [{ key: 'sluggish', sleepMs: 400 }]);
    startPoller('work', { fn: 'impatient' });
    await until(() => reports.length >= 1);
    expect(reports[0]).toMatchObject({ outcome: 'timeout', deleted: [] });
  });

  it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    await sendAll('work', [{ key: 'poison', fail: 99 }]);
    startPoller('work');
    const dlq = provisioned.queues.work?.deadLetter.url ?? '';
    let moved: string | undefined;
    const deadline = Date.now() + 10_000;
    while (!moved && Date.now() < deadline) {
      const received = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 1, MaxNumberOfMessages: 1 }),
      );
      moved = received.Messages?.[0]?.Body;
    }
    expect(moved && JSON.parse(moved)).toEqual({ key: 'poison', fail: 99 });
    // maxReceiveCount is 2: delivered twice, never a third time.
    expect(keys(deliveries)).toEqual(['poison#1', 'poison#2']);
  });
});

describe('FIFO', () => {
  it('treats every record after a failed one as failed, and keeps each group in order', async () => {
    // fauxqs hands out one message per group per receive, so a batch has the head of each group.
    await sendAll('ordered', [{ key: 'a1', fail: 1 }, { key: 'b1' }, { key: 'a2' }, { key: 'b2' }], (body) =>
      (body as { key: string }).key.slice(0, 1),
    );
    startPoller('ordered');
    await until(() => deliveries.filter((d) => d.key === 'a2' || d.key === 'b2').length === 2, 10_000);

    // The first batch is [a1, b1]; only a1 was reported failed, but b1 after it failed with it.
    const first = reports[0] as BatchReport;
    expect(deliveries.slice(0, 2).map((d) => d.key)).toEqual(['a1', 'b1']);
    expect(first.failed).toEqual(first.messageIds);
    expect(first.deleted).toEqual([]);
    expect(deliveries.filter((d) => d.key === 'b1').map((d) => d.receiveCount)).toEqual([1, 2]);
    // Each group's messages succeed in the order they were sent.
    const succeeded = (group: string) =>
      deliveries
        .filter((d) => d.key.startsWith(group))
        .filter((d, i, all) => all.findLastIndex((other) => other.key === d.key) === i)
        .map((d) => d.key);
    expect(succeeded('a')).toEqual(['a1', 'a2']);
    expect(succeeded('b')).toEqual(['b1', 'b2']);
    const a1Success = deliveries.findLast((d) => d.key === 'a1')?.at ?? 0;
    const a2First = deliveries.find((d) => d.key === 'a2')?.at ?? 0;
    expect(a2First).toBeGreaterThanOrEqual(a1Success);
  });
});

describe('FIFO groups', () => {
  it('run in parallel across groups, and one message at a time in order within a group', async () => {
    const bodies = ['a', 'b', 'c'].flatMap((group) =>
      [1, 2, 3].map((n) => ({ key: `${group}${n}`, sleepMs: 150 })),
    );
    await sendAll('ordered', bodies, (body) => (body as { key: string }).key.slice(0, 1));
    startPoller('ordered', { batchSize: 1, maxConcurrency: 3 });
    await until(() => reports.length === 9, 10_000);
    expect(concurrency.max).toBe(3);
    for (const group of ['a', 'b', 'c']) {
      const mine = deliveries.filter((d) => d.key.startsWith(group));
      expect(mine.map((d) => d.key)).toEqual([`${group}1`, `${group}2`, `${group}3`]);
      // Each began after the one before it had ended (it sleeps 150 ms).
      const gaps = mine.slice(1).map((d, i) => d.at - (mine[i]?.at ?? 0));
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(140);
    }
  });
});

describe('pollers', () => {
  it('run up to maxConcurrency batches at once', async () => {
    await sendAll(
      'work',
      [1, 2, 3, 4].map((n) => ({ key: `slow-${n}`, sleepMs: 400 })),
    );
    startPoller('work', { batchSize: 1, maxConcurrency: 2 });
    await until(() => reports.length === 4);
    expect(concurrency.max).toBe(2);
  });

  it('stop() waits for the batch in flight, which is then deleted', async () => {
    await sendAll('work', [{ key: 'last', sleepMs: 500 }]);
    const running = startPoller('work');
    await until(() => deliveries.length === 1);
    await running.stop();
    expect(reports).toHaveLength(1);
    expect(reports[0]?.deleted).toHaveLength(1);
    expect(await queueDepth(queueUrl('work'))).toBe(0);
  });
});
