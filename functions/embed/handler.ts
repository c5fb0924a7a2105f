import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { functionClock } from '../../shared/config/clock.ts';
import { readEnv, required } from '../../shared/config/env.ts';
import { createEmbedderFromEnv, createVectorIndexFromEnv } from '../../shared/config/knowledge.ts';
import { EmbedMessageSchema } from '../../shared/ingestion/messages.ts';
import { once } from '../../shared/memo.ts';
import { recordMetrics } from '../../shared/metrics.ts';
import { queues } from '../../shared/resources.ts';
import { isFinalAttempt, sqsHandler } from '../../shared/sqs.ts';
import { applyEmbedMessage, type EmbedDeps } from '../../shared/usecases/embed.ts';

const deps = once(async (): Promise<EmbedDeps> => {
  const env = readEnv({ TENANTS_TABLE: required, USAGE_TABLE: required });
  const db = createDocumentClient();
  const embedder = await createEmbedderFromEnv();
  return {
    repos: createDynamoRepositories(db, env.TENANTS_TABLE),
    usage: createDynamoUsageRepository(db, env.USAGE_TABLE),
    clock: functionClock,
    embedder,
    index: await createVectorIndexFromEnv(embedder),
    metrics: recordMetrics,
  };
});

export const handler = sqsHandler(async (record) => {
  // A malformed message throws here and, retried to the limit, lands in the dead-letter queue.
  const message = EmbedMessageSchema.parse(JSON.parse(record.body));
  await applyEmbedMessage(await deps(), message, isFinalAttempt(record, queues.embed.maxReceiveCount));
});
