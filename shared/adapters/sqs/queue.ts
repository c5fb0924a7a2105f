import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { FifoQueue, MessageQueue } from '../../ports/queue.ts';

const SQS_BATCH = 10;
const SQS_MAX_BATCH_BYTES = 256 * 1024;

interface Outgoing {
  MessageBody: string;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
}

/** Sends in batches of up to ten (and 256 KiB), in order, retrying entries SQS reports failed. */
async function sendBatches(client: SQSClient, queueUrl: string, messages: readonly Outgoing[]) {
  let batch: Outgoing[] = [];
  let bytes = 0;
  const flush = async () => {
    let entries = batch.map((message, i) => ({ Id: String(i), ...message }));
    for (let attempt = 0; entries.length > 0; attempt++) {
      if (attempt > 4) throw new Error(`SQS refused ${entries.length} messages after retries`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      const result = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      const failed = new Set((result.Failed ?? []).map((f) => f.Id));
      const senderFault = (result.Failed ?? []).find((f) => f.SenderFault);
      if (senderFault) throw new Error(`SQS rejected a message: ${senderFault.Code} ${senderFault.Message}`);
      entries = entries.filter((e) => failed.has(e.Id));
    }
    batch = [];
    bytes = 0;
  };
  for (const message of messages) {
    const size = Buffer.byteLength(message.MessageBody);
    if (batch.length === SQS_BATCH || (batch.length > 0 && bytes + size > SQS_MAX_BATCH_BYTES)) await flush();
    batch.push(message);
    bytes += size;
  }
  if (batch.length > 0) await flush();
}

/** A standard queue of JSON messages. */
export function createSqsQueue<T>(client: SQSClient, queueUrl: string): MessageQueue<T> {
  return {
    send: (messages) =>
      sendBatches(
        client,
        queueUrl,
        messages.map((m) => ({ MessageBody: JSON.stringify(m) })),
      ),
  };
}

/** A FIFO queue of JSON messages. */
export function createSqsFifoQueue<T>(client: SQSClient, queueUrl: string): FifoQueue<T> {
  return {
    send: (messages) =>
      sendBatches(
        client,
        queueUrl,
        messages.map((m) => ({
          MessageBody: JSON.stringify(m.body),
          MessageGroupId: m.groupId,
          MessageDeduplicationId: m.deduplicationId,
        })),
      ),
  };
}
