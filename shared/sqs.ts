import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, withLogContext } from './logging.ts';

/**
 * An SQS-triggered handler with partial batch failures: each record is processed on its own, and
 * only the failed ones are returned for redelivery. In a FIFO batch, once a record fails every
 * later one is reported failed too (unprocessed), so a group's order is kept.
 */
export function sqsHandler(
  processRecord: (record: SQSRecord) => Promise<void>,
  options: { fifo?: boolean } = {},
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return async (event) => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      if (options.fifo && batchItemFailures.length > 0) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        continue;
      }
      logger.resetKeys();
      logger.appendKeys({
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
      });
      try {
        await withLogContext(() => processRecord(record));
      } catch (error) {
        logger.error('message failed; it will be retried', { error });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  };
}

/** True on the last delivery before the queue moves the message to its dead-letter queue. */
export const isFinalAttempt = (record: SQSRecord, maxReceiveCount: number) =>
  Number(record.attributes.ApproximateReceiveCount) >= maxReceiveCount;
