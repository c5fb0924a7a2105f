import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { EmbedMessageSchema } from '../../shared/ingestion/messages.ts';
import { once } from '../../shared/memo.ts';
import { recordMetrics } from '../../shared/metrics.ts';
import { queues } from '../../shared/resources.ts';
import { isFinalAttempt, sqsHandler } from '../../shared/sqs.ts';
import type { EmbedDeps } from '../../shared/usecases/deps.ts';
import { applyEmbedMessage } from '../../shared/usecases/embed.ts';
import { functionClock } from '../../shared/wiring/clock.ts';
import { readEnv, required } from '../../shared/wiring/env.ts';
import { createEmbedderFromEnv, createVectorIndexFromEnv } from '../../shared/wiring/knowledge.ts';

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

// A malformed message fails every delivery and, retried to the limit, lands in the dead-letter queue.
export const handler = sqsHandler(EmbedMessageSchema, async (message, record) => {
  await applyEmbedMessage(await deps(), message, isFinalAttempt(record, queues.embed.maxReceiveCount));
});
