// Lambda's SQS event source, locally: long-polls a queue, invokes the consuming function with
// Lambda's SQS event (up to maxConcurrency batches at once), and applies the same rules to the
// result as Lambda with ReportBatchItemFailures: the records reported failed stay in the queue
// (they become visible again after the visibility timeout, and move to the DLQ after
// maxReceiveCount receives, which fauxqs does from the queue's RedrivePolicy); the others are
// deleted. A thrown error, a timeout or an invalid report fails the whole batch. In a FIFO batch,
// every record after the first failed one counts as failed too, so a group's order is kept.
//
// One long poll at a time receives the batches, each as a slot frees: fauxqs wakes every waiting
// poll when a message arrives or a FIFO group unlocks, and all but one would come back empty and
// poll again — tens of wasted requests per message with one poll per slot. The queue hands a FIFO
// group to one batch at a time (locked until its messages are deleted), so groups run in parallel
// across batches and in order within one.

import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { LOCAL_REGION } from './aws.ts';
import type { InvokeOutcome } from './lambda.ts';
import { createLogger, type Logger } from './log.ts';

export interface BatchReport {
  readonly messageIds: readonly string[];
  readonly deleted: readonly string[];
  readonly failed: readonly string[];
  /** `ok`: the function returned (failures, if any, are per record); otherwise why the whole batch failed. */
  readonly outcome: 'ok' | 'error' | 'timeout' | 'invalid-response';
}

export interface QueuePollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly fifo: boolean;
  /** Records per invocation (SQS returns at most 10 per receive). */
  readonly batchSize: number;
  /** Batches in flight at most (the event source's maxConcurrency). */
  readonly maxConcurrency: number;
  readonly invoke: (event: SQSEvent) => Promise<InvokeOutcome<unknown>>;
  /** Long-poll wait, 1–20 s. */
  readonly waitTimeSeconds?: number;
  /** How long stop() waits for batches in flight. */
  readonly stopGraceMs?: number;
  readonly name?: string;
  readonly logger?: Logger;
  /** Called after every batch (tests and logs use it). */
  readonly onBatch?: (report: BatchReport) => void;
}

export function toLambdaMessageAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    out[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
      dataType: value.DataType ?? 'String',
    };
  }
  return out;
}

/**
 * Lambda's record for a received message, with every field Lambda sets, so it passes the record
 * schema the handlers check (Powertools' SqsRecordSchema, shared/sqs.ts).
 */
export function toSqsRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const recordAttributes: SQSRecordAttributes = {
    ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
    SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
    SenderId: attributes.SenderId ?? '000000000000',
    ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const name of [
    'SequenceNumber',
    'MessageGroupId',
    'MessageDeduplicationId',
    'AWSTraceHeader',
  ] as const) {
    const value = attributes[name];
    if (value !== undefined) recordAttributes[name] = value;
  }
  const record: SQSRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: recordAttributes,
    messageAttributes: toLambdaMessageAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

/**
 * The message ids a function's result marks failed, or `undefined` when the result is invalid and
 * the whole batch fails (Lambda's rules for ReportBatchItemFailures).
 */
export function failedItems(result: unknown, messageIds: ReadonlySet<string>): Set<string> | undefined {
  if (result === undefined || result === null || typeof result !== 'object') return new Set();
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return undefined;
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !messageIds.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}

export class QueuePoller {
  private readonly logger: Logger;
  private readonly waitTimeSeconds: number;
  private running = false;
  private abort = new AbortController();
  private receiver: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Wakes the receiver when a batch ends (a slot frees) or on stop(). */
  private wake: (() => void) | undefined;

  constructor(private readonly options: QueuePollerOptions) {
    this.logger = options.logger ?? createLogger({ level: 'SILENT' });
    this.waitTimeSeconds = Math.min(20, Math.max(1, options.waitTimeSeconds ?? 20));
    if (options.batchSize > 10) {
      this.logger.warn('batches are capped at 10 records locally (one ReceiveMessage)', {
        queue: options.name,
      });
    }
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.abort = new AbortController();
    this.receiver = this.receive();
    this.logger.debug('polling', {
      queue: this.options.name ?? this.options.queueUrl,
      maxConcurrency: this.slots(),
    });
    return this;
  }

  /** Stops receiving and waits (up to the grace period) for the batches in flight. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    this.wake?.();
    const grace = this.options.stopGraceMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      // The receiver first: a batch it received just before the stop is in flight after it.
      (async () => {
        await this.receiver;
        await Promise.allSettled([...this.inFlight]);
        return true;
      })(),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), grace);
      }),
    ]);
    clearTimeout(timer);
    if (!waited) {
      this.logger.warn('batches still running at stop; their messages will be received again', {
        queue: this.options.name,
        batches: this.inFlight.size,
      });
    }
  }

  private slots(): number {
    return Math.max(1, this.options.maxConcurrency);
  }

  /** Receives a batch whenever a slot is free, and starts it without waiting for it. */
  private async receive(): Promise<void> {
    const { sqs, queueUrl } = this.options;
    while (this.running) {
      if (this.inFlight.size >= this.slots()) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      let messages: Message[];
      try {
        const received = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, Math.max(1, this.options.batchSize)),
            WaitTimeSeconds: this.waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = received.Messages ?? [];
      } catch (error) {
        if (!this.running) return;
        this.logger.warn('receive failed; retrying', { queue: this.options.name, error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (messages.length === 0) continue;
      const batch = this.process(messages)
        .catch((error: unknown) => this.logger.error('batch failed', { queue: this.options.name, error }))
        .finally(() => {
          this.inFlight.delete(batch);
          this.wake?.();
          this.wake = undefined;
        });
      this.inFlight.add(batch);
    }
  }

  private async process(messages: Message[]): Promise<void> {
    const records = messages.map((message) => toSqsRecord(message, this.options.queueArn));
    const ids = records.map((record) => record.messageId);
    const { outcome, failed } = await this.invoke(records);
    if (this.options.fifo) {
      // FIFO: the first failure fails every record after it, whatever the function reported.
      const first = ids.findIndex((id) => failed.has(id));
      if (first !== -1) for (const id of ids.slice(first)) failed.add(id);
    }
    const toDelete = records.filter((record) => !failed.has(record.messageId));
    await this.deleteProcessed(toDelete);
    const report: BatchReport = {
      messageIds: ids,
      deleted: toDelete.map((record) => record.messageId),
      failed: ids.filter((id) => failed.has(id)),
      outcome,
    };
    this.logger.debug('batch done', {
      queue: this.options.name,
      records: ids.length,
      failed: report.failed.length,
      outcome,
    });
    this.options.onBatch?.(report);
  }

  /** Invokes the function with the batch: the records it failed (all of them if the invocation did). */
  private async invoke(
    records: SQSRecord[],
  ): Promise<{ outcome: BatchReport['outcome']; failed: Set<string> }> {
    const ids = records.map((record) => record.messageId);
    const queue = this.options.name;
    try {
      const result = await this.options.invoke({ Records: records });
      if (result.status === 'ok') {
        const reported = failedItems(result.value, new Set(ids));
        if (reported) return { outcome: 'ok', failed: reported };
        this.logger.error('invalid batchItemFailures in the function’s response: the whole batch failed', {
          queue,
        });
        return { outcome: 'invalid-response', failed: new Set(ids) };
      }
      if (result.status === 'error') {
        this.logger.error('function failed: the whole batch will be retried', { queue, error: result.error });
      } else {
        this.logger.error('function timed out: the whole batch will be retried', { queue });
      }
      return { outcome: result.status, failed: new Set(ids) };
    } catch (error) {
      this.logger.error('invocation failed', { queue, error });
      return { outcome: 'error', failed: new Set(ids) };
    }
  }

  /** Deletes the records the function processed; those it could not delete are received again. */
  private async deleteProcessed(records: SQSRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      const deleted = await this.options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: records.map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle })),
        }),
      );
      for (const failure of deleted.Failed ?? []) {
        this.logger.warn('could not delete a processed message', {
          queue: this.options.name,
          reason: failure.Message,
        });
      }
    } catch (error) {
      this.logger.warn('could not delete processed messages; they will be received again', {
        queue: this.options.name,
        error,
      });
    }
  }
}
