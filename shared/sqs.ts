import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { logger, withLogContext } from './logging.ts';

/**
 * A record no delivery can process: its body is not JSON, or not the queue's message shape (or the
 * record is not Lambda's SQS record). It is reported failed like any other, so it ends in the
 * dead-letter queue after the queue's maxReceiveCount, where the queue's alarm shows it.
 */
export class MalformedMessageError extends Error {
  constructor(readonly issues: string) {
    super(`malformed message: ${issues}`);
    this.name = 'MalformedMessageError';
  }
}

export type SqsBatchHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/**
 * An SQS-triggered handler with partial batch failures (Powertools batch): each record is checked
 * against Lambda's SQS record schema with its body parsed as JSON by `bodySchema` (Powertools
 * parser), processed on its own in its own log context, and only the failed ones are returned for
 * redelivery. Records run one after another, so the logger's per-record keys stay right. In a
 * FIFO batch, once a record fails every later one is reported failed unprocessed, so a group's
 * order is kept. A batch whose every record failed is still answered with the list (not thrown),
 * so failed messages do not count as function errors.
 */
export function sqsHandler<Body extends z.ZodType>(
  bodySchema: Body,
  processMessage: (message: z.output<Body>, record: SQSRecord) => Promise<void>,
  options: { fifo?: boolean } = {},
): SqsBatchHandler {
  const bodyParser = JSONStringified(bodySchema);
  /** The record's message, or a MalformedMessageError saying what is wrong with it. */
  const parseMessage = (record: SQSRecord): z.output<Body> => {
    const envelope = SqsRecordSchema.safeParse(record);
    if (!envelope.success) {
      throw new MalformedMessageError(`not Lambda's SQS record: ${z.prettifyError(envelope.error)}`);
    }
    const body = bodyParser.safeParse(record.body);
    if (!body.success) throw new MalformedMessageError(z.prettifyError(body.error));
    return body.data;
  };
  const handleRecord = async (record: SQSRecord): Promise<void> => {
    logger.resetKeys();
    logger.appendKeys({
      messageId: record.messageId,
      receiveCount: record.attributes?.ApproximateReceiveCount,
    });
    await withLogContext(async () => {
      try {
        await processMessage(parseMessage(record), record);
      } catch (error) {
        if (error instanceof MalformedMessageError) {
          logger.error('malformed message: every delivery will fail, then the dead-letter queue keeps it', {
            issues: error.issues,
            bodyChars: typeof record.body === 'string' ? record.body.length : undefined,
          });
        } else {
          logger.error('message failed; it will be retried', { error });
        }
        throw error;
      }
    });
  };
  return (event, context) => {
    const batchOptions = { throwOnFullBatchFailure: false, ...(context && { context }) };
    // A processor per invocation: outside Lambda's InvokeStore its state lives on the instance,
    // and the local platform may run invocations of one function concurrently in one process.
    if (options.fifo) {
      return processPartialResponse(event, handleRecord, new SqsFifoPartialProcessorAsync(), batchOptions);
    }
    return processPartialResponse(event, handleRecord, new BatchProcessor(EventType.SQS), {
      ...batchOptions,
      processInParallel: false,
    });
  };
}

/** True on the last delivery before the queue moves the message to its dead-letter queue. */
export const isFinalAttempt = (record: SQSRecord, maxReceiveCount: number) =>
  Number(record.attributes.ApproximateReceiveCount) >= maxReceiveCount;

/** The message S3 sends once when a bucket's notification configuration is put: nothing to ingest. */
export const S3TestEventSchema = z.object({
  Service: z.literal('Amazon S3'),
  Event: z.literal('s3:TestEvent'),
  Bucket: z.string(),
});

const S3RecordSchema = S3Schema.shape.Records.element.extend({
  // S3 reports the uploader's address, IPv6 for dual-stack clients, which Powertools' schema
  // (IPv4 or `s3.amazonaws.com`) rejects; nothing here reads it, so any string will do.
  requestParameters: z.object({ sourceIPAddress: z.string() }),
});

/**
 * The body of an S3 → SQS event notification (Powertools' S3Schema), or S3's test event. Object
 * keys in it are URL-encoded with `+` for spaces: see `decodeS3EventKey`.
 */
export const S3NotificationSchema = z.union([
  S3TestEventSchema,
  S3Schema.extend({ Records: z.array(S3RecordSchema).min(1) }),
]);
export type S3Notification = z.output<typeof S3NotificationSchema>;

/** S3 event keys arrive URL-encoded, with `+` for spaces. */
export const decodeS3EventKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));
