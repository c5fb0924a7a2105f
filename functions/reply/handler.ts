import { createDynamoChannelRepository } from '../../shared/adapters/dynamodb/channels.ts';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoReplyLedger } from '../../shared/adapters/dynamodb/reply-ledger.ts';
import { type ReplyJob, ReplyJobSchema } from '../../shared/channels/reply-job.ts';
import { logger } from '../../shared/logging.ts';
import { once } from '../../shared/memo.ts';
import { countMetric } from '../../shared/metrics.ts';
import { queues } from '../../shared/resources.ts';
import { isFinalAttempt, sqsHandler } from '../../shared/sqs.ts';
import { answerChannelMessage, type ReplyDeps } from '../../shared/usecases/reply.ts';
import { createChannelClientsFromEnv, lazySecretBox } from '../../shared/wiring/channels.ts';
import { createChatDeps } from '../../shared/wiring/chat-deps.ts';
import { readEnv, required } from '../../shared/wiring/env.ts';

const deps = once((): ReplyDeps => {
  const env = readEnv({ TENANTS_TABLE: required, USAGE_TABLE: required });
  const db = createDocumentClient();
  return {
    ...createChatDeps(db),
    channels: createDynamoChannelRepository(db, env.TENANTS_TABLE),
    secretBox: lazySecretBox(),
    ledger: createDynamoReplyLedger(db, env.USAGE_TABLE),
    clients: createChannelClientsFromEnv(),
    count: countMetric,
  };
});

// FIFO: a user's messages are answered one at a time, in order; after a failed record, the rest
// of the batch is handed back unprocessed. A malformed job fails every delivery and, retried to
// the limit, lands in the dead-letter queue.
export const handler = sqsHandler(
  ReplyJobSchema,
  async (parsed, record) => {
    const job = parsed as ReplyJob;
    logger.appendKeys({ tenantId: job.tenantId, botId: job.botId, requestId: job.requestId });
    const outcome = await answerChannelMessage(deps(), job, {
      finalAttempt: isFinalAttempt(record, queues.reply.maxReceiveCount),
    });
    logger.debug('channel message handled', { outcome });
  },
  { fifo: queues.reply.fifo },
);
