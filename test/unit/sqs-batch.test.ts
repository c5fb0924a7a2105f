// The SQS edge (shared/sqs.ts): Powertools batch for partial failures and the FIFO rule, Powertools
// parser for the records and their bodies. The records are the local event source's (the same
// function builds them for the local platform), the S3 notifications the local forwarder's.

import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import type { Message } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { handler as ingestHandler } from '../../functions/ingest/handler.ts';
import { toSqsRecord } from '../../local/poller.ts';
import { toNotificationRecord } from '../../local/s3-events.ts';
import { logger } from '../../shared/logging.ts';
import { S3NotificationSchema, sqsHandler } from '../../shared/sqs.ts';

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:parley-test-work';
const Job = z.object({ key: z.string(), fail: z.boolean().optional(), waitMs: z.number().optional() });

let sequence = 0;
function record(body: unknown, attributes: Message['Attributes'] = {}): SQSRecord {
  const id = `m-${++sequence}`;
  return toSqsRecord(
    {
      MessageId: id,
      ReceiptHandle: `rh-${id}`,
      Body: typeof body === 'string' ? body : JSON.stringify(body),
      MD5OfBody: '0'.repeat(32),
      Attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1', ...attributes },
    },
    QUEUE_ARN,
  );
}
const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** A consumer that records what it was handed, one job at a time, and fails the jobs marked so. */
function consumer(options: { fifo?: boolean } = {}) {
  const handled: string[] = [];
  const running = { now: 0, max: 0 };
  const handler = sqsHandler(
    Job,
    async (job) => {
      running.max = Math.max(running.max, ++running.now);
      try {
        handled.push(job.key);
        if (job.waitMs) await new Promise((resolve) => setTimeout(resolve, job.waitMs));
        if (job.fail) throw new Error(`job ${job.key} failed`);
      } finally {
        running.now--;
      }
    },
    options,
  );
  return { handler, handled, running };
}

const failedIds = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier);

// The handlers' log records (JSON lines; Powertools writes errors to stderr), at ERROR and above.
let logs: Record<string, unknown>[];
const streams = [process.stdout, process.stderr] as const;
const writes = streams.map((stream) => stream.write);
beforeEach(() => {
  logs = [];
  logger.setLogLevel('ERROR');
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      return true;
    }) as typeof stream.write;
  }
});
afterEach(() => {
  streams.forEach((stream, i) => {
    stream.write = writes[i] as typeof stream.write;
  });
  logger.setLogLevel('SILENT');
});

describe('partial batch failures', () => {
  it('reports only the failed records, processing them one after another', async () => {
    const { handler, handled, running } = consumer();
    const records = [
      record({ key: 'a', waitMs: 20 }),
      record({ key: 'b', fail: true }),
      record({ key: 'c', waitMs: 20 }),
    ];
    const response = await handler(event(...records));
    expect(failedIds(response)).toEqual([records[1]?.messageId]);
    expect(handled).toEqual(['a', 'b', 'c']);
    // One at a time: the logger's per-record keys are those of the record being processed.
    expect(running.max).toBe(1);
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'message failed; it will be retried',
        messageId: records[1]?.messageId,
        receiveCount: '1',
      }),
    ]);
  });

  it('answers a batch whose every record failed with the list, without throwing', async () => {
    const { handler } = consumer();
    const records = [record({ key: 'a', fail: true }), record({ key: 'b', fail: true })];
    await expect(handler(event(...records))).resolves.toEqual({
      batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })),
    });
  });

  it('keeps the results of concurrent invocations apart', async () => {
    // The local platform runs a function's invocations in one process, sharing its module.
    const { handler } = consumer();
    const slow = [record({ key: 's1', waitMs: 30, fail: true }), record({ key: 's2', waitMs: 30 })];
    const fast = [record({ key: 'f1' }), record({ key: 'f2', fail: true })];
    const [slowResponse, fastResponse] = await Promise.all([
      handler(event(...slow)),
      handler(event(...fast)),
    ]);
    expect(failedIds(slowResponse)).toEqual([slow[0]?.messageId]);
    expect(failedIds(fastResponse)).toEqual([fast[1]?.messageId]);
  });
});

describe('FIFO', () => {
  it('stops at the first failure and reports it and every later record, unprocessed', async () => {
    const { handler, handled } = consumer({ fifo: true });
    const records = [
      record({ key: 'a1' }, { MessageGroupId: 'a' }),
      record({ key: 'b1', fail: true }, { MessageGroupId: 'b' }),
      record({ key: 'a2' }, { MessageGroupId: 'a' }),
      record({ key: 'c1' }, { MessageGroupId: 'c' }),
    ];
    const response = await handler(event(...records));
    expect(handled).toEqual(['a1', 'b1']);
    expect(failedIds(response)).toEqual(records.slice(1).map((r) => r.messageId));
  });
});

describe('malformed records', () => {
  it.each([
    ['a body that is not JSON', '{"key": "a"', /Invalid JSON/],
    ['a body of the wrong shape', { key: 42 }, /key/],
    ['an empty body', '', /Invalid JSON/],
  ])('fail with the reason logged, and never reach the consumer: %s', async (_, body, reason) => {
    const { handler, handled } = consumer();
    const bad = record(body);
    const good = record({ key: 'fine' });
    const response = await handler(event(bad, good));
    expect(failedIds(response)).toEqual([bad.messageId]);
    expect(handled).toEqual(['fine']);
    expect(logs).toEqual([
      expect.objectContaining({
        message: 'malformed message: every delivery will fail, then the dead-letter queue keeps it',
        messageId: bad.messageId,
        issues: expect.stringMatching(reason),
      }),
    ]);
  });

  it("fail when the record is not Lambda's SQS record", async () => {
    const { handler, handled } = consumer();
    const { eventSource: _, ...partial } = record({ key: 'x' });
    const response = await handler(event(partial as SQSRecord));
    expect(failedIds(response)).toEqual([partial.messageId]);
    expect(handled).toEqual([]);
    expect(logs[0]).toMatchObject({ issues: expect.stringContaining("not Lambda's SQS record") });
  });
});

describe('the local event source', () => {
  it("builds records that pass Powertools' SQS record schema", () => {
    const fifo = record(
      { key: 'x' },
      {
        SenderId: 'AIDA',
        ApproximateFirstReceiveTimestamp: '2',
        MessageGroupId: 'g',
        MessageDeduplicationId: 'd',
        SequenceNumber: '1',
      },
    );
    expect(SqsRecordSchema.safeParse(fifo).error).toBeUndefined();
    expect(SqsRecordSchema.safeParse(record('plain text, not JSON')).error).toBeUndefined();
  });
});

describe('S3 event notifications', () => {
  const s3Record = (eventName: string, key: string, sourceIPAddress?: string) =>
    toNotificationRecord(
      {
        eventName,
        eventTime: new Date().toISOString(),
        ...(sourceIPAddress && { requestParameters: { sourceIPAddress } }),
        s3: { bucket: { name: 'parley-test-documents' }, object: { key, size: 12, eTag: 'e'.repeat(32) } },
      },
      'config-1',
    );

  it("the local forwarder's pass Powertools' S3 schema, loopback addresses as IPv4", () => {
    for (const ip of [undefined, '::1', '::ffff:127.0.0.1', '127.0.0.1']) {
      const notification = { Records: [s3Record('ObjectCreated:Put', 'tenants/t/a b.pdf', ip)] };
      expect(S3Schema.safeParse(notification).error).toBeUndefined();
      expect(notification.Records[0]?.requestParameters.sourceIPAddress).toBe('127.0.0.1');
    }
  });

  it("are read whatever the uploader's address (S3 reports IPv6 for dual-stack clients)", () => {
    const notification = {
      Records: [
        { ...s3Record('ObjectCreated:Post', 'k'), requestParameters: { sourceIPAddress: '2001:db8::7' } },
      ],
    };
    expect(S3NotificationSchema.safeParse(notification).success).toBe(true);
  });

  it("the ingest function acknowledges S3's test event and events other than ObjectCreated", async () => {
    const testEvent = record({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: new Date().toISOString(),
      Bucket: 'parley-test-documents',
      RequestId: 'R',
      HostId: 'H',
    });
    const removed = record({ Records: [s3Record('ObjectRemoved:Delete', 'tenants/t/gone.pdf')] });
    await expect(ingestHandler(event(testEvent, removed))).resolves.toEqual({ batchItemFailures: [] });
    expect(logs).toEqual([]);
  });

  it('the ingest function fails a notification it cannot read, saying why', async () => {
    const empty = record({ Records: [] });
    const foreign = record({ Type: 'Notification', Message: '{}' });
    const response = await ingestHandler(event(empty, foreign));
    expect(failedIds(response)).toEqual([empty.messageId, foreign.messageId]);
    expect(logs.map((log) => log.messageId)).toEqual([empty.messageId, foreign.messageId]);
    expect(logs[0]?.issues).toMatch(/Records/);
  });
});
