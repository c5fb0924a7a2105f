import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageQueue } from '../../ports/queue.ts';

const SQS_BATCH = 10;
const SQS_MAX_BATCH_BYTES = 256 * 1024;

/** Sends JSON messages in batches of up to ten (and 256 KiB), retrying entries SQS reports failed. */
export function createSqsQueue<T>(client: SQSClient, queueUrl: string): MessageQueue<T> {
  return {
    async send(messages) {
      const bodies = messages.map((m) => JSON.stringify(m));
      let batch: string[] = [];
      let bytes = 0;
      const flush = async () => {
        let entries = batch.map((body, i) => ({ Id: String(i), MessageBody: body }));
        for (let attempt = 0; entries.length > 0; attempt++) {
          if (attempt > 4) throw new Error(`SQS refused ${entries.length} messages after retries`);
          if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
          const result = await client.send(
            new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
          );
          const failed = new Set((result.Failed ?? []).map((f) => f.Id));
          const senderFault = (result.Failed ?? []).find((f) => f.SenderFault);
          if (senderFault)
            throw new Error(`SQS rejected a message: ${senderFault.Code} ${senderFault.Message}`);
          entries = entries.filter((e) => failed.has(e.Id));
        }
        batch = [];
        bytes = 0;
      };
      for (const body of bodies) {
        const size = Buffer.byteLength(body);
        if (batch.length === SQS_BATCH || (batch.length > 0 && bytes + size > SQS_MAX_BATCH_BYTES))
          await flush();
        batch.push(body);
        bytes += size;
      }
      if (batch.length > 0) await flush();
    },
  };
}
